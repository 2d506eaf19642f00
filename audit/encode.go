package audit

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// prepareRecord puts r in canonical form for linking. Writing a record is on every request's
// path, so the common records are encoded straight from the struct, byte for byte as
// canonical(recordObject(r)) would write them (keys sorted at every level, omitempty fields
// left out, strings escaped as encoding/json escapes them after a round trip); the fuzz and
// property tests hold the two to that. Records with free-form parts (an admin change's
// before/after, a checkpoint) take the generic route.
func prepareRecord(r *Record) (*prepared, error) {
	p, err := encodeRecord(r, nil)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// encodeRecord is prepareRecord encoding into buf, which it may grow: the result holds the
// buffer as backing, for encodeBuffers.
func encodeRecord(r *Record, buf []byte) (prepared, error) {
	if r.Change != nil || r.Checkpoint != nil || r.Timestamp.Year() < 0 || r.Timestamp.Year() > 9999 {
		obj, err := recordObject(*r)
		if err != nil {
			return prepared{}, err
		}
		p, err := prepare(obj)
		if err != nil {
			return prepared{}, err
		}
		return *p, nil
	}
	// One buffer holds both halves; before is kept apart from after by its length.
	var e objEncoder
	e.buf = buf[:0]
	if e.buf == nil {
		e.buf = make([]byte, 0, 1024) // an access record with a browser's user agent is 700-900 bytes
	}

	// Members sorted by key: "@timestamp" "event" "http" "session" "source", then the chain
	// field's place, then "tollgate.policy" "tollgate.upstream" "url" "user" "user_agent".
	e.key("@timestamp")
	e.buf = append(e.buf, '"')
	e.buf = r.Timestamp.AppendFormat(e.buf, time.RFC3339Nano)
	e.buf = append(e.buf, '"')
	e.event(&r.Event)
	if h := r.HTTP; h != nil {
		e.key("http")
		e.open()
		e.key("request")
		e.open()
		e.str("id", h.Request.ID)
		e.str("method", h.Request.Method)
		e.close()
		if h.Response != nil {
			e.key("response")
			e.open()
			e.key("status_code")
			e.buf = strconv.AppendInt(e.buf, int64(h.Response.StatusCode), 10)
			e.close()
		}
		e.close()
	}
	if s := r.Session; s != nil {
		e.key("session")
		e.open()
		e.strAlways("id", s.ID)
		e.close()
	}
	if s := r.Source; s != nil {
		e.key("source")
		e.open()
		e.str("ip", s.IP)
		e.close()
	}
	split := len(e.buf)
	e.first = true
	if p := r.Policy; p != nil {
		e.key("tollgate.policy")
		e.open()
		e.strAlways("effect", p.Effect)
		e.str("id", p.ID)
		e.str("version", p.Version)
		e.close()
	}
	if u := r.Upstream; u != nil {
		e.key("tollgate.upstream")
		e.open()
		e.int("duration", u.Duration)
		e.int("status_code", int64(u.StatusCode))
		e.close()
	}
	if u := r.URL; u != nil {
		e.key("url")
		e.open()
		e.strAlways("path", u.Path)
		e.close()
	}
	if u := r.User; u != nil {
		e.key("user")
		e.open()
		e.str("email", u.Email)
		e.str("id", u.ID)
		e.str("name", u.Name)
		if len(u.Roles) > 0 {
			e.key("roles")
			e.buf = append(e.buf, '[')
			for i, role := range u.Roles {
				if i > 0 {
					e.buf = append(e.buf, ',')
				}
				e.buf = appendString(e.buf, role)
			}
			e.buf = append(e.buf, ']')
		}
		e.str("tollgate.issuer", u.Issuer)
		e.str("tollgate.subject", u.Subject)
		e.close()
	}
	if a := r.UserAgent; a != nil {
		e.key("user_agent")
		e.open()
		e.str("original", a.Original)
		e.close()
	}
	return prepared{before: e.buf[:split:split], after: e.buf[split:], backing: e.buf}, nil
}

// encodeBuffers recycles the buffers records are encoded in: Write copies the finished line
// out of one before it returns, so every request need not allocate its own.
var encodeBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getEncodeBuffer() *[]byte { return encodeBuffers.Get().(*[]byte) }

// putEncodeBuffer returns the buffer p was encoded in, unless it grew very large.
func putEncodeBuffer(b *[]byte, p prepared) {
	if p.backing != nil && cap(p.backing) <= 64<<10 {
		*b = p.backing[:0]
	}
	encodeBuffers.Put(b)
}

func (e *objEncoder) event(ev *Event) {
	e.key("event")
	e.open()
	e.strAlways("action", ev.Action)
	e.strAlways("category", ev.Category)
	e.int("duration", ev.Duration)
	e.strAlways("id", ev.ID)
	e.strAlways("kind", ev.Kind)
	e.strAlways("outcome", ev.Outcome)
	e.str("reason", ev.Reason)
	e.str("type", ev.Type)
	e.close()
}

// objEncoder appends object members, putting commas between them.
type objEncoder struct {
	buf   []byte
	first bool // the next member opens an object (or a half of the record)
}

func (e *objEncoder) key(k string) {
	if !e.first && len(e.buf) > 0 {
		e.buf = append(e.buf, ',')
	}
	e.first = false
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, k...)
	e.buf = append(e.buf, '"', ':')
}

func (e *objEncoder) open() {
	e.buf = append(e.buf, '{')
	e.first = true
}

func (e *objEncoder) close() {
	e.buf = append(e.buf, '}')
	e.first = false
}

// str writes an omitempty string member.
func (e *objEncoder) str(k, v string) {
	if v != "" {
		e.strAlways(k, v)
	}
}

func (e *objEncoder) strAlways(k, v string) {
	e.key(k)
	e.buf = appendString(e.buf, v)
}

// int writes an omitempty integer member.
func (e *objEncoder) int(k string, v int64) {
	if v != 0 {
		e.key(k)
		e.buf = strconv.AppendInt(e.buf, v, 10)
	}
}

// appendString appends s as a JSON string the way canonical writes it: encoding/json's
// escaping without HTML escapes. Invalid UTF-8 comes out as U+FFFD itself, not "\ufffd",
// because the canonical form is a re-encoding of a decoded record, and decoding turned the
// first encoding's "\ufffd" into the character.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case r == '\u2028' || r == '\u2029':
			// Escaped by encoding/json so the output is safe inside JavaScript.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
