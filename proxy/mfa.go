package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tollgate/tollgate/idp/mfa"
	"github.com/tollgate/tollgate/idp/session"
)

// SecondFactor serves the gate's own second-factor pages (enrolment, verification, account)
// and tells where a session that lacks its factor must go.
type SecondFactor interface {
	Serve(w http.ResponseWriter, r *http.Request, s mfa.Subject)
	NextStep(ctx context.Context, userID string) string
}

var _ SecondFactor = (*mfa.Handler)(nil)

// isFactorPath reports whether p belongs to the second-factor pages: the only gate pages, with
// logout, that a session without its factor may reach.
func isFactorPath(p string) bool {
	return strings.HasPrefix(p, mfa.PathPrefix) || p == mfa.PathAccount || strings.HasPrefix(p, mfa.PathAccount+"/")
}

// serveFactor hands the second-factor pages a subject built from the session. They need a
// session: without one a browser is sent to sign in and come back.
func (g *Gate) serveFactor(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.route, st.effect = "_tollgate/mfa", "mfa"
	if !g.allow(w, r, st, "mfa_ip", st.clientIP, g.cfg.RateLimits.MFAPerIP) {
		return
	}
	if g.deps.MFA == nil {
		g.errorPage(w, r, st, http.StatusNotFound, "Not found", "The gate's own second factor is not enabled.")
		return
	}
	token, s, ok := g.sessionOf(w, r, st)
	if !ok {
		return
	}
	st.token, st.sess = token, &s
	g.deps.MFA.Serve(w, r, mfa.Subject{UserID: s.UserID, UserKey: s.Identity.UserKey(), Email: s.Identity.Email,
		Name: s.Identity.Name, SessionID: s.ID, CSRF: s.CSRF, MFAAt: s.MFAAt, ClientIP: st.clientIP,
		RequestID: st.id, UserAgent: r.UserAgent()})
}

// Proven marks the session behind r as having proven its second factor now. The second-factor
// handler calls it after a successful verification; a store that cannot record it is an error,
// never a silent success.
func (g *Gate) Proven(ctx context.Context, _ http.ResponseWriter, r *http.Request, method string) error {
	token := g.sessionToken(r)
	if token == "" {
		return session.ErrNotFound
	}
	s, err := g.deps.Sessions.Get(ctx, token)
	if err != nil {
		return err
	}
	up, ok := g.deps.Sessions.(SessionUpdater)
	if !ok {
		return errors.New("proxy: the session store cannot update sessions")
	}
	s.MFAAt = g.deps.Now()
	return up.Update(ctx, token, s)
}

// factorPending answers a request whose session has not proven its second factor: a browser
// is sent to the gate's factor pages and brought back, an API client gets 401.
func (g *Gate) factorPending(w http.ResponseWriter, r *http.Request, st *reqState) {
	st.effect = "mfa-required"
	if g.deps.MFA == nil || st.sess.UserID == "" {
		g.errorPage(w, r, st, http.StatusForbidden, "Second factor required",
			"Your sign-in did not include a second factor. Sign out, then sign in again with your second factor.")
		return
	}
	if wantsJSON(r) || isUpgrade(r) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		g.problem(w, st, http.StatusUnauthorized, "Second factor required", "Prove your second factor at "+mfa.PathVerify+" first.")
		return
	}
	http.Redirect(w, r, g.deps.MFA.NextStep(r.Context(), st.sess.UserID)+"?rd="+url.QueryEscape(returnTo(st.target)), http.StatusSeeOther)
}
