package proxy_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp/devidp"
)

// identityHeaders lists spellings of the gate's identity headers that a client might send
// hoping the app reads them: case, "_" for "-", repeats, and the CSRF/assertion headers.
var spoofs = []struct {
	name, header, value string
}{
	{"canonical", "X-Tollgate-User", "attacker"},
	{"lower case", "x-tollgate-user", "attacker"},
	{"upper case", "X-TOLLGATE-USER", "attacker"},
	{"underscores", "X_Tollgate_User", "attacker"},
	{"mixed underscore", "X-Tollgate_User", "attacker"},
	{"roles", "X-Tollgate-Roles", "administrator"},
	{"email", "X-Tollgate-Email", "admin@example.com"},
	{"name", "X_TOLLGATE_NAME", "Ada Admin"},
	{"assertion", "X-Tollgate-Assertion", "forged"},
	{"unknown of ours", "X-Tollgate-Whatever", "spoofed-whatever"},
	{"rewrite url", "X-Original-URL", "/settings"},
	{"rewrite url 2", "X-Rewrite-URL", "/settings"},
	{"forwarded uri", "X-Forwarded-Uri", "/settings"},
	{"method override", "X-HTTP-Method-Override", "DELETE"},
}

func TestSpoofedIdentityHeadersNeverReachTheApp(t *testing.T) {
	e := newEnv(t, envOpts{})
	c, _ := e.login(t, "sales", "/")
	for _, s := range spoofs {
		t.Run(s.name, func(t *testing.T) {
			hdr := http.Header{}
			// Repeated, and named in Connection so hop-by-hop handling is exercised too.
			hdr[s.header] = []string{s.value, s.value + "2"}
			hdr.Set("Connection", "keep-alive, "+s.header)
			r := do(t, c, "GET", e.gateURL+"/whoami", hdr, nil)
			got := e.app.got(r)
			if r.StatusCode != http.StatusOK || got == nil {
				t.Fatalf("positive control: signed-in sales GET /whoami: status %d", r.StatusCode)
			}
			for k, vs := range got.Header {
				for _, v := range vs {
					if strings.Contains(v, s.value) && k != "Connection" {
						t.Errorf("app received %s: %q (spoofed %s)", k, v, s.header)
					}
				}
			}
			if u := got.Header.Get("X-Tollgate-Roles"); u != "sales_rep" {
				t.Errorf("app received roles %q, want the gate's sales_rep", u)
			}
			if got.URL.Path != "/whoami" || got.Method != "GET" {
				t.Errorf("app received %s %s", got.Method, got.URL.Path)
			}
		})
	}
	t.Run("without a session nothing is forwarded", func(t *testing.T) {
		anon := e.client(t)
		before := e.app.count()
		for _, s := range spoofs {
			r := do(t, anon, "GET", e.gateURL+"/whoami", http.Header{s.header: {s.value}}, nil)
			if r.StatusCode != http.StatusFound {
				t.Errorf("spoofed %s without session: status %d, want redirect to login", s.header, r.StatusCode)
			}
		}
		if e.app.count() != before {
			t.Errorf("the app was reached %d times without a session", e.app.count()-before)
		}
	})
	t.Run("session cookie is not forwarded", func(t *testing.T) {
		r := do(t, c, "GET", e.gateURL+"/whoami", http.Header{"Cookie": {"app=1"}}, nil)
		got := e.app.got(r)
		if got == nil {
			t.Fatal("positive control failed")
		}
		if ck := got.Header.Get("Cookie"); strings.Contains(ck, "tollgate") || !strings.Contains(ck, "app=1") {
			t.Errorf("app received Cookie %q, want only app=1", ck)
		}
	})
}

func TestSessionDeletedOnServerIsRefusedAtOnce(t *testing.T) {
	for _, backend := range []string{"embedded", "redis"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, envOpts{backend: backend})
			c, _ := e.login(t, "manager", "/")
			if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
				t.Fatalf("positive control: %d", r.StatusCode)
			}
			if err := e.store.Delete(context.Background(), e.sessionCookie(t, c)); err != nil {
				t.Fatal(err)
			}
			before := e.app.count()
			r := get(t, c, e.gateURL+"/invoices")
			if r.StatusCode != http.StatusFound || e.app.count() != before {
				t.Fatalf("after server-side delete: status %d, app reached %v; want redirect to login and nothing forwarded", r.StatusCode, e.app.count() != before)
			}
			// Removing every session of the user works the same way.
			c2, _ := e.login(t, "manager", "/")
			if _, err := e.store.DeleteUser(context.Background(), userKeyOf(t, e, c2)); err != nil {
				t.Fatal(err)
			}
			if r := get(t, c2, e.gateURL+"/invoices"); r.StatusCode != http.StatusFound {
				t.Fatalf("after DeleteUser: status %d, want redirect to login", r.StatusCode)
			}
		})
	}
}

func userKeyOf(t *testing.T, e *env, c *http.Client) string {
	t.Helper()
	s, err := e.store.Get(context.Background(), e.sessionCookie(t, c))
	if err != nil {
		t.Fatal(err)
	}
	return s.Identity.UserKey()
}

func TestLogoutNeedsCSRFAndEndsSessionOnServer(t *testing.T) {
	e := newEnv(t, envOpts{})
	c, resp := e.login(t, "support", "/")
	page := readBody(t, resp)
	m := hiddenInput.FindStringSubmatch(page)
	if m == nil || m[1] != "csrf" {
		t.Fatalf("the app's page has no sign-out form with a csrf field:\n%s", page)
	}
	token := e.sessionCookie(t, c)
	post := func(form url.Values, hdr http.Header) *http.Response {
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, c, "POST", e.gateURL+"/_tollgate/logout", hdr, strings.NewReader(form.Encode()))
	}
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  http.Header
	}{
		{"no token", url.Values{}, nil},
		{"empty token", url.Values{"csrf": {""}}, nil},
		{"wrong token", url.Values{"csrf": {"x" + htmlUnescape(m[2])}}, nil},
		{"token in query only", nil, nil},
		{"right token, foreign origin", url.Values{"csrf": {htmlUnescape(m[2])}}, http.Header{"Origin": {"https://evil.example"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := post(tc.form, tc.hdr); r.StatusCode != http.StatusForbidden {
				t.Errorf("logout: status %d, want 403", r.StatusCode)
			}
			if _, err := e.store.Get(context.Background(), token); err != nil {
				t.Errorf("session gone after a refused logout: %v", err)
			}
		})
	}
	// Positive control: the form as the page renders it.
	r := post(url.Values{"csrf": {htmlUnescape(m[2])}}, http.Header{"Origin": {e.gateURL}})
	if r.StatusCode != http.StatusOK || !strings.Contains(readBody(t, r), "signed out") {
		t.Fatalf("logout with the page's token: status %d", r.StatusCode)
	}
	if _, err := e.store.Get(context.Background(), token); err == nil {
		t.Fatal("session still exists on the server after logout")
	}
	// The old cookie value is dead even if a copy was kept.
	old := e.client(t)
	u, _ := url.Parse(e.gateURL)
	old.Jar.SetCookies(u, []*http.Cookie{{Name: "tollgate", Value: token}})
	if r := get(t, old, e.gateURL+"/"); r.StatusCode != http.StatusFound {
		t.Fatalf("a kept copy of the cookie after logout: status %d, want redirect to login", r.StatusCode)
	}
}

// startLogin begins a login and returns the client, the IdP's redirect back to the callback.
func (e *env) startLogin(t *testing.T, user, path string) (*http.Client, *url.URL) {
	t.Helper()
	c := e.client(t)
	resp := get(t, c, e.gateURL+path)
	resp = e.idpLogin(t, c, resp.Header.Get("Location"), user, "demo")
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || cb.Query().Get("code") == "" {
		t.Fatalf("IdP did not redirect back with a code: %q", resp.Header.Get("Location"))
	}
	return c, cb
}

func TestCallbackRefusesTamperedStateAndReplayedCode(t *testing.T) {
	e := newEnv(t, envOpts{})
	t.Run("tampered state", func(t *testing.T) {
		for _, tamper := range []func(string) string{
			func(s string) string { return s + "x" },
			func(s string) string { return "A" + s[1:] },
			func(string) string { return "" },
			func(s string) string { return strings.ToUpper(s) },
			func(s string) string { return s[:len(s)/2] },
		} {
			c, cb := e.startLogin(t, "admin", "/")
			q := cb.Query()
			q.Set("state", tamper(q.Get("state")))
			cb.RawQuery = q.Encode()
			if r := get(t, c, cb.String()); r.StatusCode != http.StatusBadRequest || e.sessionCookieOK(c) {
				t.Errorf("tampered state: status %d, want 400 and no session", r.StatusCode)
			}
		}
	})
	t.Run("state from another browser", func(t *testing.T) {
		_, cb := e.startLogin(t, "admin", "/")
		other := e.client(t)
		if r := get(t, other, cb.String()); r.StatusCode != http.StatusBadRequest || e.sessionCookieOK(other) {
			t.Errorf("callback in another browser: status %d, want 400 and no session", r.StatusCode)
		}
	})
	t.Run("replayed callback and code", func(t *testing.T) {
		c, cb := e.startLogin(t, "admin", "/")
		if r := get(t, c, cb.String()); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("positive control: first callback status %d", r.StatusCode)
		}
		// The same callback again: the state was used.
		c2 := e.client(t)
		if r := get(t, c, cb.String()); r.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed callback: status %d, want 400", r.StatusCode)
		}
		// The same code with a fresh, valid state from a new login: the IdP refuses the code.
		_, cb2 := e.startLogin(t, "admin", "/")
		_ = cb2
		c3, cb3 := e.startLogin(t, "support", "/")
		q := cb3.Query()
		q.Set("code", cb.Query().Get("code"))
		cb3.RawQuery = q.Encode()
		if r := get(t, c3, cb3.String()); r.StatusCode == http.StatusSeeOther || e.sessionCookieOK(c3) {
			t.Errorf("replayed code: status %d, want refusal and no session", r.StatusCode)
		}
		_ = c2
	})
}

// sessionCookieOK reports whether c holds a session cookie.
func (e *env) sessionCookieOK(c *http.Client) bool {
	u, _ := url.Parse(e.gateURL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "tollgate" && ck.Value != "" {
			return true
		}
	}
	return false
}

func TestPostLoginRedirectStaysOnOrigin(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, rd := range []string{
		"//evil.example/", "/\\evil.example", "https://evil.example/", "/%2F%2Fevil.example",
		"/\t/evil.example", "javascript:alert(1)", "//user@evil.example", "/_tollgate/logout",
		"\\\\evil.example", "http:/evil.example", "/%5Cevil.example", " //evil.example",
	} {
		t.Run(rd, func(t *testing.T) {
			c := e.client(t)
			resp := get(t, c, e.gateURL+"/_tollgate/login?rd="+url.QueryEscape(rd))
			resp = e.idpLogin(t, c, resp.Header.Get("Location"), "admin", "demo")
			resp = get(t, c, resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
				t.Errorf("rd=%q: after login redirected to %q (status %d), want /: %s", rd, resp.Header.Get("Location"), resp.StatusCode, readBody(t, resp))
			}
		})
	}
	t.Run("positive control", func(t *testing.T) {
		c := e.client(t)
		resp := get(t, c, e.gateURL+"/_tollgate/login?rd="+url.QueryEscape("/invoices/1001?tab=lines"))
		resp = e.idpLogin(t, c, resp.Header.Get("Location"), "admin", "demo")
		resp = get(t, c, resp.Header.Get("Location"))
		if got := resp.Header.Get("Location"); got != "/invoices/1001?tab=lines" {
			t.Errorf("same-origin rd: redirected to %q", got)
		}
	})
}

func TestRedisOutageFailsClosedAndRecovers(t *testing.T) {
	e := newEnv(t, envOpts{backend: "redis"})
	c, _ := e.login(t, "manager", "/")
	if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
		t.Fatalf("positive control: %d", r.StatusCode)
	}
	e.redis.Stop()
	before := e.app.count()
	for _, path := range []string{"/invoices", "/", "/settings"} {
		start := time.Now()
		r := get(t, c, e.gateURL+path)
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with Redis down: status %d, want 503", path, r.StatusCode)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("GET %s with Redis down took %s; it must fail fast", path, d)
		}
	}
	if anon := get(t, e.client(t), e.gateURL+"/invoices"); anon.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("new login with Redis down: status %d, want 503", anon.StatusCode)
	}
	if e.app.count() != before {
		t.Fatal("the app was reached while the session store was down")
	}
	e.redis.Restart()
	// Redis keeps nothing on disk here, so the session is gone: the user is asked to log in
	// again, and logging in works.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := get(t, c, e.gateURL+"/invoices")
		if r.StatusCode == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis returned: status %d, want redirect to login", r.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, _ = e.login(t, "manager", "/")
	if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
		t.Fatalf("after recovery: %d", r.StatusCode)
	}
}

func TestLoginWithoutSecondFactorNeverReachesTheApp(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, amr := range [][]string{nil, {"pwd"}, {"pwd", "kba"}, {"MFA"}} {
		u := devidp.DemoUsers()[0]
		u.AMR = amr
		if err := e.idp.SetUser(u); err != nil {
			t.Fatal(err)
		}
		before := e.app.count()
		c, resp := e.login(t, u.Username, "/")
		if resp.StatusCode != http.StatusForbidden || e.sessionCookieOK(c) || e.app.count() != before {
			t.Errorf("amr %v: status %d, session %v; want 403, no session, app untouched", amr, resp.StatusCode, e.sessionCookieOK(c))
		}
	}
	u := devidp.DemoUsers()[0]
	if err := e.idp.SetUser(u); err != nil {
		t.Fatal(err)
	}
	if _, resp := e.login(t, u.Username, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("positive control with amr %v: %d", u.AMR, resp.StatusCode)
	}
}
