package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// waitTimeout bounds every wait for a condition: generous, because a loaded 2-core machine
// running -race is slow, and a passing test returns as soon as the condition holds.
const waitTimeout = 20 * time.Second

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testConfig is a spool in a temporary folder with quick retries.
func testConfig(t testing.TB, sinks ...SinkConfig) Config {
	for i := range sinks {
		if sinks[i].Retry == (RetryConfig{}) {
			sinks[i].Retry = RetryConfig{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
		}
	}
	return Config{
		Spool:      SpoolConfig{Dir: t.TempDir()},
		Checkpoint: CheckpointConfig{EveryRecords: 10, Every: time.Hour},
		Sinks:      sinks,
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// openTest opens a pipeline that is closed when the test ends.
func openTest(t testing.TB, cfg Config, deps Deps) (*Pipeline, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	deps.Registerer = reg
	if deps.Log == nil {
		deps.Log = testLogger(t)
	}
	p, err := Open(cfg, deps)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p, reg
}

func closeTest(t testing.TB, p *Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// testRecord is an access record; its strings need escaping in JSON.
func testRecord(i int) Record {
	return Record{
		Event: Event{ID: fmt.Sprintf("rec-%06d", i), Category: "web", Type: EventTypeDenied, Action: EventAccess,
			Outcome: OutcomeFailure, Reason: "no-matching-policy", Duration: int64(i) * 1000},
		User:      &User{Email: fmt.Sprintf("user%d@example.com", i), Name: "Zoë \"Q\" <O'Brien> & co", Roles: []string{"sales_rep"}},
		URL:       &URL{Path: "/payments"},
		HTTP:      &HTTP{Request: HTTPRequest{ID: "req", Method: "GET"}, Response: &HTTPResponse{StatusCode: 403}},
		UserAgent: &Agent{Original: "Mozilla/5.0 \u2028 tab\t"},
	}
}

func writeN(t testing.TB, p *Pipeline, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := p.Write(testRecord(i)); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
}

// metricValue reads one series from the registry.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// readLinesOf returns the lines of a file.
func readLinesOf(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}

func eventID(t testing.TB, line []byte) string {
	t.Helper()
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("record %q: %v", line, err)
	}
	return r.Event.ID
}

// Receiver modes.
const (
	recvOK        = iota
	recvRefuse    // 503, nothing kept
	recvLoseAck   // keeps the records, then answers 500 as if the reply was lost
	recvRejectAll // 400: refused for good
)

// receiver is an HTTP endpoint taking newline-delimited JSON records.
type receiver struct {
	srv  *httptest.Server
	mode atomic.Int32

	mu       sync.Mutex
	lines    [][]byte
	ids      map[string]int
	requests []*http.Request
	lostAck  map[string]bool // ids in batches kept but answered 500
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{ids: map[string]int{}, lostAck: map[string]bool{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = z
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	mode := rc.mode.Load()
	rc.mu.Lock()
	rc.requests = append(rc.requests, r.Clone(context.Background()))
	if mode == recvOK || mode == recvLoseAck {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 2<<20)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			var rec Record
			_ = json.Unmarshal(line, &rec)
			rc.lines = append(rc.lines, line)
			rc.ids[rec.Event.ID]++
			if mode == recvLoseAck {
				rc.lostAck[rec.Event.ID] = true
			}
		}
	}
	rc.mu.Unlock()
	switch mode {
	case recvRefuse:
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	case recvLoseAck:
		http.Error(w, "reply lost", http.StatusInternalServerError)
	case recvRejectAll:
		http.Error(w, "bad record", http.StatusBadRequest)
	}
}

func (rc *receiver) sink() SinkConfig {
	return SinkConfig{Type: SinkHTTP, Name: "recv", URL: rc.srv.URL, Batch: BatchConfig{Linger: time.Millisecond}}
}

func (rc *receiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.ids[id]
}

func (rc *receiver) received() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.lines...)
}

// has reports whether every id arrived.
func (rc *receiver) has(ids []string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if rc.ids[id] == 0 {
			return false
		}
	}
	return true
}

// writeTrail writes lines to a file for Verify.
func writeTrail(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		if !bytes.HasSuffix(l, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// trailShape renders a trail written by writeN from record 0 as runs of records and
// checkpoints, e.g. "r10 c r5 c", so that a test failing on it shows where a line is missing.
// Whatever breaks the trail is marked with "!": a seq that does not follow the line before, a
// checkpoint that does not sign the line right before it, a record out of writeN's order.
func trailShape(t testing.TB, lines [][]byte) string {
	t.Helper()
	var parts []string
	run, next := 0, 0
	var prev uint64
	endRun := func() {
		if run > 0 {
			parts = append(parts, fmt.Sprintf("r%d", run))
			run = 0
		}
	}
	mark := func(format string, args ...any) {
		endRun()
		parts = append(parts, "!"+fmt.Sprintf(format, args...))
	}
	for _, line := range lines {
		l, err := parseLinked(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			mark("%v", err)
			continue
		}
		if l.chain.Seq != prev+1 {
			mark("seq %d after %d", l.chain.Seq, prev)
		}
		prev = l.chain.Seq
		if l.action != EventCheckpoint {
			if want := testRecord(next).Event.ID; eventID(t, line) != want {
				mark("%s where %s was due", eventID(t, line), want)
			}
			fmt.Sscanf(eventID(t, line), "rec-%d", &next)
			next++
			run++
			continue
		}
		endRun()
		cp, _ := l.obj["tollgate.checkpoint"].(map[string]any)
		if signed := fmt.Sprint(cp["seq"]); signed != fmt.Sprint(l.chain.Seq-1) {
			mark("checkpoint at seq %d signs seq %s", l.chain.Seq, signed)
		}
		parts = append(parts, "c")
	}
	endRun()
	return strings.Join(parts, " ")
}

// spooledShape is trailShape of every segment left in a closed pipeline's spool.
func spooledShape(t testing.TB, dir string) string {
	t.Helper()
	ixs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, ix := range ixs {
		lines = append(lines, readLinesOf(t, segmentPath(dir, ix))...)
	}
	return trailShape(t, lines)
}
