package proxy

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy/canon"
)

// reservedPrefix is the gate's own namespace. It is matched on the canonical path by exact
// prefix, never by "contains", and nothing under it is ever forwarded.
const reservedPrefix = "/_tollgate/"

// canonicalize replaces the request target by its one canonical form, or refuses the request.
// Every later step, and the upstream, see only that form.
func (g *Gate) canonicalize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		t, err := canon.Request(r.Method, r.RequestURI)
		if err != nil {
			var ce *canon.Error
			msg := "The request could not be understood."
			if errors.As(err, &ce) {
				msg = "The request was refused: " + ce.Reason + "."
			}
			st.route, st.effect = "invalid", "invalid"
			g.errorPage(w, r, st, http.StatusBadRequest, "Bad request", msg)
			return
		}
		st.target = t
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = t.Decoded(), t.Path, t.RawQuery
		next.ServeHTTP(w, r)
	})
}

// reserved serves the gate's own endpoints.
func (g *Gate) reserved(next http.Handler) http.Handler {
	mux := g.reservedMux()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := state(r).target.Path
		if p == strings.TrimSuffix(reservedPrefix, "/") || strings.HasPrefix(p, reservedPrefix) {
			mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate finds the session behind the cookie. No session: a browser is sent to log in,
// an API client gets 401. A store that cannot answer fails closed with 503.
func (g *Gate) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		token, sess, ok := g.sessionOf(w, r, st)
		if !ok {
			return
		}
		sess, ok = g.maybeRefresh(w, r, st, token, sess)
		if !ok {
			return
		}
		st.sessVal = sess
		st.token, st.sess = token, &st.sessVal
		g.markSeen(r.Context(), sess.UserID)
		next.ServeHTTP(w, r)
	})
}

// sessionOf finds the session behind the request's cookie. Without a usable one it answers as
// for an unauthenticated request (a browser is sent to log in, an API client gets 401); a store
// that cannot answer gets 503. ok is false when it has answered.
func (g *Gate) sessionOf(w http.ResponseWriter, r *http.Request, st *reqState) (string, session.Session, bool) {
	token := g.sessionToken(r)
	if token == "" {
		g.unauthenticated(w, r, st)
		return "", session.Session{}, false
	}
	sess, err := g.deps.Sessions.Get(r.Context(), token)
	if errors.Is(err, session.ErrNotFound) {
		g.clearCookie(w, g.cookie.session)
		g.unauthenticated(w, r, st)
		return "", session.Session{}, false
	}
	if err != nil {
		g.storeFailed(w, r, st, err)
		return "", session.Session{}, false
	}
	return token, sess, true
}

// requireMFA lets through only sessions that have proven a second factor, when the deployment
// requires one: at the IdP (its amr/acr at login) or on the gate's own pages.
func (g *Gate) requireMFA(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		if g.factorMissing(st.sess) {
			g.factorPending(w, r, st)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorize asks the policy about the canonical method and path. A policy that cannot decide
// is an error, never an allow.
func (g *Gate) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		d, err := g.decide(r.Context(), st)
		if err != nil {
			g.undecided(w, r, st)
			return
		}
		if !d.Allow {
			g.forbidden(w, r, st, d)
			return
		}
		// The request will reach the application: its record must be keepable first.
		if err := g.accepts(audit.EventTypeAllowed); err != nil {
			g.auditUnavailable(w, r, st, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// routeLabel is the policy route that decided, for metrics: routes are a bounded set.
func routeLabel(d policy.Decision) string {
	if d.Route == "" {
		return "unmatched"
	}
	return d.Route
}

func (g *Gate) storeFailed(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	st.effect = "error"
	g.deps.Metrics.storeErrors.Inc()
	g.deps.Log.Error("session store unavailable", "request_id", st.id, "err", err)
	g.errorPage(w, r, st, http.StatusServiceUnavailable, "Temporarily unavailable",
		"The gate cannot reach its session store right now. Your session is kept; try again in a moment.")
}

func (g *Gate) sessionToken(r *http.Request) string {
	c, err := r.Cookie(g.cookie.session)
	if err != nil {
		return ""
	}
	return c.Value
}

// unauthenticated sends a browser to log in and returns to the same canonical request
// afterwards; API clients get 401.
func (g *Gate) unauthenticated(w http.ResponseWriter, r *http.Request, st *reqState) {
	st.effect = "unauthenticated"
	if wantsJSON(r) || isUpgrade(r) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		w.Header().Set("WWW-Authenticate", `Cookie realm="tollgate"`)
		g.problem(w, st, http.StatusUnauthorized, "Unauthenticated", "Sign in at "+reservedPrefix+"login first.")
		return
	}
	g.startLogin(w, r, st, returnTo(st.target))
}
