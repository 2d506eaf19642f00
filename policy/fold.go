package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Canonical paths keep the characters of foldChars in the spelling they arrived in, since
// RFC 3986 lets a server tell "/a@b" from "/a%40b"; but nearly every application (Go's
// net/http included) decodes both to the same path. If rules told the two apart, a deny rule
// or a condition naming one of these characters would be dodged by escaping it. So rules are
// matched against the match form of a path, of which every spelling of the same decoded path
// has exactly one: escapes of these characters decoded, every other escape in upper-case hex.
// What is forwarded is still the canonical path, as it arrived.

// foldChars are the bytes a canonical path may hold either raw or percent-encoded: the
// RFC 3986 sub-delims except ';' (which is refused), and ':' '@'.
const foldChars = "!$&'()*+,=:@"

var isFoldChar = newByteSet(foldChars)

// matchForm returns the match form of s: every well-formed escape of a byte in foldChars
// decoded (in either hex case), every other well-formed escape in upper-case hex, and anything
// else, malformed escapes included, as it is. It returns s itself, without allocating, when
// nothing changes, which is always the case for a path without '%'; otherwise it allocates
// once. The result never holds a '%' that s did not, so matchForm(matchForm(s)) ==
// matchForm(s).
func matchForm(s string) string {
	first := strings.IndexByte(s, '%')
	for first >= 0 && !escapeFolds(s, first) {
		next := strings.IndexByte(s[first+1:], '%')
		if next < 0 {
			return s
		}
		first += 1 + next
	}
	if first < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:first])
	for i := first; i < len(s); i++ {
		v, ok := unhex2(s, i+1)
		switch {
		case s[i] != '%' || !ok:
			b.WriteByte(s[i])
			continue
		case isFoldChar[v]:
			b.WriteByte(v)
		default:
			b.WriteByte('%')
			b.WriteByte(upperHex(s[i+1]))
			b.WriteByte(upperHex(s[i+2]))
		}
		i += 2
	}
	return b.String()
}

// escapeFolds reports whether the '%' at s[i] starts a well-formed escape that matchForm
// rewrites.
func escapeFolds(s string, i int) bool {
	v, ok := unhex2(s, i+1)
	return ok && (isFoldChar[v] || isLowerHex(s[i+1]) || isLowerHex(s[i+2]))
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

func upperHex(c byte) byte {
	if isLowerHex(c) {
		return c - 'a' + 'A'
	}
	return c
}

// foldTemplate is matchForm applied to the literal text of a ladon template, the parts that
// ladon and the index match literally; expressions are left alone (see expressionEscape). A
// template that does not split is returned as it is, for compileTemplate to refuse.
func foldTemplate(tpl string) string {
	parts, err := splitTemplate(tpl)
	if err != nil {
		return tpl
	}
	var b strings.Builder
	b.Grow(len(tpl))
	for _, p := range parts {
		if p.pattern {
			b.WriteString("<" + p.text + ">")
		} else {
			b.WriteString(matchForm(p.text))
		}
	}
	return b.String()
}

// expressionEscape finds, in the expressions of a ladon template, a literal escape that no path
// in match form holds, so that the expression could never match it: an escape of a byte in
// foldChars, or one written in lower-case hex. It returns a message saying what to write
// instead, or "". Expressions cannot be folded as literal text is: "%2B" would become the
// quantifier "+", and inside a class "[%40]" is three characters, not one.
func expressionEscape(tpl string) string {
	parts, err := splitTemplate(tpl)
	if err != nil {
		return ""
	}
	for _, p := range parts {
		if !p.pattern {
			continue
		}
		for i := strings.IndexByte(p.text, '%'); i >= 0; {
			if escapeFolds(p.text, i) {
				esc := p.text[i : i+3]
				fix := "%" + string(upperHex(esc[1])) + string(upperHex(esc[2]))
				if v, _ := unhex2(esc, 1); isFoldChar[v] {
					fix = regexp.QuoteMeta(string(v))
				}
				return fmt.Sprintf("the expression <%s> holds %q, which never matches: paths are matched with escapes of %s decoded and other escapes in upper-case hex, so write %q instead", p.text, esc, spaced(foldChars), fix)
			}
			next := strings.IndexByte(p.text[i+1:], '%')
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
	return ""
}

// spaced writes the bytes of s apart, as messages list characters.
func spaced(s string) string {
	return strings.Join(strings.Split(s, ""), " ")
}
