package devidp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// serveLogout is the end_session_endpoint of OpenID Connect RP-Initiated Logout 1.0. There is
// no IdP session to end; a valid id_token_hint revokes the tokens of the login it names. The
// browser is sent back only to a post_logout_redirect_uri registered for the client that the
// request proves it comes from.
func (p *Provider) serveLogout(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	params, err := requestParams(w, r)
	if err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Sign-out request refused", "The sign-out request could not be read.")
		return
	}
	for _, vs := range params {
		if len(vs) > 1 {
			p.renderMessage(w, http.StatusBadRequest, "Sign-out request refused", "A parameter of the sign-out request is repeated.")
			return
		}
	}
	clientID, target := params.Get("client_id"), params.Get("post_logout_redirect_uri")
	if hint := params.Get("id_token_hint"); hint != "" {
		claims, err := p.parseIDTokenHint(hint)
		if err != nil || (clientID != "" && clientID != claims.Audience) {
			p.log.Info("devidp: logout with a bad id_token_hint", "err", err)
			p.renderMessage(w, http.StatusBadRequest, "Sign-out request refused", "The id_token_hint was not issued by this provider to this client.")
			return
		}
		clientID = claims.Audience
		if claims.SessionID != "" {
			p.mu.Lock()
			n := p.revokeSessionLocked(claims.SessionID)
			p.mu.Unlock()
			p.log.Info("devidp: logout", "client_id", clientID, "revoked_grants", n)
		}
	}
	if target == "" {
		p.renderMessage(w, http.StatusOK, "Signed out", "You are signed out.")
		return
	}
	client, ok := p.clients[clientID]
	if !ok || !slices.Contains(client.PostLogoutRedirectURIs, target) {
		p.renderMessage(w, http.StatusOK, "Signed out",
			"You are signed out. The return address is not registered for this application, so you stay here.")
		return
	}
	u, err := url.Parse(target)
	if err != nil { // registered URIs were parsed in New; this cannot happen
		p.renderMessage(w, http.StatusOK, "Signed out", "You are signed out.")
		return
	}
	if state := params.Get("state"); state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// parseIDTokenHint accepts an ID token this provider signed, even an expired one (the RP may
// well log out after the token expired).
func (p *Provider) parseIDTokenHint(raw string) (*idTokenClaims, error) {
	payload, err := p.keys.verify(raw)
	if err != nil {
		return nil, err
	}
	var claims idTokenClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("decode id_token_hint: %w", err)
	}
	if claims.Issuer != p.issuer {
		return nil, fmt.Errorf("id_token_hint issued by %q", claims.Issuer)
	}
	return &claims, nil
}

// revokeSessionLocked revokes the grant with the given sid. The caller holds p.mu.
func (p *Provider) revokeSessionLocked(sid string) int {
	n := 0
	revoke := func(g *grant) {
		if g.sid == sid && !g.revoked {
			g.revoked = true
			n++
		}
	}
	for _, c := range p.codes {
		revoke(c.grant)
	}
	for _, t := range p.access {
		revoke(t.grant)
	}
	for _, t := range p.refresh {
		revoke(t.grant)
	}
	return n
}
