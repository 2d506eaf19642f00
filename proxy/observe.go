package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy/canon"
)

// reqState is what the steps of the chain learn about one request. It lives in the request's
// context because it is request-scoped data, not a dependency.
type reqState struct {
	id       string
	start    time.Time
	clientIP string
	target   canon.Target

	token    string
	sess     *session.Session
	decision *policy.Decision
	// route labels the request in metrics with bounded cardinality.
	route  string
	effect string // "allow", "deny", "unauthenticated", "error", "invalid"

	upstreamStart  time.Time
	upstreamStatus int
	upstreamDur    time.Duration

	w *statusWriter
}

type stateKey struct{}

func state(r *http.Request) *reqState {
	s, _ := r.Context().Value(stateKey{}).(*reqState)
	return s
}

// statusWriter remembers the status written. Unwrap lets http.ResponseController reach the
// underlying writer for flushing (streaming) and hijacking (WebSocket upgrades).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives the request an id, recovers panics into a 500 page, and counts the request.
func (g *Gate) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{id: newRequestID(), start: g.deps.Now(), clientIP: g.trusted.clientIP(r), route: "unmatched", effect: "invalid"}
		w.Header().Set("X-Request-Id", st.id)
		sw := &statusWriter{ResponseWriter: w}
		st.w = sw
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				g.deps.Log.Error("panic while serving request", "request_id", st.id, "panic", p)
				st.effect = "error"
				if sw.status == 0 {
					g.errorPage(sw, r, st, http.StatusInternalServerError, "Something went wrong", "The gate hit an unexpected error. Nothing was sent to the application.")
				}
			}
			g.deps.Metrics.requests.WithLabelValues(st.route, st.effect).Inc()
			g.deps.Metrics.requestDuration.Observe(g.deps.Now().Sub(st.start).Seconds())
		}()
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
