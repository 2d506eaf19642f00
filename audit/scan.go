package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// lineScanner walks a compact JSON line (the spool's canonical form: no whitespace) just far
// enough to pick out a few members. Any surprise sets bad and stops the scan.
type lineScanner struct {
	b   []byte
	i   int
	bad bool
}

func (s *lineScanner) fail() { s.bad, s.i = true, len(s.b) }

func (s *lineScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *lineScanner) expect(c byte) {
	if s.peek() != c {
		s.fail()
		return
	}
	s.i++
}

// object calls member for each key of the object at the cursor, with the cursor on its value;
// member must consume the value.
func (s *lineScanner) object(member func(key []byte)) {
	s.expect('{')
	if s.peek() == '}' {
		s.i++
		return
	}
	for !s.bad {
		key := s.rawString()
		s.expect(':')
		if s.bad {
			return
		}
		at := s.i
		member(key[1 : len(key)-1])
		if s.i == at {
			s.fail() // the value was not consumed
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.fail()
		}
	}
}

// rawString returns the bytes of the string at the cursor, quotes included.
func (s *lineScanner) rawString() []byte {
	start := s.i
	s.expect('"')
	for !s.bad {
		if s.i > len(s.b) {
			s.fail()
			break
		}
		j := bytes.IndexAny(s.b[s.i:], `"\`)
		if j < 0 {
			s.fail()
			break
		}
		s.i += j
		if s.b[s.i] == '"' {
			s.i++
			return s.b[start:s.i]
		}
		s.i += 2 // an escape: the byte after the backslash cannot end the string
	}
	return nil
}

func (s *lineScanner) str() string {
	raw := s.rawString()
	if s.bad {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		s.fail()
	}
	return v
}

func (s *lineScanner) uint() uint64 {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	n, err := strconv.ParseUint(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		s.fail()
	}
	return n
}

// skip moves past the value at the cursor.
func (s *lineScanner) skip() {
	switch c := s.peek(); {
	case c == '"':
		s.rawString()
	case c == '{':
		s.object(func([]byte) { s.skip() })
	case c == '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return
		}
		for !s.bad {
			s.skip()
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return
			default:
				s.fail()
			}
		}
	default:
		// A number, true, false or null: runs to the next delimiter.
		start := s.i
		for s.i < len(s.b) && s.b[s.i] != ',' && s.b[s.i] != '}' && s.b[s.i] != ']' {
			s.i++
		}
		if s.i == start {
			s.fail()
		}
	}
}
