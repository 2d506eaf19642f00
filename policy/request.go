package policy

import "unicode/utf8"

// maxPathLen bounds the work one request can cause in the matcher; canonical paths of the
// applications behind the gate are far shorter.
const maxPathLen = 8 << 10

// pathChars are the bytes a canonical path holds as they are: RFC 3986 pchar and "/", minus ';'
// (path parameters, which servers interpret differently) and '%' (checked separately).
const pathChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@/"

// neverEncoded are the bytes a canonical path never holds percent-encoded: the RFC 3986
// unreserved characters, which canonicalization decodes, and the delimiters whose encoded form
// servers decode differently ('/', '\\', '%', ';', '?', '#'), which it refuses.
const neverEncoded = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/\\%;?#"

// tokenChars are the RFC 9110 tchar bytes a method is made of.
const tokenChars = "!#$%&'*+-.^_`|~ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// byteSet is a set of bytes for checks on every byte of every request.
type byteSet [256]bool

func newByteSet(chars string) *byteSet {
	var s byteSet
	for i := 0; i < len(chars); i++ {
		s[chars[i]] = true
	}
	return &s
}

var (
	isPathChar     = newByteSet(pathChars)
	isNeverEncoded = newByteSet(neverEncoded)
	isTokenChar    = newByteSet(tokenChars)
)

// validMethod reports whether m is an RFC 9110 token. Case is not checked here: a lower-case
// method is valid HTTP and simply matches no policy.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !isTokenChar[m[i]] {
			return false
		}
	}
	return true
}

// canonicalPath reports whether p has the form the proxy's canonicalizer produces: absolute,
// ASCII pchars only, no ';', no '?' or '#' (so never a query), no empty or dot segments except
// a trailing slash, and percent-encodings only of bytes that must stay encoded: never one of
// neverEncoded or a control character, and only as valid UTF-8.
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' || len(p) > maxPathLen {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if !canonicalSegment(p[start:i], i == len(p)) {
			return false
		}
		start = i + 1
	}
	return true
}

func canonicalSegment(seg string, last bool) bool {
	switch seg {
	case "":
		// Only a trailing slash (or the root path) leaves an empty segment; "//" never survives
		// canonicalization.
		return last
	case ".", "..":
		return false
	}
	// The decoded bytes must be valid UTF-8. They are checked as they are decoded, a rune at a
	// time, rather than decoded into a new string: a path with escapes is decided without
	// allocating for it, apart from its match form (see matchForm).
	var buf [utf8.UTFMax]byte
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c != '%' {
			if !isPathChar[c] {
				return false
			}
		} else {
			b, ok := unhex2(seg, i+1)
			if !ok || b < 0x20 || b == 0x7f || isNeverEncoded[b] {
				return false
			}
			c = b
			i += 2
		}
		if n == 0 && c < utf8.RuneSelf {
			continue
		}
		if n == len(buf) {
			return false
		}
		buf[n] = c
		n++
		// A rune starts with a byte of 0x80 or above here, so a one-byte decode is invalid.
		if utf8.FullRune(buf[:n]) {
			if _, size := utf8.DecodeRune(buf[:n]); size != n || size == 1 {
				return false
			}
			n = 0
		}
	}
	return n == 0
}

// unhex2 decodes the two hex digits at s[i:i+2].
func unhex2(s string, i int) (byte, bool) {
	if i+2 > len(s) {
		return 0, false
	}
	hi, ok1 := unhex(s[i])
	lo, ok2 := unhex(s[i+1])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
