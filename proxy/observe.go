package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/audit"
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

	w        *statusWriter
	idHeader []string // X-Request-Id's value

	// Storage for what the chain would otherwise allocate one by one on every request: the
	// response writers, the session and decision the pointers above refer to, and the parts
	// of the access record. One allocation of reqState holds them all.
	sw          statusWriter
	aw          auditWriter
	idArr       [1]string
	headerVals  [headerBatchMax]string // the values of the headers set through a headerBatch
	sessVal     session.Session
	decisionVal policy.Decision
	rec         recordParts
}

// recordParts backs the pointers of an access record.
type recordParts struct {
	source   audit.Source
	http     audit.HTTP
	response audit.HTTPResponse
	url      audit.URL
	agent    audit.Agent
	user     audit.User
	session  audit.Session
	policy   audit.Policy
	upstream audit.Upstream
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
		// One slice serves the response and the forwarded request (capped, so an Add to
		// either copies it).
		st.idArr[0] = st.id
		st.idHeader = st.idArr[:]
		w.Header()["X-Request-Id"] = st.idHeader
		st.sw.ResponseWriter = w
		sw := &st.sw
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
	var h [24]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}
