package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// errGrantGone means a grant was revoked or its user no longer exists.
var errGrantGone = errors.New("devidp: grant revoked")

// tokenError is an RFC 6749 §5.2 error response.
type tokenError struct {
	status      int
	code        string
	description string
	// challenge asks for a WWW-Authenticate header: RFC 6749 §5.2 requires one when the client
	// tried the Authorization header and failed.
	challenge bool
}

func badRequest(code, description string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: code, description: description}
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope,omitempty"`
}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	resp, terr := p.token(w, r)
	if terr != nil {
		if terr.challenge {
			w.Header().Set("WWW-Authenticate", `Basic realm="devidp"`)
		}
		writeJSON(w, terr.status, map[string]string{"error": terr.code, "error_description": terr.description})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) (*tokenResponse, *tokenError) {
	form, err := requestParams(w, r)
	if err != nil {
		return nil, badRequest("invalid_request", "the body must be an application/x-www-form-urlencoded form of at most 64 KiB")
	}
	for name, vs := range form {
		if len(vs) > 1 {
			return nil, badRequest("invalid_request", "parameter "+name+" is repeated")
		}
	}
	client, terr := p.authenticateClient(r, form)
	if terr != nil {
		return nil, terr
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		return p.exchangeCode(client, form)
	case "refresh_token":
		return p.refreshGrant(client, form)
	case "":
		return nil, badRequest("invalid_request", "grant_type is required")
	default:
		return nil, badRequest("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
	}
}

// authenticateClient accepts client_secret_basic or client_secret_post, never both at once.
func (p *Provider) authenticateClient(r *http.Request, form url.Values) (Client, *tokenError) {
	triedHeader := r.Header.Get("Authorization") != ""
	fail := func(description string) (Client, *tokenError) {
		return Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: description, challenge: triedHeader}
	}
	basicID, basicSecret, hasBasic := r.BasicAuth()
	var id, secret string
	switch {
	case hasBasic && form.Has("client_secret"):
		return Client{}, badRequest("invalid_request", "use one client authentication method, not two")
	case hasBasic:
		// RFC 6749 §2.3.1: both parts are form-encoded before they are joined.
		var err1, err2 error
		id, err1 = url.QueryUnescape(basicID)
		secret, err2 = url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return fail("malformed basic credentials")
		}
		if form.Has("client_id") && form.Get("client_id") != id {
			return fail("client_id does not match the authenticated client")
		}
	case form.Has("client_secret"):
		id, secret = form.Get("client_id"), form.Get("client_secret")
	default:
		return fail("client authentication is required")
	}
	client, known := p.clients[id]
	want := sha256.Sum256([]byte("\x00no such client"))
	if known {
		want = sha256.Sum256([]byte(client.Secret))
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 || !known {
		return fail("client authentication failed")
	}
	return client, nil
}

// exchangeCode is the authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.6).
func (p *Provider) exchangeCode(client Client, form url.Values) (*tokenResponse, *tokenError) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "":
		return nil, badRequest("invalid_request", "code is required")
	case redirectURI == "":
		return nil, badRequest("invalid_request", "redirect_uri is required")
	case verifier == "":
		return nil, badRequest("invalid_request", "code_verifier is required")
	}
	now := p.now()
	p.mu.Lock()
	ac, ok := p.codes[tableKey(code)]
	switch {
	case !ok:
		p.mu.Unlock()
		return nil, badRequest("invalid_grant", "unknown authorization code")
	case ac.redeemed:
		// RFC 6749 §4.1.2: a code used twice was stolen by someone; take back what it bought.
		ac.grant.revoked = true
		p.mu.Unlock()
		p.log.Warn("devidp: authorization code replayed; its tokens are revoked", "client_id", client.ID)
		return nil, badRequest("invalid_grant", "authorization code already used")
	case !now.Before(ac.expires):
		delete(p.codes, tableKey(code))
		p.mu.Unlock()
		return nil, badRequest("invalid_grant", "authorization code expired")
	}
	// Whatever the outcome below, the code has now been presented once and is used up.
	ac.redeemed = true
	ac.forgetAt = now.Add(usedCodeTTL)
	p.mu.Unlock()

	switch {
	case ac.clientID != client.ID:
		return nil, badRequest("invalid_grant", "authorization code was issued to another client")
	case ac.redirectURI != redirectURI:
		return nil, badRequest("invalid_grant", "redirect_uri does not match the authorization request")
	case !pkceMatches(verifier, ac.challenge):
		return nil, badRequest("invalid_grant", "code_verifier does not match the code_challenge")
	}
	return p.issueTokens(ac.grant, ac.nonce, now)
}

// refreshGrant is the refresh_token grant with rotation (RFC 9700 §4.14.2).
func (p *Provider) refreshGrant(client Client, form url.Values) (*tokenResponse, *tokenError) {
	raw := form.Get("refresh_token")
	if raw == "" {
		return nil, badRequest("invalid_request", "refresh_token is required")
	}
	now := p.now()
	p.mu.Lock()
	rt, ok := getLocked(p.refresh, tableKey(raw), now)
	switch {
	case !ok || rt.grant.clientID != client.ID || rt.grant.revoked:
		p.mu.Unlock()
		return nil, badRequest("invalid_grant", "unknown, expired or revoked refresh token")
	case rt.used:
		rt.grant.revoked = true
		p.mu.Unlock()
		p.log.Warn("devidp: rotated refresh token reused; its grant is revoked", "client_id", client.ID)
		return nil, badRequest("invalid_grant", "refresh token already used")
	}
	if !subset(strings.Fields(form.Get("scope")), rt.grant.scopes) {
		p.mu.Unlock()
		return nil, badRequest("invalid_scope", "scope exceeds the original grant")
	}
	rt.used = true
	p.mu.Unlock()
	// OpenID Connect Core §12.2: no nonce in an ID token from a refresh.
	return p.issueTokens(rt.grant, "", now)
}

// issueTokens mints an access token, a refresh token and an ID token for g.
func (p *Provider) issueTokens(g *grant, nonce string, now time.Time) (*tokenResponse, *tokenError) {
	access, err1 := p.randomToken()
	refresh, err2 := p.randomToken()
	if err1 != nil || err2 != nil {
		return nil, &tokenError{status: http.StatusInternalServerError, code: "server_error", description: "no randomness"}
	}
	p.mu.Lock()
	user, ok := p.users[canonicalUsername(g.username)]
	var err error
	switch {
	case g.revoked:
		err = errGrantGone
	case !ok || user.Subject != g.subject:
		g.revoked = true
		err = errGrantGone
	default:
		user = normalizeUser(user)
		err = putLocked(p, p.access, tableKey(access), &accessToken{grant: g, expires: now.Add(accessTokenTTL)}, now)
		if err == nil {
			err = putLocked(p, p.refresh, tableKey(refresh), &refreshToken{grant: g, expires: now.Add(refreshTokenTTL)}, now)
		}
	}
	p.mu.Unlock()
	switch {
	case errors.Is(err, errGrantGone):
		return nil, badRequest("invalid_grant", "the grant was revoked or its user no longer exists")
	case err != nil:
		return nil, &tokenError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", description: "too many outstanding tokens"}
	}
	claims := idTokenClaims{
		Issuer:          p.issuer,
		Subject:         g.subject,
		Audience:        g.clientID,
		AuthorizedParty: g.clientID,
		Expiry:          now.Add(idTokenTTL).Unix(),
		IssuedAt:        now.Unix(),
		AuthTime:        g.authTime.Unix(),
		Nonce:           nonce,
		AMR:             g.amr,
		ACR:             g.acr,
		AccessTokenHash: halfHash(access),
		SessionID:       g.sid,
		profileClaims:   profile(user),
	}
	idToken, err := p.keys.sign(claims)
	if err != nil {
		p.log.Error("devidp: sign ID token", "err", err)
		return nil, &tokenError{status: http.StatusInternalServerError, code: "server_error", description: "cannot sign the ID token"}
	}
	p.log.Info("devidp: tokens issued", "user", g.username, "client_id", g.clientID)
	return &tokenResponse{
		AccessToken:  access,
		TokenType:    "Bearer",
		ExpiresIn:    int(accessTokenTTL / time.Second),
		RefreshToken: refresh,
		IDToken:      idToken,
		Scope:        strings.Join(g.scopes, " "),
	}, nil
}

// pkceMatches is RFC 7636 §4.6 for S256, after checking the verifier's form (§4.1).
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		c := verifier[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func subset(small, big []string) bool {
	for _, s := range small {
		if !slices.Contains(big, s) {
			return false
		}
	}
	return true
}
