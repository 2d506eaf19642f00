package audit

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// genericPrepared is the reference: the record through encoding/json and back, re-encoded
// with sorted keys.
func genericPrepared(t testing.TB, r Record) *prepared {
	t.Helper()
	obj, err := recordObject(r)
	if err != nil {
		t.Fatal(err)
	}
	p, err := prepare(obj)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkSameEncoding fails unless the direct encoder writes r exactly as the generic route
// does, and the linked line passes Verify's own parsing.
func checkSameEncoding(t testing.TB, r Record) {
	t.Helper()
	fast, err := prepareRecord(&r)
	if err != nil {
		t.Fatal(err)
	}
	want := genericPrepared(t, r)
	if !bytes.Equal(fast.before, want.before) || !bytes.Equal(fast.after, want.after) {
		t.Fatalf("direct encoding differs from encoding/json's\n direct:  %s | %s\n generic: %s | %s",
			fast.before, fast.after, want.before, want.after)
	}
	head := chainHead{ID: "chain-1", Seq: 41, Hash: "ab"}
	line, next := fast.link(head)
	if line[len(line)-1] != '\n' {
		t.Fatalf("line does not end in a newline: %q", line)
	}
	l, err := parseLinked(line[:len(line)-1])
	if err != nil {
		t.Fatalf("linked line does not verify: %v\n%s", err, line)
	}
	if l.chain.Seq != 42 || l.chain.Hash != next.Hash || l.chain.PrevHash != "ab" {
		t.Fatalf("chain fields %+v, want seq 42 prev ab hash %s", l.chain, next.Hash)
	}
}

// Strings that encoding/json escapes, replaces or passes through.
var awkward = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\r",
	"\x00\x01\x1f\x7f", "\b\f", "caf\u00e9 \u4e16\u754c \U0001F600", "\u2028\u2029",
	"bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate", "ends in half \xe2\x82",
}

func TestDirectEncodingMatchesEncodingJSON(t *testing.T) {
	full := testRecord(7)
	full.Event.Reason = "no_matching_policy"
	full.Event.Type = EventTypeDenied
	full.Event.Duration = 1234567
	full.HTTP.Response = &HTTPResponse{StatusCode: 403}
	full.Upstream = &Upstream{StatusCode: 502, Duration: 99}
	full.UserAgent = &Agent{Original: "Mozilla/5.0"}
	full.Session = &Session{ID: "s"}
	full.Source = &Source{IP: "192.0.2.1"}
	full.URL = &URL{Path: "/payments/1/refund"}
	full.Policy = &Policy{ID: "p", Version: "v1", Effect: "deny"}
	full.User = &User{ID: "k", Name: "N", Email: "e@x", Roles: []string{"a", "b"}, Issuer: "https://i", Subject: "s"}

	cases := map[string]Record{
		"full":    full,
		"minimal": {Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Event: Event{ID: "x", Kind: "event", Action: "startup"}},
		"empty parts": {Timestamp: time.Unix(0, 1).UTC(), HTTP: &HTTP{}, Source: &Source{}, Session: &Session{},
			URL: &URL{}, User: &User{Roles: []string{}}, UserAgent: &Agent{}, Policy: &Policy{}, Upstream: &Upstream{}},
		"offset zone": {Timestamp: time.Date(2026, 6, 1, 12, 0, 0, 500, time.FixedZone("x", -7*3600-1800))},
		// The generic route handles these; they must come out the same through prepareRecord.
		"admin change": {Event: Event{Action: EventAdminChange}, Change: &Change{Action: "user.roles", Before: []string{"a"}, After: map[string]any{"z": 1, "a": "<>"}}},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) { checkSameEncoding(t, r) })
	}
	for _, s := range awkward {
		r := full
		u := *full.User
		u.Name, u.Roles = s, []string{s, "x" + s}
		r.User, r.UserAgent, r.URL = &u, &Agent{Original: s}, &URL{Path: s}
		r.Event.Reason = s
		t.Run("string "+s, func(t *testing.T) { checkSameEncoding(t, r) })
	}
}

// TestDirectEncodingRandomRecords compares the encoders on random records whose strings are
// random bytes, so escaping is exercised beyond the hand-picked cases.
func TestDirectEncodingRandomRecords(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		if rng.IntN(4) == 0 {
			return ""
		}
		b := make([]byte, rng.IntN(12))
		for i := range b {
			switch rng.IntN(3) {
			case 0:
				b[i] = byte(rng.IntN(0x80))
			case 1:
				b[i] = byte(0x80 + rng.IntN(0x80))
			default:
				b[i] = "azAZ09\"\\<>&"[rng.IntN(11)]
			}
		}
		return string(b)
	}
	for range 3000 {
		r := Record{
			Timestamp: time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).UTC(),
			Event: Event{ID: str(), Kind: str(), Category: str(), Type: str(), Action: str(), Outcome: str(),
				Reason: str(), Duration: rng.Int64N(1<<40) - 1<<39},
		}
		if rng.IntN(2) == 0 {
			r.User = &User{ID: str(), Name: str(), Email: str(), Issuer: str(), Subject: str()}
			for range rng.IntN(3) {
				r.User.Roles = append(r.User.Roles, str())
			}
		}
		if rng.IntN(2) == 0 {
			r.HTTP = &HTTP{Request: HTTPRequest{ID: str(), Method: str()}}
			if rng.IntN(2) == 0 {
				r.HTTP.Response = &HTTPResponse{StatusCode: rng.IntN(600)}
			}
		}
		if rng.IntN(2) == 0 {
			r.Session, r.Source, r.URL, r.UserAgent = &Session{ID: str()}, &Source{IP: str()}, &URL{Path: str()}, &Agent{Original: str()}
		}
		if rng.IntN(2) == 0 {
			r.Policy = &Policy{ID: str(), Version: str(), Effect: str()}
			r.Upstream = &Upstream{StatusCode: rng.IntN(600), Duration: rng.Int64N(1 << 30)}
		}
		checkSameEncoding(t, r)
	}
}

func FuzzDirectEncoding(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		r := testRecord(1)
		r.Timestamp = time.Unix(0, n).UTC()
		r.Event.Reason, r.Event.Duration = a, n
		r.User = &User{Name: a, Email: b, Roles: []string{a, b}}
		r.URL, r.UserAgent = &URL{Path: b}, &Agent{Original: a + b}
		checkSameEncoding(t, r)
	})
}

func BenchmarkPrepareRecord(b *testing.B) {
	r := testRecord(1)
	r.Policy = &Policy{ID: "billing.read", Version: "3f2a", Effect: "allow"}
	r.Upstream = &Upstream{StatusCode: 200, Duration: 18000}
	r.UserAgent = &Agent{Original: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}
	head := chainHead{ID: "c", Seq: 1, Hash: "00"}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, _ := prepareRecord(&r)
			p.link(head)
		}
	})
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p := genericPrepared(b, r)
			p.link(head)
		}
	})
}

// TestWriterLinesAreTheRecords checks the plain Writer, which shares the direct encoder, against
// encoding/json: same members, same values, one line each.
func TestWriterLinesAreTheRecords(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, nil)
	recs := []Record{testRecord(1), {Event: Event{ID: "e", Action: EventStartup}}}
	for _, s := range awkward {
		r := testRecord(2)
		r.User.Name, r.Event.Reason = s, s
		recs = append(recs, r)
	}
	for i := range recs {
		// Stamped here, so that the Writer adds nothing the reference lacks.
		recs[i].Timestamp, recs[i].Event.Kind = time.Unix(1700000000, int64(i)).UTC(), "event"
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != len(recs) {
		t.Fatalf("%d lines for %d records", len(lines), len(recs))
	}
	for i, r := range recs {
		got, err := decodeObject(lines[i])
		if err != nil {
			t.Fatalf("line %d: %v\n%s", i, err, lines[i])
		}
		want, _ := recordObject(r)
		if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
			t.Errorf("line %d:\n got %s\nwant %s", i, g, w)
		}
	}
}
