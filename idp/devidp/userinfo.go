package devidp

import (
	"net/http"
	"strings"
)

// profileClaims are the claims about the person, shared by the ID token and userinfo.
type profileClaims struct {
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

// idTokenClaims are the claims of an ID token (OpenID Connect Core §2).
type idTokenClaims struct {
	Issuer          string   `json:"iss"`
	Subject         string   `json:"sub"`
	Audience        string   `json:"aud"`
	AuthorizedParty string   `json:"azp"`
	Expiry          int64    `json:"exp"`
	IssuedAt        int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time"`
	Nonce           string   `json:"nonce,omitempty"`
	AMR             []string `json:"amr,omitempty"`
	ACR             string   `json:"acr,omitempty"`
	AccessTokenHash string   `json:"at_hash,omitempty"`
	SessionID       string   `json:"sid,omitempty"`
	profileClaims
}

type userinfoClaims struct {
	Subject string `json:"sub"`
	profileClaims
}

func profile(u User) profileClaims {
	c := profileClaims{
		Email:             u.Email,
		Name:              u.Name,
		PreferredUsername: u.Username,
		Groups:            u.Groups,
	}
	if u.Email != "" {
		// The demo's addresses are configured by the operator, so they count as verified.
		verified := true
		c.EmailVerified = &verified
	}
	return c
}

// serveUserinfo answers OpenID Connect Core §5.3 for a bearer access token (RFC 6750 §2.1).
func (p *Provider) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		// RFC 6750 §3.1: no error code when the request carried no credentials at all.
		w.Header().Set("WWW-Authenticate", `Bearer realm="devidp"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "a bearer access token is required"})
		return
	}
	now := p.now()
	p.mu.Lock()
	at, ok := getLocked(p.access, tableKey(token), now)
	var user User
	if ok {
		user, ok = p.users[canonicalUsername(at.grant.username)]
		ok = ok && !at.grant.revoked && user.Subject == at.grant.subject
	}
	p.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devidp", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "the access token is unknown, expired or revoked"})
		return
	}
	writeJSON(w, http.StatusOK, userinfoClaims{Subject: user.Subject, profileClaims: profile(normalizeUser(user))})
}
