package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHTTPSinkNDJSONWithGzipAndAuthorization(t *testing.T) {
	rc := newReceiver(t)
	secret := filepath.Join(t.TempDir(), "token")
	os.WriteFile(secret, []byte("Bearer s3cr3t-token\n"), 0o600)
	sink := rc.sink()
	sink.Gzip, sink.AuthorizationFile, sink.Headers = true, secret, map[string]string{"X-Scope-OrgID": "billing"}
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	p, _ := openTest(t, testConfig(t, sink), Deps{Log: log})
	rc.mode.Store(recvRefuse) // failures are logged: the token must not be
	writeN(t, p, 0, 3)
	waitFor(t, "a refused attempt", func() bool { return strings.Contains(string(logs.Bytes()), "retrying") })
	rc.mode.Store(recvOK)
	waitFor(t, "3 records", func() bool { return len(rc.received()) == 3 })
	closeTest(t, p)

	rc.mu.Lock()
	req := rc.requests[len(rc.requests)-1]
	rc.mu.Unlock()
	for h, want := range map[string]string{
		"Authorization": "Bearer s3cr3t-token", "Content-Encoding": "gzip",
		"Content-Type": "application/x-ndjson", "X-Scope-Orgid": "billing",
	} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if strings.Contains(string(logs.Bytes()), "s3cr3t") {
		t.Errorf("the Authorization value is in the log:\n%s", logs.Bytes())
	}
}

func TestHTTPSinkParksWhatTheReceiverRefusesForGood(t *testing.T) {
	rc := newReceiver(t)
	rc.mode.Store(recvRejectAll)
	cfg := testConfig(t, rc.sink())
	p, reg := openTest(t, cfg, Deps{})
	writeN(t, p, 0, 2)
	dead := filepath.Join(cfg.Spool.Dir, "deadletter-recv.jsonl")
	waitFor(t, "2 records parked", func() bool {
		return metricValue(t, reg, "tollgate_audit_records_total", "sink", "recv", "result", "failed") == 2
	})
	parked := readLinesOf(t, dead)
	if len(parked) != 2 || eventID(t, parked[0]) != "rec-000000" || eventID(t, parked[1]) != "rec-000001" {
		t.Fatalf("dead-letter file holds %q", parked)
	}
	// Delivery goes on with the next records.
	rc.mode.Store(recvOK)
	writeN(t, p, 2, 1)
	waitFor(t, "the next record", func() bool { return rc.has([]string{"rec-000002"}) })
	if got := metricValue(t, reg, "tollgate_audit_records_total", "sink", "recv", "result", "retried"); got != 0 {
		t.Errorf("retried = %v: a 400 must not be retried", got)
	}
}

func TestHTTPSinkRetriesThrottling(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(srv.Close)
	sink := SinkConfig{Type: SinkHTTP, Name: "h", URL: srv.URL}
	p, reg := openTest(t, testConfig(t, sink), Deps{})
	writeN(t, p, 0, 1)
	waitFor(t, "delivery after 429s", func() bool {
		return metricValue(t, reg, "tollgate_audit_records_total", "sink", "h", "result", "delivered") == 1
	})
	if got := metricValue(t, reg, "tollgate_audit_records_total", "sink", "h", "result", "failed"); got != 0 {
		t.Errorf("failed = %v: a 429 is not a poison batch", got)
	}
	if d := retryAfter("120", time.Now()); d != 2*time.Minute {
		t.Errorf("Retry-After 120 = %s", d)
	}
}

func TestHTTPSinkFormats(t *testing.T) {
	now := time.Date(2026, 12, 4, 17, 40, 2, 123456789, time.UTC)
	for _, tc := range []struct {
		format string
		sink   func(*SinkConfig)
		check  func(t *testing.T, r *http.Request, body []byte, lines [][]byte)
	}{
		{format: FormatLoki, check: func(t *testing.T, r *http.Request, body []byte, lines [][]byte) {
			var push struct {
				Streams []struct {
					Stream map[string]string `json:"stream"`
					Values [][2]string       `json:"values"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(body, &push); err != nil || len(push.Streams) != 1 {
				t.Fatalf("push body %s: %v", body, err)
			}
			st := push.Streams[0]
			if diff := cmp.Diff(map[string]string{"job": "tollgate"}, st.Stream); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			for i, v := range st.Values {
				if v[0] != strconv.FormatInt(now.UnixNano(), 10) || v[1] != string(lines[i]) {
					t.Errorf("value %d = %q", i, v)
				}
			}
		}},
		{format: FormatSplunkHEC, sink: func(s *SinkConfig) {
			s.AuthorizationEnv, s.Index = "HEC_TOKEN", "audit"
		}, check: func(t *testing.T, r *http.Request, body []byte, lines [][]byte) {
			if got := r.Header.Get("Authorization"); got != "Splunk 0000-hec" {
				t.Errorf("Authorization = %q", got)
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			for i := 0; dec.More(); i++ {
				var ev struct {
					Time       json.Number     `json:"time"`
					SourceType string          `json:"sourcetype"`
					Index      string          `json:"index"`
					Event      json.RawMessage `json:"event"`
				}
				if err := dec.Decode(&ev); err != nil {
					t.Fatal(err)
				}
				if ev.Time != "1796406002.123" || ev.SourceType != "_json" || ev.Index != "audit" || string(ev.Event) != string(lines[i]) {
					t.Errorf("event %d = %+v", i, ev)
				}
			}
		}},
		{format: FormatElasticsearchBulk, check: func(t *testing.T, r *http.Request, body []byte, lines [][]byte) {
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(nil, 1<<20)
			for i := 0; sc.Scan(); i++ {
				var action map[string]map[string]string
				if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
					t.Fatal(err)
				}
				want := map[string]map[string]string{"create": {"_index": "tollgate-audit", "_id": eventID(t, lines[i])}}
				if diff := cmp.Diff(want, action); diff != "" {
					t.Errorf("action %d (-want +got):\n%s", i, diff)
				}
				sc.Scan()
				if sc.Text() != string(lines[i]) {
					t.Errorf("document %d = %s", i, sc.Text())
				}
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var mu sync.Mutex
			var req *http.Request
			var body []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				if req == nil {
					req, body = r, b
				}
				mu.Unlock()
				if tc.format == FormatElasticsearchBulk {
					io.WriteString(w, `{"errors":false,"items":[]}`)
				}
			}))
			t.Cleanup(srv.Close)
			sink := SinkConfig{Type: SinkHTTP, URL: srv.URL, Format: tc.format, Batch: BatchConfig{Linger: 50 * time.Millisecond}}
			if tc.sink != nil {
				tc.sink(&sink)
			}
			cfg := testConfig(t, sink)
			cfg.Checkpoint.EveryRecords = 1000
			p, _ := openTest(t, cfg, Deps{Now: func() time.Time { return now }, Getenv: func(k string) string {
				return map[string]string{"HEC_TOKEN": "Splunk 0000-hec"}[k]
			}})
			writeN(t, p, 0, 3)
			waitFor(t, "a request", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return req != nil
			})
			mu.Lock()
			defer mu.Unlock()
			lines := segmentLines(t, cfg.Spool.Dir)
			if len(lines) < 3 {
				t.Fatalf("spool has %d lines", len(lines))
			}
			tc.check(t, req, body, lines[:3])
		})
	}
}

// segmentLines reads the records of the first spool segment, without newlines.
func segmentLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, l := range readLinesOf(t, segmentPath(dir, 1)) {
		out = append(out, bytes.TrimSuffix(l, []byte("\n")))
	}
	return out
}

// TestElasticsearchBulkPartialFailures plays an index that answers per item: a conflict for a
// document it has (a retried create), 429 for an overloaded shard, 400 for a document it
// cannot map.
func TestElasticsearchBulkPartialFailures(t *testing.T) {
	var mu sync.Mutex
	indexed := map[string]int{}
	throttled := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 1<<20)
		var items []string
		errs := false
		for sc.Scan() {
			var action map[string]map[string]string
			json.Unmarshal(sc.Bytes(), &action)
			id := action["create"]["_id"]
			sc.Scan()
			status := 201
			switch {
			case id == "rec-000002":
				status = 400
			case id == "rec-000003" && !throttled:
				throttled, status = true, 429
			case indexed[id] > 0:
				status = 409
			default:
				indexed[id]++
			}
			errs = errs || status >= 300
			items = append(items, `{"create":{"_id":"`+id+`","status":`+strconv.Itoa(status)+`,"error":{"type":"x"}}}`)
		}
		io.WriteString(w, `{"errors":`+strconv.FormatBool(errs)+`,"items":[`+strings.Join(items, ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(t, SinkConfig{Type: SinkHTTP, Name: "es", URL: srv.URL + "/_bulk", Format: FormatElasticsearchBulk,
		Batch: BatchConfig{Linger: 100 * time.Millisecond}})
	cfg.Checkpoint.EveryRecords = 1000
	p, reg := openTest(t, cfg, Deps{})
	writeN(t, p, 0, 6)
	closeTest(t, p)

	mu.Lock()
	defer mu.Unlock()
	for i := range 6 {
		id := testRecord(i).Event.ID
		want := 1
		if i == 2 {
			want = 0
		}
		if indexed[id] != want {
			t.Errorf("%s indexed %d times, want %d", id, indexed[id], want)
		}
	}
	parked := readLinesOf(t, filepath.Join(cfg.Spool.Dir, "deadletter-es.jsonl"))
	if len(parked) != 1 || eventID(t, parked[0]) != "rec-000002" {
		t.Errorf("dead letters: %q", parked)
	}
	if got := metricValue(t, reg, "tollgate_audit_records_total", "sink", "es", "result", "failed"); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
}
