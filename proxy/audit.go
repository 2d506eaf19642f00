package proxy

import (
	"net/http"

	"github.com/tollgate/tollgate/audit"
)

// spoolChecker is implemented by an auditor whose spool can fill up: it tells, before a
// request is served, whether a record of that kind would be taken.
type spoolChecker interface {
	Accepts(eventType string) error
}

var _ spoolChecker = (*audit.Pipeline)(nil)
var _ Auditor = (*audit.Pipeline)(nil)

// accepts asks the auditor whether it can take a record of this kind now.
func (g *Gate) accepts(eventType string) error {
	if sc, ok := g.deps.Audit.(spoolChecker); ok {
		return sc.Accepts(eventType)
	}
	return nil
}

// auditAccess writes one record for every access decision. The record is written when the
// response starts (so it carries the status, and the upstream's when there is one) and before
// any of it reaches the client. A request whose record could not be kept is not served: with
// the spool full, everything is refused with 503, except allowed requests under drop-allowed.
func (g *Gate) auditAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		if err := g.accepts(audit.EventTypeDenied); err != nil {
			g.auditUnavailable(w, r, st, err)
			return
		}
		st.aw = auditWriter{ResponseWriter: w, g: g, r: r}
		aw := &st.aw
		next.ServeHTTP(aw, r)
		aw.record(0) // nothing was written: the client went away
	})
}

// auditUnavailable answers when the trail cannot take the request's record.
func (g *Gate) auditUnavailable(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	st.effect = "error"
	g.deps.Metrics.auditErrors.Inc()
	g.deps.Log.Error("audit trail cannot take records; refusing requests", "request_id", st.id, "err", err)
	g.errorPage(w, r, st, http.StatusServiceUnavailable, "Temporarily unavailable",
		"The gate cannot record requests right now, so it serves none. Try again in a moment.")
}

// auditWriter writes the access record just before the response starts.
type auditWriter struct {
	http.ResponseWriter
	g    *Gate
	r    *http.Request
	done bool
}

func (a *auditWriter) WriteHeader(code int) {
	a.record(code)
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditWriter) Write(b []byte) (int, error) {
	a.record(http.StatusOK)
	return a.ResponseWriter.Write(b)
}

// Unwrap exposes the writer beneath for flushing and hijacking (upgrades): an upgraded
// connection answers 101 through WriteHeader, so it is recorded first like any other.
func (a *auditWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

func (a *auditWriter) record(status int) {
	if a.done || informational(status) {
		return
	}
	a.done = true
	g, st := a.g, state(a.r)
	rec := g.recordIn(&st.rec, a.r, st)
	if status != 0 {
		st.rec.response = audit.HTTPResponse{StatusCode: status}
		rec.HTTP.Response = &st.rec.response
	}
	rec.Event.Category, rec.Event.Action = "web", audit.EventAccess
	rec.Event.Duration = int64(g.deps.Now().Sub(st.start))
	rec.Event.Type, rec.Event.Outcome = audit.EventTypeDenied, audit.OutcomeFailure
	if st.effect == "allow" {
		rec.Event.Type, rec.Event.Outcome = audit.EventTypeAllowed, audit.OutcomeSuccess
	}
	rec.Event.Reason = st.effect
	if d := st.decision; d != nil {
		rec.Event.Reason = d.Reason
		eff := "deny"
		if d.Allow {
			eff = "allow"
		}
		st.rec.policy = audit.Policy{ID: d.PolicyID, Version: d.Version, Effect: eff}
		rec.Policy = &st.rec.policy
	}
	if st.upstreamStatus != 0 {
		st.rec.upstream = audit.Upstream{StatusCode: st.upstreamStatus, Duration: int64(st.upstreamDur)}
		rec.Upstream = &st.rec.upstream
	}
	g.writeAudit(rec)
}

func informational(status int) bool {
	return status >= 100 && status < 200 && status != http.StatusSwitchingProtocols
}

// writeAudit writes a record, counting and logging a failure. The caller decides whether the
// failure stops what it was doing.
func (g *Gate) writeAudit(rec audit.Record) error {
	err := g.deps.Audit.Write(rec)
	if err != nil {
		g.deps.Metrics.auditErrors.Inc()
		g.deps.Log.Error("audit record not written", "event", rec.Event.Action, "err", err)
	}
	return err
}

// baseRecord fills what every record of this request shares.
func (g *Gate) baseRecord(r *http.Request, st *reqState) audit.Record {
	return g.recordIn(new(recordParts), r, st)
}

// recordIn is baseRecord with the record's parts in p. The access record, the last a request
// writes, keeps its parts in st so that it costs no allocation of its own.
func (g *Gate) recordIn(p *recordParts, r *http.Request, st *reqState) audit.Record {
	p.source = audit.Source{IP: st.clientIP}
	p.http = audit.HTTP{Request: audit.HTTPRequest{ID: st.id, Method: st.target.Method}}
	p.url = audit.URL{Path: st.target.Path}
	rec := audit.Record{Timestamp: g.deps.Now().UTC(), Source: &p.source, HTTP: &p.http, URL: &p.url}
	if ua := r.UserAgent(); ua != "" {
		p.agent = audit.Agent{Original: ua}
		rec.UserAgent = &p.agent
	}
	if s := st.sess; s != nil {
		key := s.UserKey
		if key == "" {
			key = s.Identity.UserKey() // a session not read back from the store
		}
		p.user = audit.User{ID: key, Email: s.Identity.Email, Name: s.Identity.Name,
			Roles: s.Roles, Issuer: s.Identity.Issuer, Subject: s.Identity.Subject}
		p.session = audit.Session{ID: s.ID}
		rec.User, rec.Session = &p.user, &p.session
	}
	return rec
}
