package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func TestWriteDeliversInOrderToEverySink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var stdout syncBuffer
	now := time.Date(2026, 12, 4, 17, 40, 2, 0, time.UTC)
	p, reg := openTest(t, testConfig(t, SinkConfig{Type: SinkFile, Path: path}, SinkConfig{Type: SinkStdout}),
		Deps{Stdout: &stdout, Now: func() time.Time { return now }})

	if err := p.Write(Record{Event: Event{Action: EventLogin, Outcome: OutcomeSuccess}}); err != nil {
		t.Fatal(err)
	}
	writeN(t, p, 1, 24)
	if err := p.Write(Record{Event: Event{Action: EventCheckpoint}}); err == nil {
		t.Error("Write accepted a record posing as a checkpoint")
	}
	closeTest(t, p)
	if err := p.Write(testRecord(99)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}

	file := readLinesOf(t, path)
	if diff := cmp.Diff(bytes.Join(file, nil), stdout.Bytes()); diff != "" {
		t.Errorf("the sinks got different trails (-file +stdout):\n%s", diff)
	}
	// 25 records, checkpoints after seq 10 and 21, and one at Close.
	if len(file) != 28 {
		t.Fatalf("file has %d lines, want 28", len(file))
	}
	var first Record
	if err := json.Unmarshal(file[0], &first); err != nil {
		t.Fatal(err)
	}
	if first.Event.ID == "" || first.Event.Kind != "event" || !first.Timestamp.Equal(now) || first.Chain == nil || first.Chain.Seq != 1 {
		t.Errorf("first record not filled in: %+v (chain %+v)", first.Event, first.Chain)
	}
	var ids []string
	for _, l := range file {
		if id := eventID(t, l); strings.HasPrefix(id, "rec-") {
			ids = append(ids, id)
		}
	}
	for i, id := range ids {
		if want := testRecord(i + 1).Event.ID; id != want {
			t.Fatalf("record %d is %s, want %s: out of order", i, id, want)
		}
	}
	if _, err := Verify([]string{path}, VerifyOptions{}); err != nil {
		t.Errorf("Verify: %v", err)
	}
	for _, tc := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"sink", "spool", "result", "written"}, 28},
		{[]string{"sink", "file", "result", "delivered"}, 28},
		{[]string{"sink", "stdout", "result", "delivered"}, 28},
		{[]string{"sink", "file", "result", "failed"}, 0},
	} {
		if got := metricValue(t, reg, "tollgate_audit_records_total", tc.labels...); got != tc.want {
			t.Errorf("records_total%v = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

func TestRestartContinuesTheChainWithoutRedelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := testConfig(t, SinkConfig{Type: SinkFile, Path: path})
	for round := range 3 {
		p, _ := openTest(t, cfg, Deps{})
		writeN(t, p, round*5, 5)
		closeTest(t, p)
	}
	rep, err := Verify([]string{path}, VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// 15 records and a checkpoint at each Close; the count of records since the last
	// checkpoint goes on across restarts, so no other is due.
	if len(rep.Chains) != 1 || rep.Chains[0].First != 1 || rep.Records != 18 || rep.Checkpoints != 3 || rep.Duplicates != 0 {
		t.Errorf("report %+v, want one chain of 18 records (3 checkpoints) from seq 1 and no duplicate", rep)
	}
}

func TestStartCutsATornTailAndKeepsIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := testConfig(t, SinkConfig{Type: SinkFile, Path: path})
	p, _ := openTest(t, cfg, Deps{})
	writeN(t, p, 0, 5)
	closeTest(t, p)
	seg := segmentPath(cfg.Spool.Dir, 1)
	torn := `{"@timestamp":"2026-12-04T17:40:02Z","event":{"act`
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(torn)
	f.Close()

	p, _ = openTest(t, cfg, Deps{})
	writeN(t, p, 5, 2)
	closeTest(t, p)
	if _, err := Verify([]string{seg}, VerifyOptions{}); err != nil {
		t.Errorf("segment after recovery: %v", err)
	}
	if _, err := Verify([]string{path}, VerifyOptions{}); err != nil {
		t.Errorf("trail after recovery: %v", err)
	}
	bad, _ := filepath.Glob(seg + ".*.bad")
	if len(bad) != 1 || string(readAll(t, bad[0])) != torn {
		t.Errorf("the cut tail was not kept: %v", bad)
	}
}

func TestDeliveredSegmentsAreDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	rc := newReceiver(t)
	rc.mode.Store(recvRefuse)
	cfg := testConfig(t, SinkConfig{Type: SinkFile, Path: path}, rc.sink())
	cfg.Spool.SegmentBytes = minSegmentBytes
	p, reg := openTest(t, cfg, Deps{})
	writeN(t, p, 0, 60) // about 500 bytes each: several segments

	segments := func() int {
		ixs, _ := listSegments(cfg.Spool.Dir)
		return len(ixs)
	}
	waitFor(t, "the file sink to get every record", func() bool { return len(readLinesOf(t, path)) >= 66 })
	if n := segments(); n < 4 {
		t.Fatalf("%d segments while the receiver refuses, want them all kept", n)
	}
	rc.mode.Store(recvOK)
	waitFor(t, "every record at the receiver", func() bool { return len(rc.received()) >= 66 })
	waitFor(t, "delivered segments to be deleted", func() bool { return segments() == 1 })
	var size int64
	if st, err := os.Stat(segmentPath(cfg.Spool.Dir, uint64(metricSegments(t, cfg.Spool.Dir)))); err == nil {
		size = st.Size()
	}
	if got := metricValue(t, reg, "tollgate_audit_spool_bytes"); got != float64(size) {
		t.Errorf("spool_bytes = %v, want the active segment's %d", got, size)
	}
	if got := len(rc.received()); got != 66 {
		t.Errorf("receiver got %d records, want 66", got)
	}
}

func metricSegments(t *testing.T, dir string) uint64 {
	ixs, err := listSegments(dir)
	if err != nil || len(ixs) == 0 {
		t.Fatal(err)
	}
	return ixs[len(ixs)-1]
}

func TestASpoolHasOneOwner(t *testing.T) {
	cfg := testConfig(t, SinkConfig{Type: SinkStdout})
	openTest(t, cfg, Deps{Stdout: &syncBuffer{}})
	if _, err := Open(cfg, Deps{Stdout: &syncBuffer{}}); err == nil || !strings.Contains(err.Error(), "audit.spool.dir") {
		t.Errorf("second Open on the same spool = %v, want an error naming audit.spool.dir", err)
	}
}

func TestCloseKeepsWhatItCouldNotDeliver(t *testing.T) {
	rc := newReceiver(t)
	rc.mode.Store(recvRefuse)
	cfg := testConfig(t, rc.sink())
	p, _ := openTest(t, cfg, Deps{})
	writeN(t, p, 0, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil || !strings.Contains(err.Error(), "stays in the spool") {
		t.Errorf("Close with the sink down = %v, want an error saying records stay in the spool", err)
	}
	rc.mode.Store(recvOK)
	p, _ = openTest(t, cfg, Deps{})
	ids := []string{"rec-000000", "rec-000004"}
	waitFor(t, "the records of the previous run", func() bool { return rc.has(ids) })
	closeTest(t, p)
}

func TestReopenFollowsLogrotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	p, _ := openTest(t, testConfig(t, SinkConfig{Type: SinkFile, Path: path}), Deps{})
	writeN(t, p, 0, 3)
	waitFor(t, "3 records in the file", func() bool { return len(readLinesOf(t, path)) == 3 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Reopen(); err != nil {
		t.Fatal(err)
	}
	writeN(t, p, 3, 3)
	closeTest(t, p)
	if n := len(readLinesOf(t, path+".1")); n != 3 {
		t.Errorf("rotated file has %d lines, want 3", n)
	}
	if _, err := Verify([]string{path + ".1", path}, VerifyOptions{}); err != nil {
		t.Errorf("Verify across the rotation: %v", err)
	}
}

func TestSigningKeyIsCreatedOnceAndVerifies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := testConfig(t, SinkConfig{Type: SinkFile, Path: path})
	for round := range 2 {
		p, _ := openTest(t, cfg, Deps{})
		writeN(t, p, round*3, 3)
		closeTest(t, p)
	}
	pub, err := ReadPublicKey(filepath.Join(cfg.Spool.Dir, "checkpoint.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(cfg.Spool.Dir, "checkpoint.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("checkpoint.key: %v, %v; want mode 0600", st, err)
	}
	rep, err := Verify([]string{path}, VerifyOptions{PublicKey: pub})
	if err != nil || rep.Verified != 2 {
		t.Errorf("Verify with the stored key: %+v, %v; want both runs' checkpoints verified", rep, err)
	}
	priv, err := LoadSigningKey(filepath.Join(cfg.Spool.Dir, "checkpoint.key"))
	if err != nil || !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Errorf("checkpoint.pub does not match checkpoint.key: %v", err)
	}
}

func TestCheckpointOnTimer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := testConfig(t, SinkConfig{Type: SinkFile, Path: path})
	cfg.Checkpoint = CheckpointConfig{EveryRecords: 1000, Every: 20 * time.Millisecond}
	p, _ := openTest(t, cfg, Deps{})
	writeN(t, p, 0, 2)
	// A tick may fall between the two writes on a loaded machine: then each record gets its
	// own checkpoint. Either way the last record ends up signed, and no tick without new
	// records adds a checkpoint.
	signed := map[string]bool{"r2 c": true, "r1 c r1 c": true}
	var shape string
	waitFor(t, "a timed checkpoint after the last record", func() bool {
		lines := readLinesOf(t, path)
		shape = trailShape(t, lines)
		return len(lines) > 0 && bytes.Contains(lines[len(lines)-1], []byte(`"action":"checkpoint"`)) &&
			bytes.Contains(bytes.Join(lines, nil), []byte(testRecord(1).Event.ID))
	})
	if !signed[shape] {
		t.Fatalf("the sink holds %q, want %q or %q", shape, "r2 c", "r1 c r1 c")
	}
	time.Sleep(100 * time.Millisecond) // several ticks without records
	if now := trailShape(t, readLinesOf(t, path)); now != shape {
		t.Errorf("the sink holds %q, was %q: checkpoints were written without new records", now, shape)
	}
}

func TestFsyncIntervalDelivers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := testConfig(t, SinkConfig{Type: SinkFile, Path: path})
	cfg.Spool.Fsync, cfg.Spool.FsyncInterval = FsyncInterval, 5*time.Millisecond
	p, _ := openTest(t, cfg, Deps{})
	writeN(t, p, 0, 5)
	// Sinks only see what is on disk: the records arrive once the interval fsync ran.
	waitFor(t, "5 records delivered", func() bool { return len(readLinesOf(t, path)) == 5 })
	writeN(t, p, 5, 2)
	closeTest(t, p) // flushes the rest
	if n := len(readLinesOf(t, path)); n != 8 {
		t.Errorf("%d lines after Close, want 7 records and a checkpoint", n)
	}
}

func TestOpenAndWriteRefuseBadInput(t *testing.T) {
	cfg := testConfig(t, SinkConfig{Type: SinkHTTP, URL: "https://logs.example.com/in", AuthorizationEnv: "NOT_SET"})
	_, err := Open(cfg, Deps{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "audit.sinks[0].authorization_env: $NOT_SET is empty") {
		t.Errorf("Open with an empty secret = %v", err)
	}
	cfg = testConfig(t, SinkConfig{Type: SinkFile})
	if _, err := Open(cfg, Deps{}); err == nil || !strings.Contains(err.Error(), "audit.sinks[0].path: required") {
		t.Errorf("Open with an invalid config = %v", err)
	}

	p, _ := openTest(t, testConfig(t, SinkConfig{Type: SinkStdout}), Deps{Stdout: &syncBuffer{}})
	r := testRecord(0)
	r.UserAgent.Original = strings.Repeat("x", maxRecordBytes)
	if err := p.Write(r); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("Write of a 1MiB user agent = %v, want ErrRecordTooLarge", err)
	}
	if err := p.Write(testRecord(1)); err != nil {
		t.Errorf("Write after a refused record: %v", err)
	}
}
