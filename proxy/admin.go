package proxy

import (
	"errors"
	"net/http"

	"github.com/tollgate/tollgate/idp/admin"
	"github.com/tollgate/tollgate/idp/session"
)

// AdminAPI serves the user-admin API and pages. It authorizes its callers itself (an
// administrator's session with a fresh second factor, or an API token), so the gate only tells
// it who the session belongs to.
type AdminAPI interface {
	Serve(w http.ResponseWriter, r *http.Request, caller *admin.Caller)
}

var _ AdminAPI = (*admin.Handler)(nil)

// serveAdmin hands /_tollgate/admin/… to the admin handler with the session's person, or nil
// when there is no usable session (API tokens need none). A session store that cannot answer
// fails closed.
func (g *Gate) serveAdmin(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.route, st.effect = "_tollgate/admin", "admin"
	if !g.allow(w, r, st, "admin_ip", st.clientIP, g.cfg.RateLimits.AdminPerIP) {
		return
	}
	if g.deps.Admin == nil {
		g.errorPage(w, r, st, http.StatusNotFound, "Not found", "User administration is not enabled: configure a durable store.")
		return
	}
	var caller *admin.Caller
	if token := g.sessionToken(r); token != "" {
		s, err := g.deps.Sessions.Get(r.Context(), token)
		switch {
		case err == nil:
			st.sess = &s
			caller = adminCaller(&s, st)
		case !errors.Is(err, session.ErrNotFound):
			g.storeFailed(w, r, st, err)
			return
		}
	}
	g.deps.Admin.Serve(w, r, caller)
}

func adminCaller(s *session.Session, st *reqState) *admin.Caller {
	return &admin.Caller{Kind: "session", UserID: s.UserID, Email: s.Identity.Email, Name: s.Identity.Name,
		Roles: s.Roles, MFAAt: s.MFAAt, CSRF: s.CSRF, SessionID: s.ID, ClientIP: st.clientIP, RequestID: st.id}
}
