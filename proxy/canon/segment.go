package canon

import (
	"unicode"
	"unicode/utf8"
)

// segmentScan checks the decoded bytes of one path segment as they are produced. The
// rules here are about what an upstream might do after decoding: resolve dot segments,
// trim names the way Windows does, normalise Unicode, or drop invisible characters.
type segmentScan struct {
	n           int  // decoded bytes so far
	first, last byte // first and last decoded byte
	onlyDots    bool // every byte so far is '.'
	hasDot      bool
	dotLike     bool // every byte so far is '.', ' ' or '+'
	prev        byte // previous decoded byte when it was ASCII, else 0
	// markBase reports whether a combining mark here would attach to a letter, digit or
	// non-ASCII rune. Upstreams that strip accents (NFD, then drop marks) would turn ".\u0301."
	// into "..", so marks on anything else are refused.
	markBase bool
	utf      [utf8.UTFMax]byte
	have     int // bytes of the current non-ASCII rune collected in utf
	need     int // its total length, 0 when none is pending
}

func (s *segmentScan) start() {
	*s = segmentScan{onlyDots: true, dotLike: true}
}

// next takes one decoded byte. Bytes of 0x80 and above only ever come from escapes, as
// raw ones are refused before this point.
func (s *segmentScan) next(c byte) error {
	if s.n == 0 {
		s.first = c
	}
	s.n++
	s.last = c
	if s.need > 0 {
		if c&0xc0 != 0x80 {
			return refuse("invalid UTF-8 in path")
		}
		s.utf[s.have] = c
		if s.have++; s.have < s.need {
			return nil
		}
		s.need = 0
		return s.rune()
	}
	if c < utf8.RuneSelf {
		return s.ascii(c)
	}
	s.onlyDots, s.dotLike = false, false
	// Lead bytes that can only start overlong forms (0xC0, 0xC1) or code points above
	// U+10FFFF (0xF5 and up), and stray continuation bytes, are refused here; the
	// remaining overlong and surrogate forms are left to utf8.DecodeRune.
	switch {
	case 0xc2 <= c && c <= 0xdf:
		s.need = 2
	case 0xe0 <= c && c <= 0xef:
		s.need = 3
	case 0xf0 <= c && c <= 0xf4:
		s.need = 4
	default:
		return refuse("invalid UTF-8 in path")
	}
	s.utf[0], s.have = c, 1
	return nil
}

func (s *segmentScan) ascii(c byte) error {
	if c != '.' {
		s.onlyDots = false
	} else {
		s.hasDot = true
	}
	if c != '.' && c != ' ' && c != '+' {
		s.dotLike = false
	}
	if c == '$' && s.prev == ':' {
		// NTFS alternate data streams: IIS serves "/web.config::$DATA" from
		// "/web.config", and "/admin:$I30:$INDEX_ALLOCATION" names the directory "/admin".
		return refuse("NTFS stream name in path")
	}
	s.prev = c
	s.markBase = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	return nil
}

func (s *segmentScan) rune() error {
	r, size := utf8.DecodeRune(s.utf[:s.have])
	if size != s.have {
		// Overlong forms ("%C0%AE" for "."), UTF-16 surrogates, or a rune cut short.
		return refuse("invalid UTF-8 in path")
	}
	s.prev = 0
	if reason := refusedRune(r, s.markBase); reason != "" {
		return refuse(reason)
	}
	if !unicode.Is(unicode.M, r) {
		s.markBase = true
	}
	return nil
}

// refusedRune names the reason a decoded non-ASCII rune is refused, or returns "".
func refusedRune(r rune, markBase bool) string {
	switch {
	case unicode.Is(unicode.Cf, r),
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r),
		unicode.Is(unicode.Variation_Selector, r):
		// Zero-width spaces and joiners, bidi overrides, BOM, soft hyphen, tags, Hangul
		// fillers: invisible, and silently dropped by many normalisers, so "ad\u200Bmin"
		// would become "admin" behind the gate.
		return "invisible character in path"
	case unicode.Is(unicode.Noncharacter_Code_Point, r):
		return "non-character in path"
	case unicode.Is(folding, r):
		// Fullwidth and small forms, dot leaders, division and fraction slashes, yen and
		// won signs (backslash in Japanese and Korean code pages), ideographic full stop.
		return "character that folds into a delimiter in path"
	case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S):
		// C1 controls, private use, non-ASCII spaces and separators, and code points not
		// assigned in the Unicode version Go knows: refused rather than guessed at.
		return "control, space or unassigned character in path"
	case !markBase && unicode.Is(unicode.M, r):
		return "combining mark without a letter in path"
	}
	return ""
}

func (s *segmentScan) finish() (segmentKind, error) {
	if s.need > 0 {
		return plain, refuse("invalid UTF-8 in path")
	}
	if s.onlyDots {
		switch s.n {
		case 1:
			return dot, nil
		case 2:
			return dotDot, nil
		}
		// Windows trims "..." to ".." or to nothing, depending on the API and version.
		return plain, refuse("path segment of only dots")
	}
	switch {
	case s.hasDot && s.dotLike:
		// ".. ", ". .", "..+": a dot segment once spaces are trimmed, or once an
		// upstream decodes "+" as a space.
		return plain, refuse("dot segment padded with spaces or plus signs")
	case s.last == '.':
		// Windows drops trailing dots from names: "admin." is "admin" to IIS and to
		// anything serving files from NTFS, but not to a rule written for "/admin".
		return plain, refuse("path segment ends with a dot")
	case s.first == ' ' || s.last == ' ':
		// Trimmed by Windows (trailing) and by many frameworks (both ends).
		return plain, refuse("path segment starts or ends with a space")
	}
	return plain, nil
}
