package devidp

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	maxFormBytes = 64 << 10
	maxParamLen  = 2048
)

// authError is an error the authorization endpoint reports to the client by redirect.
type authError struct{ code, description string }

func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	params, err := requestParams(w, r)
	if err != nil {
		p.renderMessage(w, http.StatusBadRequest, "Sign-in request refused", "The sign-in request could not be read.")
		return
	}
	// Until client and redirect URI are known to belong together, an error is shown here and
	// never sent anywhere (RFC 6749 §4.1.2.1): an open redirector is the classic OAuth hole.
	client, redirectURI, problem := p.clientRedirect(params)
	if problem != "" {
		p.log.Info("devidp: authorization refused", "reason", problem)
		p.renderMessage(w, http.StatusBadRequest, "Sign-in request refused", problem)
		return
	}
	state := ""
	if vs := params["state"]; len(vs) == 1 && len(vs[0]) <= maxParamLen {
		state = vs[0]
	}
	pending, aerr := parseAuthRequest(params, client, redirectURI)
	if aerr == nil && slices.Contains(strings.Fields(params.Get("prompt")), "none") {
		// There is never an IdP session to reuse, so a silent login cannot succeed.
		aerr = &authError{"login_required", "the user must sign in"}
	}
	if aerr != nil {
		p.log.Info("devidp: authorization refused", "client_id", client.ID, "error", aerr.code, "reason", aerr.description)
		p.redirectAuthError(w, r, redirectURI, state, aerr)
		return
	}
	id, err := p.randomToken()
	if err != nil {
		p.redirectAuthError(w, r, redirectURI, state, &authError{"server_error", "no randomness"})
		return
	}
	now := p.now()
	pending.expires = now.Add(pendingTTL)
	p.mu.Lock()
	err = putLocked(p, p.pending, tableKey(id), pending, now)
	p.mu.Unlock()
	if err != nil {
		p.log.Warn("devidp: pending sign-in table full", "client_id", client.ID)
		p.redirectAuthError(w, r, redirectURI, state, &authError{"temporarily_unavailable", "too many sign-ins in progress"})
		return
	}
	p.renderLogin(w, http.StatusOK, id, pending, pending.loginHint, "")
}

// requestParams reads the query of a GET, or the form body of a POST (bounded).
func requestParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method == http.MethodGet {
		return url.ParseQuery(r.URL.RawQuery)
	}
	if err := requireForm(r); err != nil {
		return nil, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

// requireForm refuses a POST body that is not application/x-www-form-urlencoded.
func requireForm(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return errors.New("content type must be application/x-www-form-urlencoded")
	}
	return nil
}

// clientRedirect returns the client and its exactly registered redirect URI, or why not.
func (p *Provider) clientRedirect(params url.Values) (Client, string, string) {
	ids, uris := params["client_id"], params["redirect_uri"]
	switch {
	case len(ids) == 0 || ids[0] == "":
		return Client{}, "", "The request names no client (client_id is missing)."
	case len(ids) > 1:
		return Client{}, "", "The request names more than one client."
	}
	client, ok := p.clients[ids[0]]
	if !ok {
		return Client{}, "", "The application is not registered with this provider."
	}
	switch {
	case len(uris) == 0 || uris[0] == "":
		return Client{}, "", "The request has no redirect_uri."
	case len(uris) > 1:
		return Client{}, "", "The request has more than one redirect_uri."
	case !slices.Contains(client.RedirectURIs, uris[0]):
		return Client{}, "", "The redirect_uri is not registered for this application."
	}
	return client, uris[0], ""
}

// parseAuthRequest checks everything after client and redirect URI.
func parseAuthRequest(params url.Values, client Client, redirectURI string) (*pendingAuth, *authError) {
	for name, vs := range params {
		for _, v := range vs {
			if len(v) > maxParamLen {
				return nil, &authError{"invalid_request", "parameter " + strconv.Quote(name) + " is too long"}
			}
		}
	}
	// RFC 6749 §3.1: parameters must not repeat; a repeated one is ambiguous.
	for name, vs := range params {
		if len(vs) > 1 {
			return nil, &authError{"invalid_request", "parameter " + name + " is repeated"}
		}
	}
	if params.Has("request") {
		return nil, &authError{"request_not_supported", "request objects are not supported"}
	}
	if params.Has("request_uri") {
		return nil, &authError{"request_uri_not_supported", "request_uri is not supported"}
	}
	if rt := params.Get("response_type"); rt != "code" {
		if rt == "" {
			return nil, &authError{"invalid_request", "response_type is required"}
		}
		return nil, &authError{"unsupported_response_type", "only response_type=code is supported"}
	}
	if rm := params.Get("response_mode"); rm != "" && rm != "query" {
		return nil, &authError{"invalid_request", "only response_mode=query is supported"}
	}
	scopes := strings.Fields(params.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		return nil, &authError{"invalid_scope", "scope must include openid"}
	}
	challenge := params.Get("code_challenge")
	switch {
	case challenge == "":
		return nil, &authError{"invalid_request", "PKCE code_challenge is required"}
	case params.Get("code_challenge_method") != "S256":
		// A missing method means "plain" (RFC 7636 §4.3), which is refused like an explicit one.
		return nil, &authError{"invalid_request", "code_challenge_method must be S256"}
	case !validChallenge(challenge):
		return nil, &authError{"invalid_request", "code_challenge is not a base64url SHA-256 value"}
	}
	if err := checkPrompt(params.Get("prompt")); err != nil {
		return nil, err
	}
	if ma, ok := params["max_age"]; ok {
		if n, err := strconv.Atoi(ma[0]); err != nil || n < 0 {
			return nil, &authError{"invalid_request", "max_age must be a non-negative integer"}
		}
	}
	return &pendingAuth{
		clientID:    client.ID,
		redirectURI: redirectURI,
		state:       params.Get("state"),
		nonce:       params.Get("nonce"),
		challenge:   challenge,
		scopes:      scopes,
		acrValues:   strings.Fields(params.Get("acr_values")),
		loginHint:   params.Get("login_hint"),
	}, nil
}

func checkPrompt(prompt string) *authError {
	values := strings.Fields(prompt)
	for _, v := range values {
		switch v {
		case "none", "login", "consent", "select_account":
		default:
			return &authError{"invalid_request", "unknown prompt value"}
		}
	}
	if slices.Contains(values, "none") && len(values) > 1 {
		return &authError{"invalid_request", "prompt=none cannot be combined with other values"}
	}
	return nil
}

// validChallenge accepts exactly what S256 produces: 43 base64url characters.
func validChallenge(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// redirectAuthError sends an RFC 6749 §4.1.2.1 error to the (already validated) redirect URI.
func (p *Provider) redirectAuthError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e *authError) {
	q := url.Values{"error": {e.code}, "error_description": {e.description}}
	p.redirectBack(w, r, redirectURI, state, q, http.StatusFound)
}

// redirectBack adds q, state and the RFC 9207 "iss" to a registered redirect URI and redirects.
func (p *Provider) redirectBack(w http.ResponseWriter, r *http.Request, redirectURI, state string, q url.Values, status int) {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs were parsed in New; this cannot happen
		p.renderMessage(w, http.StatusInternalServerError, "Error", "The redirect URI is broken.")
		return
	}
	merged := u.Query()
	for k, vs := range q {
		merged[k] = vs
	}
	if state != "" {
		merged.Set("state", state)
	}
	merged.Set("iss", p.issuer)
	u.RawQuery = merged.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), status)
}
