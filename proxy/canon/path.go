package canon

// Path canonicalizes an escaped path on its own, without a query: the part of a request
// target before "?". The result starts with "/", has no empty, "." or ".." segments, keeps
// a single trailing slash if the input had one (or ended in a dot segment), and is written
// the way Go's url.URL.EscapedPath accepts as the encoding of its decoded form. A "?" is
// refused, since here it could only be a query that the caller failed to split off.
func Path(escaped string) (string, error) {
	switch {
	case escaped == "":
		return "", refuse("empty path")
	case escaped[0] != '/':
		return "", refuse("path does not start with /")
	case len(escaped) > maxPathBytes:
		return "", refuse("path too long")
	}
	b := builder{in: escaped}
	segments := 0
	// trailing records whether the result ends with "/": the upstream may tell "/a/" from
	// "/a", and the policy must see exactly what is forwarded. RFC 3986 §5.2.4 also ends the
	// output with "/" after a final "." or "..".
	trailing := false
	for i := 0; i < len(escaped); {
		// Repeated slashes are merged: "//a" must not reach an upstream (or a redirect)
		// that reads it as a network-path reference, and "/a//b" must not slip past a
		// rule written for "/a/b".
		for i < len(escaped) && escaped[i] == '/' {
			i++
		}
		if i == len(escaped) {
			trailing = true
			break
		}
		end := i
		for end < len(escaped) && escaped[end] != '/' {
			end++
		}
		if segments++; segments > maxSegments {
			return "", refuse("too many path segments")
		}
		start := b.w
		b.writeByte('/')
		kind, err := b.segment(escaped[i:end])
		if err != nil {
			return "", err
		}
		switch kind {
		case dot:
			b.w = start
			trailing = true
		case dotDot:
			if start == 0 {
				// Clamping at the root, as many servers do, would turn an attempt to
				// reach outside the document root into an innocent-looking request.
				return "", refuse("path climbs above the root")
			}
			b.w = start - 1
			for b.at(b.w) != '/' {
				b.w--
			}
			trailing = true
		default:
			trailing = false
		}
		i = end
	}
	if trailing || b.w == 0 {
		b.writeByte('/')
	}
	if b.w > maxPathBytes {
		return "", refuse("path too long")
	}
	return b.String(), nil
}

// builder writes the canonical path. While the output is a prefix of the input it only
// advances a count, so an already-canonical path is returned without allocating.
type builder struct {
	in  string
	buf []byte // nil while the output equals in[:w]
	w   int
}

func (b *builder) writeByte(c byte) {
	if b.buf == nil {
		if b.w < len(b.in) && b.in[b.w] == c {
			b.w++
			return
		}
		b.buf = make([]byte, b.w, len(b.in)+16)
		copy(b.buf, b.in[:b.w])
	}
	b.buf = append(b.buf[:b.w], c)
	b.w++
}

func (b *builder) writeEscape(c byte) {
	const upperHex = "0123456789ABCDEF"
	b.writeByte('%')
	b.writeByte(upperHex[c>>4])
	b.writeByte(upperHex[c&0xf])
}

func (b *builder) at(i int) byte {
	if b.buf == nil {
		return b.in[i]
	}
	return b.buf[i]
}

func (b *builder) String() string {
	if b.buf == nil {
		return b.in[:b.w]
	}
	return string(b.buf[:b.w])
}

type segmentKind int

const (
	plain segmentKind = iota
	dot
	dotDot
)

// segment writes the canonical form of one non-empty raw segment and reports whether it
// is a dot segment. Every byte is classified twice: as written on the wire (raw or
// escaped) and as decoded, since an upstream may act on either.
func (b *builder) segment(raw string) (segmentKind, error) {
	var s segmentScan
	s.start()
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return plain, refuse("malformed percent-encoding in path")
			}
			v := unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
			if reason := refusedEscape(v); reason != "" {
				return plain, refuse(reason)
			}
			if isUnreserved(v) {
				// RFC 3986 §6.2.2.2: these mean the same escaped or not. Decoding them
				// is what turns "%2e%2E" into a ".." that dot removal then sees.
				b.writeByte(v)
			} else {
				b.writeEscape(v)
			}
			if err := s.next(v); err != nil {
				return plain, err
			}
			continue
		}
		switch rawClass(c) {
		case keep:
			b.writeByte(c)
		case encode:
			// Not allowed raw in a path by RFC 3986 ('"' '<' '>' '[' ']' '^' '`' '{' '|'
			// '}'), but harmless: written escaped, as Go itself would forward them.
			b.writeEscape(c)
		default:
			return plain, refuse(refusedRaw(c))
		}
		if err := s.next(c); err != nil {
			return plain, err
		}
	}
	return s.finish()
}

type byteClass int

const (
	refused byteClass = iota
	keep
	encode
)

// rawClass says what to do with byte c found unescaped in a path.
func rawClass(c byte) byteClass {
	switch {
	case isUnreserved(c):
		return keep
	}
	switch c {
	// RFC 3986 sub-delims except ';', and ':' '@': allowed raw in a segment and kept as
	// sent, because an upstream may give them a meaning their escaped forms lack.
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', '=', ':', '@':
		return keep
	case '"', '<', '>', '[', ']', '^', '`', '{', '|', '}':
		return encode
	}
	return refused
}

// refusedRaw names the reason a raw byte was refused.
func refusedRaw(c byte) string {
	switch {
	case c < 0x20 || c == 0x7f:
		return "control character in path"
	case c >= 0x80:
		return "raw non-ASCII byte in path"
	}
	switch c {
	case ' ':
		return "raw space in path"
	case '\\':
		return "backslash in path"
	case ';':
		// Tomcat, Jetty and Spring strip ";params" from a segment, so "/admin;x" or
		// "/..;/" is one path to the gate and another to them.
		return "semicolon in path"
	case '#':
		return "fragment in path"
	case '?':
		return "query marker in path"
	}
	return "invalid character in path"
}

// refusedEscape names the reason an escaped byte is refused, or returns "". Each of these
// is decoded by some servers and not by others, so no single canonical form is safe.
func refusedEscape(v byte) string {
	switch {
	case v < 0x20 || v == 0x7f:
		return "encoded control character in path"
	}
	switch v {
	case '/':
		return "encoded slash in path"
	case '\\':
		return "encoded backslash in path"
	case '%':
		// Refusing "%25" makes every double encoding ("%252e", "%252f") impossible.
		return "encoded percent sign in path"
	case ';':
		return "encoded semicolon in path"
	case '?':
		return "encoded question mark in path"
	case '#':
		return "encoded fragment marker in path"
	}
	return ""
}

func isUnreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~'
}
