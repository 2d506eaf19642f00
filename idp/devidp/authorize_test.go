package devidp_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/idp/devidp"
)

// validAuthParams is an authorization request the provider accepts; cases change one thing.
func validAuthParams(h *harness) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {h.callback},
		"scope":                 {"openid email"},
		"state":                 {"st-1"},
		"nonce":                 {"n-1"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
}

func TestAuthorizeErrorsRedirectToTheRegisteredURI(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		change func(url.Values)
		error  string // "" means the login form is shown
	}{
		{"valid request shows the login form", func(url.Values) {}, ""},
		{"prompt=login and max_age are accepted", func(v url.Values) { v.Set("prompt", "login"); v.Set("max_age", "0") }, ""},
		{"missing PKCE", func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"},
		{"PKCE challenge missing, method given", func(v url.Values) { v.Del("code_challenge") }, "invalid_request"},
		{"PKCE plain", func(v url.Values) { v.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"PKCE method missing means plain", func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request"},
		{"PKCE method in lower case", func(v url.Values) { v.Set("code_challenge_method", "s256") }, "invalid_request"},
		{"PKCE challenge too short", func(v url.Values) { v.Set("code_challenge", "abc") }, "invalid_request"},
		{"PKCE challenge not base64url", func(v url.Values) { v.Set("code_challenge", strings.Repeat("+", 43)) }, "invalid_request"},
		{"scope without openid", func(v url.Values) { v.Set("scope", "email profile") }, "invalid_scope"},
		{"implicit flow", func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		{"hybrid flow", func(v url.Values) { v.Set("response_type", "code id_token") }, "unsupported_response_type"},
		{"response_type missing", func(v url.Values) { v.Del("response_type") }, "invalid_request"},
		{"response_mode fragment", func(v url.Values) { v.Set("response_mode", "fragment") }, "invalid_request"},
		{"prompt=none without a session", func(v url.Values) { v.Set("prompt", "none") }, "login_required"},
		{"prompt=none combined", func(v url.Values) { v.Set("prompt", "none login") }, "invalid_request"},
		{"unknown prompt", func(v url.Values) { v.Set("prompt", "sudo") }, "invalid_request"},
		{"negative max_age", func(v url.Values) { v.Set("max_age", "-1") }, "invalid_request"},
		{"request object", func(v url.Values) { v.Set("request", "eyJ.e30.") }, "request_not_supported"},
		{"request_uri", func(v url.Values) { v.Set("request_uri", "https://evil.example/r") }, "request_uri_not_supported"},
		{"repeated nonce", func(v url.Values) { v.Add("nonce", "n-2") }, "invalid_request"},
		{"oversized parameter", func(v url.Values) { v.Set("login_hint", strings.Repeat("a", 3000)) }, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := validAuthParams(h)
			tc.change(v)
			resp, body := get(t, noRedirects(), h.issuer+"/authorize?"+v.Encode())
			if tc.error == "" {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want the login form:\n%s", resp.StatusCode, body)
				}
				parseLoginForm(t, body)
				return
			}
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want 302:\n%s", resp.StatusCode, body)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			q := loc.Query()
			if base := loc.Scheme + "://" + loc.Host + loc.Path; base != h.callback {
				t.Errorf("redirected to %q, want %q", base, h.callback)
			}
			if q.Get("error") != tc.error || q.Get("state") != "st-1" || q.Get("iss") != h.issuer || q.Has("code") {
				t.Errorf("redirect query %v, want error=%s, the state, iss and no code", q, tc.error)
			}
		})
	}
	t.Run("POST is accepted like GET", func(t *testing.T) {
		resp, err := noRedirects().PostForm(h.issuer+"/authorize", validAuthParams(h))
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d:\n%s", resp.StatusCode, body)
		}
		parseLoginForm(t, body)
	})
}

func TestAuthorizeNeverRedirectsToAnUnregisteredURI(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		change func(url.Values)
		status int
	}{
		{"registered URI (control)", func(url.Values) {}, http.StatusOK},
		{"missing client_id", func(v url.Values) { v.Del("client_id") }, http.StatusBadRequest},
		{"unknown client_id", func(v url.Values) { v.Set("client_id", "<script>evil</script>") }, http.StatusBadRequest},
		{"repeated client_id", func(v url.Values) { v.Add("client_id", otherID) }, http.StatusBadRequest},
		{"missing redirect_uri", func(v url.Values) { v.Del("redirect_uri") }, http.StatusBadRequest},
		{"foreign host", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/callback") }, http.StatusBadRequest},
		{"trailing slash", func(v url.Values) { v.Set("redirect_uri", h.callback+"/") }, http.StatusBadRequest},
		{"extra query", func(v url.Values) { v.Set("redirect_uri", h.callback+"?next=https://evil.example") }, http.StatusBadRequest},
		{"dot segments", func(v url.Values) { v.Set("redirect_uri", h.cb.srv.URL+"/x/../callback") }, http.StatusBadRequest},
		{"different case", func(v url.Values) { v.Set("redirect_uri", strings.Replace(h.callback, "/callback", "/Callback", 1)) }, http.StatusBadRequest},
		{"fragment", func(v url.Values) { v.Set("redirect_uri", h.callback+"#x") }, http.StatusBadRequest},
		{"userinfo", func(v url.Values) { v.Set("redirect_uri", strings.Replace(h.callback, "://", "://evil.example@", 1)) }, http.StatusBadRequest},
		{"another client's URI", func(v url.Values) { v.Set("redirect_uri", h.cb.srv.URL+"/other") }, http.StatusBadRequest},
		{"repeated redirect_uri", func(v url.Values) { v.Add("redirect_uri", "https://evil.example/") }, http.StatusBadRequest},
		{"bad URI and no PKCE", func(v url.Values) {
			v.Set("redirect_uri", "https://evil.example/")
			v.Del("code_challenge")
		}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := validAuthParams(h)
			tc.change(v)
			resp, body := get(t, noRedirects(), h.issuer+"/authorize?"+v.Encode())
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q; want %d and no redirect", resp.StatusCode, resp.Header.Get("Location"), tc.status)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type = %q, want a page", resp.Header.Get("Content-Type"))
			}
			if strings.Contains(body, "<script>") {
				t.Error("page reflects markup unescaped")
			}
		})
	}
	if n := h.cb.hitCount(); n != 0 {
		t.Errorf("the relying party was contacted %d times", n)
	}
}

func TestLoginPage(t *testing.T) {
	for _, show := range []bool{false, true} {
		h := newHarness(t, func(c *devidp.Config) { c.ShowUsers = show })
		a := newAuthRequest()
		hint := `"><script>alert(1)</script>`
		resp, body := get(t, newBrowser(), h.authURL(a, oauth2.SetAuthURLParam("login_hint", hint)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for _, want := range []string{
			"<title>Sign in — Tollgate demo IdP</title>",
			"<h1>Sign in — Tollgate demo IdP</h1>",
			`<form method="post" action="` + h.issuer + `/login">`,
			`name="username"`,
			`<input type="password" id="password" name="password"`,
			`value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("ShowUsers=%v: page lacks %q", show, want)
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " src=") || strings.Contains(body, "<link") {
			t.Errorf("ShowUsers=%v: page has unescaped markup or external assets:\n%s", show, body)
		}
		if f := parseLoginForm(t, body); f.fields.Get("auth_request") == "" {
			t.Error("no hidden auth_request field")
		}
		if got := strings.Contains(body, "<code>accountant</code>"); got != show {
			t.Errorf("ShowUsers=%v: usernames listed = %v", show, got)
		}
		for k, want := range map[string]string{
			"Cache-Control":   "no-store",
			"X-Frame-Options": "DENY",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("Content-Security-Policy = %q", csp)
		}
	}
}

func TestWrongPasswordShowsTheFormAgain(t *testing.T) {
	h := newHarness(t)
	a := newAuthRequest()
	browser := newBrowser()
	f := openLogin(t, browser, h.authURL(a))
	for _, cred := range [][2]string{{"admin", "wrong"}, {"admin", ""}, {"nobody", "demo"}, {"admin", "demo "}} {
		resp, body := submit(t, browser, f, cred[0], cred[1])
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password.") {
			t.Fatalf("%q/%q: status %d, want 401 with the error:\n%s", cred[0], cred[1], resp.StatusCode, body)
		}
		if again := parseLoginForm(t, body); again.fields.Get("auth_request") != f.fields.Get("auth_request") {
			t.Error("the form again does not continue the same request")
		}
	}
	if n := h.cb.hitCount(); n != 0 {
		t.Fatalf("a wrong password reached the relying party %d times", n)
	}
	resp, _ := submit(t, browser, f, "admin", "demo")
	if resp.Request.URL.Path != "/callback" || resp.Request.URL.Query().Get("code") == "" {
		t.Errorf("the right password after wrong ones ended at %s", resp.Request.URL)
	}
}

func TestTooManyWrongPasswordsEndTheRequest(t *testing.T) {
	h := newHarness(t)
	a := newAuthRequest()
	browser := newBrowser()
	f := openLogin(t, browser, h.authURL(a))
	for range 4 {
		if resp, _ := submit(t, browser, f, "admin", "guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	resp, _ := submit(t, browser, f, "admin", "guess")
	q := resp.Request.URL.Query()
	if resp.Request.URL.Path != "/callback" || q.Get("error") != "access_denied" || q.Get("state") != a.state {
		t.Fatalf("fifth failure ended at %s, want the callback with access_denied", resp.Request.URL)
	}
	if resp, _ := submit(t, browser, f, "admin", "demo"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the right password on an ended request: status %d, want 400", resp.StatusCode)
	}
}

func TestLoginRequestIsSingleUse(t *testing.T) {
	h := newHarness(t)
	browser := newBrowser()
	f := openLogin(t, browser, h.authURL(newAuthRequest()))
	if resp, _ := submit(t, browser, f, "admin", "demo"); resp.Request.URL.Path != "/callback" {
		t.Fatalf("first submit ended at %s", resp.Request.URL)
	}
	resp, body := submit(t, browser, f, "admin", "demo")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Errorf("second submit: status %d, want 400 expired:\n%s", resp.StatusCode, body)
	}
	forged := loginForm{action: f.action, fields: url.Values{"auth_request": {"made-up"}}}
	if resp, _ := submit(t, browser, forged, "admin", "demo"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown auth_request: status %d, want 400", resp.StatusCode)
	}
	if n := h.cb.hitCount(); n != 1 {
		t.Errorf("relying party reached %d times, want once", n)
	}
	if resp, _ := get(t, browser, h.issuer+"/login"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /login: status %d, want 405", resp.StatusCode)
	}
}

func TestConcurrentSubmitsIssueOneCode(t *testing.T) {
	h := newHarness(t)
	browser := newBrowser()
	f := openLogin(t, browser, h.authURL(newAuthRequest()))
	const n = 16
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			v := url.Values{"auth_request": {f.fields.Get("auth_request")}, "username": {"admin"}, "password": {"demo"}}
			resp, err := noRedirects().PostForm(f.action, v)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	close(statuses)
	redirects := 0
	for s := range statuses {
		switch s {
		case http.StatusSeeOther:
			redirects++
		case http.StatusBadRequest:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if redirects != 1 {
		t.Errorf("%d of %d concurrent submits of one sign-in got a code, want exactly 1", redirects, n)
	}
}
