package devidp_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/idp/devidp"

	"github.com/tollgate/tollgate/internal/testclock"
)

func TestReplayedCodeIsRefusedAndRevokesItsTokens(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	a := newAuthRequest()
	q := h.login(t, a, "admin", "demo")
	tok, _, _ := h.exchange(t, ctx, q.Get("code"), a.verifier)
	if status := userinfoStatus(t, h, tok.AccessToken); status != http.StatusOK {
		t.Fatalf("userinfo before the replay: %d", status)
	}

	_, err := h.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(a.verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("second exchange: %v, want 400 invalid_grant", err)
	}
	if status := userinfoStatus(t, h, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("access token from a replayed code: userinfo %d, want 401", status)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	if status, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, clientID, clientSecret); body["error"] != "invalid_grant" {
		t.Errorf("refresh token from a replayed code: %d %v, want invalid_grant", status, body)
	}
}

func TestCodeIsBoundToItsRequest(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		change func(form url.Values, a authRequest) (id, secret string)
		status int
		error  string
	}{
		{"control", func(url.Values, authRequest) (string, string) { return clientID, clientSecret }, http.StatusOK, ""},
		{"wrong verifier", func(f url.Values, _ authRequest) (string, string) {
			f.Set("code_verifier", oauth2.GenerateVerifier())
			return clientID, clientSecret
		}, http.StatusBadRequest, "invalid_grant"},
		{"challenge sent as verifier", func(f url.Values, a authRequest) (string, string) {
			f.Set("code_verifier", oauth2.S256ChallengeFromVerifier(a.verifier))
			return clientID, clientSecret
		}, http.StatusBadRequest, "invalid_grant"},
		{"verifier too short", func(f url.Values, a authRequest) (string, string) {
			f.Set("code_verifier", a.verifier[:42])
			return clientID, clientSecret
		}, http.StatusBadRequest, "invalid_grant"},
		{"missing verifier", func(f url.Values, _ authRequest) (string, string) {
			f.Del("code_verifier")
			return clientID, clientSecret
		}, http.StatusBadRequest, "invalid_request"},
		{"other redirect_uri", func(f url.Values, _ authRequest) (string, string) {
			f.Set("redirect_uri", h.cb.srv.URL+"/other")
			return clientID, clientSecret
		}, http.StatusBadRequest, "invalid_grant"},
		{"missing redirect_uri", func(f url.Values, _ authRequest) (string, string) {
			f.Del("redirect_uri")
			return clientID, clientSecret
		}, http.StatusBadRequest, "invalid_request"},
		{"another client", func(url.Values, authRequest) (string, string) { return otherID, otherSecret }, http.StatusBadRequest, "invalid_grant"},
		{"unknown code", func(f url.Values, _ authRequest) (string, string) {
			f.Set("code", f.Get("code")+"x")
			return clientID, clientSecret
		}, http.StatusBadRequest, "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthRequest()
			q := h.login(t, a, "sales", "demo")
			form := url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {q.Get("code")},
				"redirect_uri":  {h.callback},
				"code_verifier": {a.verifier},
			}
			id, secret := tc.change(form, a)
			status, header, body := postToken(t, h.oauth.Endpoint.TokenURL, form, id, secret)
			if status != tc.status || (tc.error != "" && body["error"] != tc.error) {
				t.Fatalf("status %d body %v; want %d %q", status, body, tc.status, tc.error)
			}
			if header.Get("Cache-Control") != "no-store" || header.Get("Pragma") != "no-cache" {
				t.Errorf("Cache-Control %q Pragma %q, want no-store/no-cache", header.Get("Cache-Control"), header.Get("Pragma"))
			}
			if tc.status == http.StatusOK {
				for _, k := range []string{"access_token", "refresh_token", "id_token"} {
					if s, _ := body[k].(string); s == "" {
						t.Errorf("response lacks %s: %v", k, body)
					}
				}
				if body["token_type"] != "Bearer" || body["expires_in"] != float64(300) {
					t.Errorf("token_type %v expires_in %v", body["token_type"], body["expires_in"])
				}
				return
			}
			if d, _ := body["error_description"].(string); d == "" {
				t.Errorf("no error_description: %v", body)
			}
		})
	}
}

func TestFailedRedemptionUsesTheCodeUp(t *testing.T) {
	h := newHarness(t)
	a := newAuthRequest()
	q := h.login(t, a, "sales", "demo")
	_, err := h.oauth.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
	if err == nil {
		t.Fatal("wrong verifier accepted")
	}
	// Whoever stole the code had one try; the rightful client now sees it as used.
	if _, err := h.oauth.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(a.verifier)); err == nil {
		t.Error("code redeemed after a failed attempt")
	}
}

func TestCodeExpiresAfterSixtySeconds(t *testing.T) {
	clock := testclock.At(time.Now())
	h := newHarness(t, func(c *devidp.Config) { c.Now = clock.Now })
	for _, tc := range []struct {
		wait   time.Duration
		status int
	}{{59 * time.Second, http.StatusOK}, {61 * time.Second, http.StatusBadRequest}} {
		a := newAuthRequest()
		q := h.login(t, a, "support", "demo")
		clock.Advance(tc.wait)
		form := url.Values{
			"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"redirect_uri": {h.callback}, "code_verifier": {a.verifier},
		}
		if status, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, clientID, clientSecret); status != tc.status {
			t.Errorf("after %v: status %d %v, want %d", tc.wait, status, body, tc.status)
		}
	}
}

func TestClientAuthentication(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name      string
		prepare   func(r *http.Request, form url.Values)
		status    int
		error     string
		challenge bool
	}{
		{"client_secret_basic", func(r *http.Request, _ url.Values) {
			r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
		}, http.StatusOK, "", false},
		{"client_secret_post", func(_ *http.Request, f url.Values) {
			f.Set("client_id", clientID)
			f.Set("client_secret", clientSecret)
		}, http.StatusOK, "", false},
		{"basic with client_id in the body too", func(r *http.Request, f url.Values) {
			r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
			f.Set("client_id", clientID)
		}, http.StatusOK, "", false},
		{"basic, wrong secret", func(r *http.Request, _ url.Values) {
			r.SetBasicAuth(clientID, "wrong")
		}, http.StatusUnauthorized, "invalid_client", true},
		{"post, wrong secret", func(_ *http.Request, f url.Values) {
			f.Set("client_id", clientID)
			f.Set("client_secret", clientSecret+"x")
		}, http.StatusUnauthorized, "invalid_client", false},
		{"post, empty secret", func(_ *http.Request, f url.Values) {
			f.Set("client_id", clientID)
			f.Set("client_secret", "")
		}, http.StatusUnauthorized, "invalid_client", false},
		{"unknown client", func(r *http.Request, _ url.Values) {
			r.SetBasicAuth("nobody", url.QueryEscape(clientSecret))
		}, http.StatusUnauthorized, "invalid_client", true},
		{"client_id only", func(_ *http.Request, f url.Values) {
			f.Set("client_id", clientID)
		}, http.StatusUnauthorized, "invalid_client", false},
		{"bearer instead of basic", func(r *http.Request, _ url.Values) {
			r.Header.Set("Authorization", "Bearer "+clientSecret)
		}, http.StatusUnauthorized, "invalid_client", true},
		{"basic and post at once", func(r *http.Request, f url.Values) {
			r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
			f.Set("client_secret", clientSecret)
		}, http.StatusBadRequest, "invalid_request", false},
		{"basic for one client, client_id of another", func(r *http.Request, f url.Values) {
			r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
			f.Set("client_id", otherID)
		}, http.StatusUnauthorized, "invalid_client", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuthRequest()
			q := h.login(t, a, "accountant", "demo")
			form := url.Values{
				"grant_type": {"authorization_code"}, "code": {q.Get("code")},
				"redirect_uri": {h.callback}, "code_verifier": {a.verifier},
			}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.oauth.Endpoint.TokenURL, nil)
			tc.prepare(req, form)
			resp := sendForm(t, req, "application/x-www-form-urlencoded", form.Encode())
			body := readBody(t, resp)
			if resp.StatusCode != tc.status || (tc.error != "" && !strings.Contains(body, `"error":"`+tc.error+`"`)) {
				t.Fatalf("status %d body %s; want %d %s", resp.StatusCode, body, tc.status, tc.error)
			}
			if got := resp.Header.Get("WWW-Authenticate") != ""; got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want present=%v", resp.Header.Get("WWW-Authenticate"), tc.challenge)
			}
		})
	}
}

func TestTokenEndpointRefusesMalformedRequests(t *testing.T) {
	h := newHarness(t)
	good := url.Values{"client_id": {clientID}, "client_secret": {clientSecret}}
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
		error       string
	}{
		{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed, ""},
		{"JSON body", http.MethodPost, "application/json", `{"grant_type":"authorization_code"}`, http.StatusBadRequest, "invalid_request"},
		{"body over the limit", http.MethodPost, "application/x-www-form-urlencoded",
			good.Encode() + "&grant_type=authorization_code&pad=" + strings.Repeat("a", 70<<10), http.StatusBadRequest, "invalid_request"},
		{"repeated parameter", http.MethodPost, "application/x-www-form-urlencoded",
			good.Encode() + "&grant_type=refresh_token&grant_type=authorization_code", http.StatusBadRequest, "invalid_request"},
		{"password grant", http.MethodPost, "application/x-www-form-urlencoded",
			good.Encode() + "&grant_type=password&username=admin&password=demo", http.StatusBadRequest, "unsupported_grant_type"},
		{"no grant_type", http.MethodPost, "application/x-www-form-urlencoded", good.Encode(), http.StatusBadRequest, "invalid_request"},
		{"control: refresh with an unknown token", http.MethodPost, "application/x-www-form-urlencoded",
			good.Encode() + "&grant_type=refresh_token&refresh_token=nope", http.StatusBadRequest, "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, h.oauth.Endpoint.TokenURL, nil)
			resp := sendForm(t, req, tc.contentType, tc.body)
			body := readBody(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(body, `"error":"`+tc.error+`"`) && tc.error != "" {
				t.Errorf("status %d body %.200s; want %d %s", resp.StatusCode, body, tc.status, tc.error)
			}
		})
	}
}

// sendForm sends req with the given body.
func sendForm(t *testing.T, req *http.Request, contentType, body string) *http.Response {
	t.Helper()
	req.Body = http.NoBody
	if body != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
