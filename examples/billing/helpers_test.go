package billing

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testNow is a fixed clock so that seed dates and reports are the same on every run.
func testNow() time.Time { return time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC) }

func newTestApp() *App { return New(Config{Now: testNow}) }

const formType = "application/x-www-form-urlencoded"

// req is one request to the app; form, when set, is sent as a url-encoded body.
type req struct {
	method, target string
	form           string
	header         http.Header
}

func (q req) do(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	ct := ""
	if q.form != "" {
		ct = formType
	}
	r := httptestRequest(q.method, q.target, q.form, ct)
	for k, vs := range q.header {
		r.Header[k] = append(r.Header[k], vs...)
	}
	return serve(h, r)
}

func httptestRequest(method, target, body, contentType string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var jsonAccept = http.Header{"Accept": {"application/json"}}

func decodeJSON(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json; body:\n%s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("decoding %s: %v", w.Body, err)
	}
}
