package proxy

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/mfa"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/idp/session"
)

// pendingLogin is kept in the once-store under the state, and taken exactly once by the
// callback. BindHash ties it to the browser that started it: the browser holds the secret in a
// cookie, the store only its hash.
type pendingLogin struct {
	oidc.Pending
	BindHash string `json:"bind"`
}

func (g *Gate) reservedMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+reservedPrefix+"login", g.handleLogin)
	mux.HandleFunc("GET "+reservedPrefix+"callback", g.handleCallback)
	mux.HandleFunc("GET "+reservedPrefix+"logout", g.handleLogoutPage)
	mux.HandleFunc("POST "+reservedPrefix+"logout", g.handleLogout)
	mux.HandleFunc("GET "+reservedPrefix+"me", g.handleMe)
	mux.HandleFunc("GET "+reservedPrefix+"invite", g.handleInvite)
	g.routeForwardAuth(mux)
	if g.assert != nil {
		mux.HandleFunc("GET "+reservedPrefix+"jwks.json", g.assert.serveJWKS)
	}
	mux.HandleFunc("GET "+reservedPrefix+"assets/gate.css", serveCSS)
	mux.HandleFunc(mfa.PathPrefix, g.serveFactor)
	mux.HandleFunc(mfa.PathAccount, g.serveFactor)
	mux.HandleFunc(mfa.PathAccount+"/", g.serveFactor)
	mux.HandleFunc("/_tollgate/admin", g.serveAdmin)
	mux.HandleFunc("/_tollgate/admin/", g.serveAdmin)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		st.route, st.effect = "_tollgate", "invalid"
		g.errorPage(w, r, st, http.StatusNotFound, "Not found", "There is no such gate page.")
	})
	return mux
}

// handleLogin starts a login explicitly; rd is where to return, a same-origin path.
func (g *Gate) handleLogin(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.route, st.effect = "_tollgate/login", "login"
	g.startLogin(w, r, st, safeRedirect(r.URL.Query().Get("rd")))
}

func (g *Gate) startLogin(w http.ResponseWriter, r *http.Request, st *reqState, rd string) {
	if !g.allow(w, r, st, "login_ip", st.clientIP, g.cfg.RateLimits.LoginPerIP) {
		return
	}
	authURL, pend, err := g.deps.Login.Start(r.Context(), rd)
	if err != nil {
		g.deps.Log.Error("login cannot start", "request_id", st.id, "err", err)
		g.errorPage(w, r, st, http.StatusServiceUnavailable, "Sign-in is unavailable",
			"The identity provider cannot be reached right now. Try again in a moment.")
		return
	}
	bind := randomToken()
	b, _ := json.Marshal(pendingLogin{Pending: pend, BindHash: hashHex(bind)})
	if err := g.deps.Once.PutOnce(r.Context(), onceKey(pend.State), b, g.cfg.LoginTTL); err != nil {
		g.storeFailed(w, r, st, err)
		return
	}
	http.SetCookie(w, g.newCookie(g.loginCookieName(pend.State), bind, int(g.cfg.LoginTTL/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
}

// handleCallback completes a login. The state must name a pending login that this browser
// started (its cookie), and is used once: a replayed callback finds nothing.
func (g *Gate) handleCallback(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.route, st.effect = "_tollgate/callback", "login"
	if !g.allow(w, r, st, "login_ip", st.clientIP, g.cfg.RateLimits.LoginPerIP) {
		return
	}
	q := r.URL.Query()
	stateParam := q.Get("state")
	fail := func(status int, reason, title, msg string) {
		g.deps.Metrics.logins.WithLabelValues(reason).Inc()
		rec := g.baseRecord(r, st)
		rec.Event.Category, rec.Event.Type, rec.Event.Action = "authentication", "start", audit.EventLoginFailure
		rec.Event.Outcome, rec.Event.Reason = audit.OutcomeFailure, reason
		_ = g.writeAudit(rec) // the login is refused either way
		g.errorPageLink(w, r, st, status, title, msg, reservedPrefix+"login", "Sign in again")
	}
	if stateParam == "" || len(stateParam) > 512 {
		fail(http.StatusBadRequest, "bad-state", "Sign-in failed", "The sign-in response was incomplete.")
		return
	}
	bind, err := r.Cookie(g.loginCookieName(stateParam))
	g.clearCookie(w, g.loginCookieName(stateParam))
	if err != nil {
		fail(http.StatusBadRequest, "bad-state", "Sign-in failed", "This sign-in was not started in this browser, or it expired.")
		return
	}
	raw, err := g.deps.Once.TakeOnce(r.Context(), onceKey(stateParam))
	if errors.Is(err, session.ErrNotFound) {
		fail(http.StatusBadRequest, "bad-state", "Sign-in failed", "This sign-in expired or was already used.")
		return
	}
	if err != nil {
		g.storeFailed(w, r, st, err)
		return
	}
	var pend pendingLogin
	if err := json.Unmarshal(raw, &pend); err != nil || subtle.ConstantTimeCompare([]byte(hashHex(bind.Value)), []byte(pend.BindHash)) != 1 {
		fail(http.StatusBadRequest, "bad-state", "Sign-in failed", "This sign-in was not started in this browser.")
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusForbidden, "idp-error", "Sign-in failed", "The identity provider refused the sign-in ("+e+").")
		return
	}
	code := q.Get("code")
	if code == "" {
		fail(http.StatusBadRequest, "no-code", "Sign-in failed", "The sign-in response carried no code.")
		return
	}
	res, err := g.deps.Login.Exchange(r.Context(), code, pend.Pending)
	switch {
	case errors.Is(err, oidc.ErrNoSecondFactor):
		fail(http.StatusForbidden, "mfa-missing", "Second factor required",
			"Your sign-in did not include a second factor. Sign in again and complete the second step at your identity provider.")
		return
	case errors.Is(err, oidc.ErrUnavailable):
		g.deps.Log.Error("identity provider unavailable at callback", "request_id", st.id, "err", err)
		fail(http.StatusServiceUnavailable, "idp-unavailable", "Sign-in is unavailable", "The identity provider cannot be reached right now.")
		return
	case err != nil:
		g.deps.Log.Warn("login refused", "request_id", st.id, "err", err)
		fail(http.StatusForbidden, "token-invalid", "Sign-in failed", "The sign-in could not be verified.")
		return
	}
	if !g.allow(w, r, st, "login_account", res.Identity.UserKey(), g.cfg.RateLimits.LoginPerAccount) {
		return
	}
	invitation := ""
	if ck, err := r.Cookie(g.cookie.invite); err == nil {
		invitation = ck.Value
		g.clearCookie(w, g.cookie.invite)
	}
	acct, err := g.deps.Directory.Resolve(r.Context(), res.Identity, invitation)
	if reason, msg, ok := refusal(err); ok {
		fail(http.StatusForbidden, reason, "Sign-in refused", msg)
		return
	}
	if err != nil {
		g.storeFailed(w, r, st, err)
		return
	}
	s := session.Session{Identity: res.Identity, UserID: acct.UserID, Roles: acct.Roles, Owns: acct.Owns, CSRF: randomToken(),
		IDToken: res.IDToken, RefreshToken: res.RefreshToken, TokenExpiry: res.Expiry}
	if res.Identity.MFA && g.cfg.MFAMode != "gate" {
		// The factor was proven when the IdP authenticated the person, which may be earlier
		// than this login if the IdP reused its own session. In "gate" mode only the gate's
		// own factor counts, proven on its pages after this login.
		s.MFAAt = res.Identity.AuthTime
		if s.MFAAt.IsZero() || s.MFAAt.After(g.deps.Now()) {
			s.MFAAt = g.deps.Now()
		}
	}
	// A new token on every login: a session id planted before login is never promoted.
	token, err := g.deps.Sessions.Create(r.Context(), s)
	if err != nil {
		g.storeFailed(w, r, st, err)
		return
	}
	if old := g.sessionToken(r); old != "" {
		_ = g.deps.Sessions.Delete(r.Context(), old) // best effort: the old cookie is replaced anyway
	}
	created, err := g.deps.Sessions.Get(r.Context(), token)
	if err == nil {
		st.sess = &created
	} else {
		st.sess = &s
	}
	rec := g.baseRecord(r, st)
	rec.Event.Category, rec.Event.Type, rec.Event.Action, rec.Event.Outcome = "authentication", "start", audit.EventLogin, audit.OutcomeSuccess
	if err := g.writeAudit(rec); err != nil {
		// A login the trail cannot show did not happen.
		_ = g.deps.Sessions.Delete(r.Context(), token)
		g.deps.Metrics.logins.WithLabelValues("audit-unavailable").Inc()
		g.auditUnavailable(w, r, st, err)
		return
	}
	g.deps.Metrics.logins.WithLabelValues("success").Inc()
	http.SetCookie(w, g.newCookie(g.cookie.session, token, 0))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, safeRedirect(pend.Redirect), http.StatusSeeOther)
}

// refusal maps the directory's reasons to refuse a login to an audit reason and a message for
// the person; ok is false for errors that are not refusals (the store could not answer).
func refusal(err error) (reason, msg string, ok bool) {
	switch {
	case errors.Is(err, directory.ErrBoundElsewhere):
		return "identity-mismatch", "Your email address belongs to another account here. Ask your administrator.", true
	case errors.Is(err, directory.ErrNotInvited):
		return "not-invited", "You do not have access to this application yet. Ask your administrator to invite you.", true
	case errors.Is(err, directory.ErrDisabled):
		return "disabled", "Your account is disabled. Ask your administrator if you need access again.", true
	case errors.Is(err, directory.ErrInvitationNeeded):
		return "invitation-needed", "You have been invited: open the invitation link from your email to sign in the first time.", true
	case errors.Is(err, directory.ErrEmailMismatch):
		return "invitation-email-mismatch", "This invitation was sent to another email address than the one you signed in with.", true
	case errors.Is(err, directory.ErrExpired), errors.Is(err, directory.ErrNotFound):
		return "invitation-invalid", "This invitation link has expired or was already used. Ask your administrator for a new one.", true
	}
	return "", "", false
}

// handleInvite remembers an invitation token for the login it starts: the callback redeems it
// for the person the IdP signs in, if their email matches.
func (g *Gate) handleInvite(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.route, st.effect = "_tollgate/invite", "login"
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 256 {
		g.errorPage(w, r, st, http.StatusBadRequest, "Invalid invitation link", "The invitation link is incomplete. Open it again from your email.")
		return
	}
	http.SetCookie(w, g.newCookie(g.cookie.invite, token, int(g.cfg.LoginTTL/time.Second)))
	g.startLogin(w, r, st, "/")
}

// handleLogout ends the session on the server. It needs the session's CSRF token (form field
// "csrf" or the CSRF header), and a cross-origin Origin is refused outright.
func (g *Gate) handleLogout(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.route, st.effect = "_tollgate/logout", "logout"
	if o := r.Header.Get("Origin"); o != "" && o != g.origin() {
		g.errorPage(w, r, st, http.StatusForbidden, "Sign-out refused", "The sign-out request came from another site.")
		return
	}
	token := g.sessionToken(r)
	if token == "" {
		g.signedOut(w, r, st)
		return
	}
	sess, err := g.deps.Sessions.Get(r.Context(), token)
	if errors.Is(err, session.ErrNotFound) {
		g.clearCookie(w, g.cookie.session)
		g.signedOut(w, r, st)
		return
	}
	if err != nil {
		g.storeFailed(w, r, st, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	given := r.Header.Get(g.cfg.Headers.CSRF)
	if given == "" {
		given = r.PostFormValue("csrf")
	}
	if given == "" || subtle.ConstantTimeCompare([]byte(given), []byte(sess.CSRF)) != 1 {
		g.errorPageLink(w, r, st, http.StatusForbidden, "Sign-out not confirmed",
			"The sign-out request could not be verified. Use the sign-out button of the application.", reservedPrefix+"logout", "Sign out")
		return
	}
	if err := g.deps.Sessions.Delete(r.Context(), token); err != nil {
		g.storeFailed(w, r, st, err)
		return
	}
	st.sess = &sess
	rec := g.baseRecord(r, st)
	rec.Event.Category, rec.Event.Type, rec.Event.Action, rec.Event.Outcome = "authentication", "end", audit.EventLogout, audit.OutcomeSuccess
	_ = g.writeAudit(rec) // ending a session is never held back
	g.clearCookie(w, g.cookie.session)
	g.signedOut(w, r, st)
}

// handleLogoutPage shows a sign-out button for apps that cannot embed one.
func (g *Gate) handleLogoutPage(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.route, st.effect = "_tollgate/logout", "logout"
	p := page{Title: "Sign out", RequestID: st.id, Message: "Sign out of the billing application?"}
	if token := g.sessionToken(r); token != "" {
		if s, err := g.deps.Sessions.Get(r.Context(), token); err == nil {
			p.LogoutCSRF = s.CSRF
			p.ShowLogout = true
		}
	}
	if !p.ShowLogout {
		p.Message = "You are not signed in."
		p.Link, p.LinkText = "/", "Go to the application"
	}
	g.render(w, http.StatusOK, p)
}

func (g *Gate) signedOut(w http.ResponseWriter, _ *http.Request, st *reqState) {
	g.render(w, http.StatusOK, page{Title: "Signed out", Message: "You are signed out.", RequestID: st.id,
		Link: "/", LinkText: "Sign in again"})
}

// handleMe tells a browser script who is signed in.
func (g *Gate) handleMe(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.route, st.effect = "_tollgate/me", "me"
	token := g.sessionToken(r)
	if token == "" {
		g.problem(w, st, http.StatusUnauthorized, "Unauthenticated", "Not signed in.")
		return
	}
	s, err := g.deps.Sessions.Get(r.Context(), token)
	if errors.Is(err, session.ErrNotFound) {
		g.problem(w, st, http.StatusUnauthorized, "Unauthenticated", "Not signed in.")
		return
	}
	if err != nil {
		g.storeFailed(w, r, st, err)
		return
	}
	roles := s.Roles
	if roles == nil {
		roles = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Subject string   `json:"subject"`
		Email   string   `json:"email"`
		Name    string   `json:"name"`
		Roles   []string `json:"roles"`
		MFA     bool     `json:"mfa"`
	}{s.Identity.Subject, s.Identity.Email, s.Identity.Name, roles, s.Identity.MFA})
}

func (g *Gate) origin() string { return g.public.Scheme + "://" + g.public.Host }

// loginCookieName is per login, so that two tabs signing in at once do not undo each other.
func (g *Gate) loginCookieName(state string) string {
	return g.cookie.login + hashHex(state)[:16]
}

func (g *Gate) newCookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: g.cfg.Cookie.secure(), SameSite: http.SameSiteLaxMode}
}

func (g *Gate) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, g.newCookie(name, "", -1))
}

func onceKey(state string) string { return "login:" + hashHex(state) }

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
