package devidp

import (
	"net/http"
	"net/url"
	"slices"
	"time"
)

// renderLogin shows the login form for the pending request id.
func (p *Provider) renderLogin(w http.ResponseWriter, status int, id string, a *pendingAuth, username, problem string) {
	page := loginPage{
		Action:    p.issuer + "/login",
		RequestID: id,
		ClientID:  a.clientID,
		Username:  username,
		Error:     problem,
	}
	if p.showUsers {
		p.mu.Lock()
		for _, u := range p.users {
			page.Users = append(page.Users, u.Username)
		}
		p.mu.Unlock()
		slices.Sort(page.Users)
	}
	p.renderPage(w, status, "login", page)
}

// loginOutcome is what one submitted login form led to.
type loginOutcome int

const (
	loginGone    loginOutcome = iota // no such pending request, or it expired or was used
	loginWrong                       // wrong credentials; the form is shown again
	loginBlocked                     // wrong credentials once too often; the request is over
	loginFull                        // right credentials, but the code table is full
	loginOK                          // right credentials; code issued
)

// serveLogin checks the submitted credentials against the pending request named in the form
// and, on success, redirects to the client with a fresh authorization code.
func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	form, err := requestParams(w, r)
	if err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Sign-in failed", "The form could not be read.")
		return
	}
	id, username, password := form.Get("auth_request"), form.Get("username"), form.Get("password")
	code, err1 := p.randomToken()
	sid, err2 := p.randomToken()
	if err1 != nil || err2 != nil {
		p.renderMessage(w, http.StatusInternalServerError, "Sign-in failed", "No randomness is available.")
		return
	}
	pending, user, outcome := p.attemptLogin(tableKey(id), username, password, code, sid[:22], p.now())
	switch outcome {
	case loginGone:
		p.renderMessage(w, http.StatusBadRequest, "Sign-in expired",
			"This sign-in request has expired or was already used. Go back to the application and start again.")
	case loginWrong:
		p.log.Info("devidp: login failed", "user", username, "client_id", pending.clientID)
		p.renderLogin(w, http.StatusUnauthorized, id, pending, username, "Wrong username or password.")
	case loginBlocked:
		p.log.Warn("devidp: too many failed logins; request ended", "user", username, "client_id", pending.clientID)
		p.redirectAuthError(w, r, pending.redirectURI, pending.state, &authError{"access_denied", "too many failed sign-in attempts"})
	case loginFull:
		p.log.Warn("devidp: code table full", "client_id", pending.clientID)
		p.redirectAuthError(w, r, pending.redirectURI, pending.state, &authError{"temporarily_unavailable", "cannot issue a code now"})
	case loginOK:
		// Requested acr_values are only recorded: the user's configured ACR is what is asserted,
		// so that tests can make the IdP assert less than was asked for.
		p.log.Info("devidp: login", "user", user.Username, "client_id", pending.clientID, "acr_values", pending.acrValues)
		// 303 so that the browser follows with a GET, not a second POST of the password.
		p.redirectBack(w, r, pending.redirectURI, pending.state, url.Values{"code": {code}}, http.StatusSeeOther)
	}
}

// attemptLogin checks the credentials and, when they match, consumes the pending request and
// stores code bound to it. It all happens under one lock, so that concurrent posts of one form
// can never yield two codes.
func (p *Provider) attemptLogin(key, username, password, code, sid string, now time.Time) (*pendingAuth, User, loginOutcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pending, ok := getLocked(p.pending, key, now)
	if !ok {
		return nil, User{}, loginGone
	}
	user, ok := p.checkPasswordLocked(username, password)
	if !ok {
		pending.failures++
		if pending.failures >= maxLoginFailures {
			delete(p.pending, key)
			return pending, User{}, loginBlocked
		}
		return pending, User{}, loginWrong
	}
	delete(p.pending, key)
	authTime := now
	if t, ok := p.authTimes[canonicalUsername(user.Username)]; ok {
		authTime = t
	}
	ac := &authCode{
		clientID:    pending.clientID,
		redirectURI: pending.redirectURI,
		challenge:   pending.challenge,
		nonce:       pending.nonce,
		expires:     now.Add(codeTTL),
		grant: &grant{
			sid:      sid,
			clientID: pending.clientID,
			username: user.Username,
			subject:  user.Subject,
			scopes:   pending.scopes,
			authTime: authTime,
			amr:      user.AMR,
			acr:      user.ACR,
		},
	}
	if err := putLocked(p, p.codes, tableKey(code), ac, now); err != nil {
		return pending, user, loginFull
	}
	return pending, user, loginOK
}
