// Package canon turns an incoming request target into the one canonical form that the gate
// both authorizes and forwards, or refuses it.
//
// A gate is bypassed whenever its rule sees a different request than the upstream serves:
// "/admin" versus "/%61dmin", "/public/../admin", "/public%2F..%2Fadmin", "/admin;x=y",
// "/admin%00.css", "/adm%C0%AFin". canon closes that gap in two ways. What has one safe
// meaning is rewritten to a single spelling (unreserved escapes decoded, other escapes in
// upper-case hex, dot segments removed, repeated slashes merged). What servers disagree on
// is refused, so that no upstream can read it differently: encoded "/" "\" "%" ";" "?" "#",
// backslashes, controls, invalid or overlong UTF-8, runes that fold into delimiters, and
// ".." above the root.
//
// The package is pure: no I/O, no state, safe for concurrent use.
package canon

import "strings"

// Limits on what a request target may hold. They bound the work done per request and
// are far above what the billing application's routes need.
const (
	maxMethodBytes = 32
	maxPathBytes   = 8 << 10
	maxSegments    = 256
	maxQueryBytes  = 16 << 10
)

// Target is a request target in canonical form: what the policy sees is what the
// upstream receives.
type Target struct {
	// Method is an RFC 9110 token with its case preserved: methods are case-sensitive,
	// so "get" is a different (unknown) method from "GET".
	Method string
	// Path is the canonical escaped path. It always starts with "/". Reserved characters
	// keep the spelling they arrived in ("@" and "%40" both stay as they are, in upper-case
	// hex), since RFC 3986 lets an upstream tell them apart; both spellings have the same
	// Decoded form.
	Path string
	// RawQuery is the query as received, without "?". It is checked, never rewritten,
	// and it never takes part in authorization.
	RawQuery string
}

// Decoded returns Path with its percent-escapes decoded: the value for url.URL.Path when
// forwarding, with Path itself as url.URL.RawPath. Because canonical paths never hold an
// encoded "/" or "%", the decoding is unambiguous, and Go's url.URL.EscapedPath accepts
// Path as a valid encoding of it, so Path is what goes on the wire.
func (t Target) Decoded() string {
	return unescape(t.Path)
}

// Error reports why a request target was refused. Reason is a short phrase that is safe
// to show to the client: it never echoes the request.
type Error struct {
	Reason string
}

func (e *Error) Error() string {
	return "refused request target: " + e.Reason
}

func refuse(reason string) *Error {
	return &Error{Reason: reason}
}

// Request canonicalizes a request as received: method is r.Method and requestURI is
// r.RequestURI, the target exactly as it was on the wire. Only origin-form targets
// ("/path?query") are accepted. Every refusal is an *Error.
func Request(method, requestURI string) (Target, error) {
	if err := checkMethod(method); err != nil {
		return Target{}, err
	}
	if err := checkForm(requestURI); err != nil {
		return Target{}, err
	}
	// The first "?" ends the path. Splitting before anything is decoded is what keeps an
	// encoded "?" (refused in the path) or anything in the query from changing the path.
	rawPath, rawQuery, _ := strings.Cut(requestURI, "?")
	p, err := Path(rawPath)
	if err != nil {
		return Target{}, err
	}
	if err := checkQuery(rawQuery); err != nil {
		return Target{}, err
	}
	return Target{Method: method, Path: p, RawQuery: rawQuery}, nil
}

// checkMethod accepts an RFC 9110 method token. The case is kept: upper-casing would
// let "get" through a rule written for "GET" on an upstream that treats them apart.
func checkMethod(m string) error {
	if m == "" {
		return refuse("empty method")
	}
	if len(m) > maxMethodBytes {
		return refuse("method too long")
	}
	for i := 0; i < len(m); i++ {
		if !isTchar(m[i]) {
			return refuse("invalid character in method")
		}
	}
	return nil
}

// isTchar reports whether c is an RFC 9110 tchar.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// checkForm refuses every request-target form except origin-form. The gate is not a
// forward proxy: an absolute-form target names a host that the rules never looked at.
func checkForm(t string) error {
	switch {
	case t == "":
		return refuse("empty request target")
	case t[0] == '/':
		return nil
	case t[0] == '*':
		return refuse("asterisk-form request target")
	case isAuthority(t):
		return refuse("authority-form request target")
	case hasScheme(t):
		return refuse("absolute-form request target")
	default:
		return refuse("request target does not start with /")
	}
}

// isAuthority reports whether t looks like "host:port", as sent with CONNECT.
func isAuthority(t string) bool {
	i := strings.LastIndexByte(t, ':')
	if i <= 0 || i == len(t)-1 || strings.IndexByte(t, '/') >= 0 {
		return false
	}
	for _, c := range []byte(t[i+1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// hasScheme reports whether t starts with an RFC 3986 scheme and ":".
func hasScheme(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// checkQuery validates the query without rewriting it: the upstream receives it byte for
// byte. What is refused here cannot travel on a valid request line, or would let a
// server that splits differently read part of the query as something else.
func checkQuery(q string) error {
	if len(q) > maxQueryBytes {
		return refuse("query too long")
	}
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case c < 0x20 || c == 0x7f:
			return refuse("control character in query")
		case c >= 0x80:
			return refuse("raw non-ASCII byte in query")
		case c == ' ':
			return refuse("raw space in query")
		case c == '#':
			return refuse("fragment in query")
		case c == '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return refuse("malformed percent-encoding in query")
			}
			i += 2
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// unescape decodes every well-formed percent-escape of s. A malformed one (impossible in
// a canonical path) is left as it is rather than guessed at.
func unescape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)-2*n)
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}
