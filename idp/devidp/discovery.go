package devidp

import (
	"encoding/json"
	"net/http"
)

// discoveryDocument is OpenID Connect Discovery 1.0 metadata; it never changes after New.
// Every ID token and userinfo response carries all the claims the user has, whatever the scopes
// asked for; relying parties must tolerate claims they did not request.
func discoveryDocument(issuer string) ([]byte, error) {
	doc := map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                issuer + "/authorize",
		"token_endpoint":                        issuer + "/token",
		"userinfo_endpoint":                     issuer + "/userinfo",
		"jwks_uri":                              issuer + "/jwks",
		"end_session_endpoint":                  issuer + "/logout",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups", "offline_access"},
		"claims_supported": []string{
			"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "amr", "acr", "at_hash",
			"sid", "email", "email_verified", "name", "preferred_username", "groups",
		},
		"prompt_values_supported":     []string{"none", "login", "consent", "select_account"},
		"claims_parameter_supported":  false,
		"request_parameter_supported": false,
		// The default for request_uri_parameter_supported is true, so it has to be said.
		"request_uri_parameter_supported":                false,
		"authorization_response_iss_parameter_supported": true,
	}
	return json.Marshal(doc)
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	writeJSONBytes(w, http.StatusOK, "public, max-age=60", p.discovery)
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	writeJSONBytes(w, http.StatusOK, "public, max-age=60", p.keys.jwks)
}

func writeJSONBytes(w http.ResponseWriter, status int, cacheControl string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	if cacheControl == "no-store" {
		h.Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSONBytes(w, status, "no-store", body)
}
