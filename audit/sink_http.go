package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// httpSink POSTs each batch in one request. 2xx means delivered; 408, 429, 5xx and network
// errors are retried; any other 4xx means the receiver will never take the batch, which is
// then parked in the dead-letter file. The Authorization value comes from a file or the
// environment and appears in no log line or error.
type httpSink struct {
	url     string
	format  string
	gzip    bool
	auth    string
	headers map[string]string
	index   string
	stype   string
	labels  map[string]string
	client  *http.Client
	now     func() time.Time
}

func newHTTPSink(cfg SinkConfig, getenv func(string) string, now func() time.Time) (*httpSink, error) {
	s := &httpSink{url: cfg.URL, format: cfg.Format, gzip: cfg.Gzip, headers: cfg.Headers, index: cfg.Index,
		stype: cfg.SourceType, labels: cfg.Labels, now: now}
	switch {
	case cfg.AuthorizationFile != "":
		b, err := os.ReadFile(cfg.AuthorizationFile)
		if err != nil {
			return nil, fmt.Errorf("authorization_file: %w", err)
		}
		// Editors and echo add a final newline that is not part of the value.
		if s.auth = strings.TrimRight(string(b), "\r\n"); s.auth == "" {
			return nil, fmt.Errorf("authorization_file: %s is empty", cfg.AuthorizationFile)
		}
	case cfg.AuthorizationEnv != "":
		if s.auth = getenv(cfg.AuthorizationEnv); s.auth == "" {
			return nil, fmt.Errorf("authorization_env: $%s is empty or unset", cfg.AuthorizationEnv)
		}
	}
	if strings.ContainsAny(s.auth, "\r\n") {
		return nil, errors.New("authorization: the value must be one line")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	if u, err := url.Parse(cfg.URL); err == nil && u.Scheme == "https" {
		t, err := clientTLS(cfg.TLS, u.Hostname())
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = t
	}
	// A redirect would resend the records somewhere the configuration does not name.
	s.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s, nil
}

func (s *httpSink) Deliver(ctx context.Context, batch []Entry) error {
	body, ctype, err := s.body(batch)
	if err != nil {
		return &PermanentError{Err: err}
	}
	if s.gzip {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return err
		}
		body = z.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "tollgate-audit")
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the configuration; the message need not repeat it
		}
		return err
	}
	defer resp.Body.Close()
	limit := int64(4 << 10)
	if s.format == FormatElasticsearchBulk {
		limit = 32 << 20
	}
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection reusable
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		if s.format == FormatElasticsearchBulk {
			return bulkResult(reply, len(batch))
		}
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 || code < 200 || (code >= 300 && code < 400):
		err := fmt.Errorf("HTTP %d: %s", code, snippet(reply))
		if d := retryAfter(resp.Header.Get("Retry-After"), s.now()); d > 0 {
			return &retryAfterError{err: err, after: d}
		}
		return err
	default:
		return &PermanentError{Err: fmt.Errorf("HTTP %d: %s", code, snippet(reply))}
	}
}

// body encodes the batch in the configured format.
func (s *httpSink) body(batch []Entry) ([]byte, string, error) {
	var b bytes.Buffer
	switch s.format {
	case FormatLoki:
		// Loki push API: one stream with the configured labels, [ns timestamp, line] values.
		type stream struct {
			Stream map[string]string `json:"stream"`
			Values [][2]string       `json:"values"`
		}
		st := stream{Stream: s.labels, Values: make([][2]string, len(batch))}
		for i, e := range batch {
			st.Values[i] = [2]string{strconv.FormatInt(s.timeOf(e).UnixNano(), 10), string(e.Line)}
		}
		err := json.NewEncoder(&b).Encode(map[string][]stream{"streams": {st}})
		return b.Bytes(), "application/json", err
	case FormatSplunkHEC:
		// Splunk HEC /services/collector/event: one event object per record, back to back.
		for _, e := range batch {
			t := s.timeOf(e)
			fmt.Fprintf(&b, `{"time":%d.%03d,"source":"tollgate","sourcetype":%q`, t.Unix(), t.Nanosecond()/1e6, s.stype)
			if s.index != "" {
				fmt.Fprintf(&b, `,"index":%q`, s.index)
			}
			b.WriteString(`,"event":`)
			b.Write(e.Line)
			b.WriteString("}\n")
		}
		return b.Bytes(), "application/json", nil
	case FormatElasticsearchBulk:
		// "create" with the event id as _id: a retried record is answered 409, not indexed
		// twice, and data streams accept it.
		for _, e := range batch {
			meta := map[string]map[string]string{"create": {"_index": s.index}}
			if e.ID != "" {
				meta["create"]["_id"] = e.ID
			}
			m, _ := json.Marshal(meta)
			b.Write(m)
			b.WriteByte('\n')
			b.Write(e.Line)
			b.WriteByte('\n')
		}
		return b.Bytes(), "application/x-ndjson", nil
	default:
		return joinLines(batch), "application/x-ndjson", nil
	}
}

func (s *httpSink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

func (s *httpSink) timeOf(e Entry) time.Time {
	if e.Time.IsZero() {
		return s.now()
	}
	return e.Time
}

// bulkResult reads an Elasticsearch bulk response, which is 200 even when items failed.
// Items answered 409 were indexed by an earlier attempt. Items refused with 429 or 5xx make
// the whole batch retried (creates are idempotent); items refused otherwise are parked.
func bulkResult(reply []byte, n int) error {
	var r struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return fmt.Errorf("elasticsearch bulk response: %w", err)
	}
	if !r.Errors {
		return nil
	}
	if len(r.Items) != n {
		return fmt.Errorf("elasticsearch bulk response has %d items for %d records", len(r.Items), n)
	}
	var rejected []int
	var first string
	for i, it := range r.Items {
		for _, res := range it {
			switch {
			case res.Status < 300 || res.Status == http.StatusConflict:
			case res.Status == http.StatusTooManyRequests || res.Status >= 500:
				return fmt.Errorf("elasticsearch bulk: item %d: HTTP %d: %s", i, res.Status, snippet(res.Error))
			default:
				if first == "" {
					first = fmt.Sprintf("item %d: HTTP %d: %s", i, res.Status, snippet(res.Error))
				}
				rejected = append(rejected, i)
			}
		}
	}
	if len(rejected) == 0 {
		return nil
	}
	return &PermanentError{Err: errors.New("elasticsearch bulk: " + first), Rejected: rejected}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

// snippet is the start of a reply body, for error messages.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
