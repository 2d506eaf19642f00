package audit

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// entryByDecoding is the reference for entryOf: encoding/json reading the same fields.
func entryByDecoding(line []byte) Entry {
	var h struct {
		Time  time.Time `json:"@timestamp"`
		Event struct {
			ID      string `json:"id"`
			Action  string `json:"action"`
			Outcome string `json:"outcome"`
		} `json:"event"`
		Chain struct {
			Seq uint64 `json:"seq"`
		} `json:"tollgate.chain"`
	}
	if json.Unmarshal(line, &h) != nil {
		return Entry{Line: line}
	}
	return Entry{Line: line, ID: h.Event.ID, Action: h.Event.Action, Outcome: h.Event.Outcome, Time: h.Time, Seq: h.Chain.Seq}
}

func sameEntry(a, b Entry) bool {
	return a.ID == b.ID && a.Action == b.Action && a.Outcome == b.Outcome && a.Time.Equal(b.Time) && a.Seq == b.Seq
}

func TestEntryOfReadsWhatDecodingReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	head := chainHead{ID: "chain", Seq: 99, Hash: "00"}
	records := []Record{testRecord(1)}
	for _, s := range awkward {
		r := testRecord(2)
		r.Event.ID, r.Event.Action, r.Event.Outcome, r.Event.Reason = s, s+`","id":"forged`, `\"`+s, `"event":{"id":"x"}`
		r.User = &User{Name: `"tollgate.chain":{"seq":7}`, Roles: []string{s, `}]`}}
		records = append(records, r)
	}
	for range 500 {
		r := testRecord(rng.IntN(1000))
		r.Timestamp = time.Unix(rng.Int64N(1<<34), rng.Int64N(1e9)).UTC()
		r.Event.Action = awkward[rng.IntN(len(awkward))]
		r.Change = &Change{Action: "user.roles", Before: []any{nil, true, 1.5, map[string]any{"k": []any{}}}, After: map[string]any{}}
		records = append(records, r)
	}
	for i, r := range records {
		p, err := prepareRecord(&r)
		if err != nil {
			t.Fatal(err)
		}
		head.Seq = uint64(i) * 1e9
		line, _ := p.link(head)
		line = line[:len(line)-1]
		got, want := entryOf(line), entryByDecoding(line)
		if !sameEntry(got, want) || want.Seq != head.Seq+1 {
			t.Fatalf("record %d: scanned %+v, decoded %+v\n%s", i, got, want, line)
		}
	}
	// Lines that are not what the spool writes give zero fields, never a panic.
	for _, bad := range []string{"", "{", `{"event":`, `{"event":{"id":"x"`, `{"a":tru`, `[]`, `{"event":{"id":"x"}}junk`, `{"a":"\`} {
		if e := entryOf([]byte(bad)); e.ID != "" && bad != `{"event":{"id":"x"}}junk` {
			t.Errorf("entryOf(%q) = %+v, want zero fields", bad, e)
		}
	}
}

// FuzzEntryOf feeds the scanner lines as the spool writes them, from fuzzed strings, and
// compares it with decoding; arbitrary bytes must never make it panic.
func FuzzEntryOf(f *testing.F) {
	f.Add("rec-1", "access", "success", int64(0), []byte(`{"a":"\`))
	f.Fuzz(func(t *testing.T, id, action, outcome string, n int64, junk []byte) {
		entryOf(junk)
		r := testRecord(1)
		r.Timestamp = time.Unix(0, n).UTC()
		r.Event.ID, r.Event.Action, r.Event.Outcome = id, action, outcome
		p, err := prepareRecord(&r)
		if err != nil {
			t.Skip()
		}
		line, _ := p.link(chainHead{ID: "c", Seq: uint64(n) >> 1, Hash: "00"})
		line = line[:len(line)-1]
		if got, want := entryOf(line), entryByDecoding(line); !sameEntry(got, want) {
			t.Fatalf("scanned %+v, decoded %+v\n%s", got, want, line)
		}
	})
}

func BenchmarkEntryOf(b *testing.B) {
	r := testRecord(1)
	p, _ := prepareRecord(&r)
	line, _ := p.link(chainHead{ID: "c", Seq: 1, Hash: "00"})
	line = line[:len(line)-1]
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			entryOf(line)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			entryByDecoding(line)
		}
	})
}
