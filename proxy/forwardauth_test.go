package proxy_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/devidp"
	"github.com/tollgate/tollgate/proxy"
)

// gateWith starts another gate over the env's parts, with its config and deps adjusted.
func (e *env) gateWith(t *testing.T, adjust func(*proxy.Config, *proxy.Deps)) *proxy.Gate {
	t.Helper()
	cfg, deps := e.cfg, e.deps
	metrics, err := proxy.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	deps.Metrics = metrics
	if adjust != nil {
		adjust(&cfg, &deps)
	}
	g, err := proxy.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// trustFrontProxies lets 10.0.0.0/8 ask, in envOpts.gate.
func trustFrontProxies(c *proxy.Config) { c.ForwardAuth.TrustedProxies = []string{"10.0.0.0/8"} }

// frontProxy is a trusted front proxy's address in trustFrontProxies.
const frontProxy = "10.0.0.2:41000"

// ask sends h a forward-auth question from peer, as a front proxy would.
func ask(h http.Handler, peer, method, target string, hdr http.Header) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = peer
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// nginxAsks is the question nginx's auth_request sends about method and uri.
func nginxAsks(cookie, method, uri string) http.Header {
	return http.Header{"Cookie": {cookie}, "X-Original-Method": {method}, "X-Original-Uri": {uri}}
}

// recordsOf returns the audit records of the request that got resp.
func (e *env) recordsOf(t *testing.T, resp *http.Response) []audit.Record {
	t.Helper()
	var out []audit.Record
	for _, r := range e.audit.records(t) {
		if r.HTTP != nil && r.HTTP.Request.ID == resp.Header.Get("X-Request-Id") {
			out = append(out, r)
		}
	}
	return out
}

func (e *env) cookieOf(t *testing.T, user string) string {
	t.Helper()
	c, _ := e.login(t, user, "/")
	return "tollgate=" + e.sessionCookie(t, c)
}

// Only the configured front proxies may ask: anyone else could name any request to decide on.
func TestForwardAuthOnlyFromTrustedFrontProxies(t *testing.T) {
	e := newEnv(t, envOpts{})
	cookie := e.cookieOf(t, "admin")
	logs := &syncBuffer{}
	g := e.gateWith(t, func(c *proxy.Config, d *proxy.Deps) {
		c.ForwardAuth.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}
		d.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	unconfigured := e.gateWith(t, nil)
	for _, tc := range []struct {
		name, peer string
		gate       http.Handler
		extra      http.Header
		trusted    bool
	}{
		{"in a trusted network", "10.1.2.3:40000", g, nil, true},
		{"the trusted address", "192.0.2.7:40000", g, nil, true},
		{"IPv6 in a trusted network", "[2001:db8::5]:40000", g, nil, true},
		{"IPv4-mapped form of a trusted address", "[::ffff:10.1.2.3]:40000", g, nil, true},
		{"just outside the network", "11.0.0.1:40000", g, nil, false},
		{"next to the trusted address", "192.0.2.8:40000", g, nil, false},
		{"IPv6 outside", "[2001:db9::5]:40000", g, nil, false},
		{"loopback", "127.0.0.1:40000", g, nil, false},
		{"IPv6 with a zone", "[fe80::1%eth0]:40000", g, nil, false},
		{"unreadable peer", "somewhere", g, nil, false},
		{"claims a trusted hop", "198.51.100.9:40000", g, http.Header{"X-Forwarded-For": {"10.1.2.3"},
			"X-Real-Ip": {"10.1.2.3"}, "Forwarded": {"for=10.1.2.3"}}, false},
		{"nothing configured: loopback", "127.0.0.1:40000", unconfigured, nil, false},
		{"nothing configured: private network", "10.1.2.3:40000", unconfigured, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := nginxAsks(cookie, "GET", "/settings")
			for k, v := range tc.extra {
				hdr[k] = v
			}
			resp := ask(tc.gate, tc.peer, "GET", "/_tollgate/auth", hdr)
			if tc.trusted {
				if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Tollgate-Email") != "admin@example.com" {
					t.Fatalf("status %d, email %q; want 200 for the administrator", resp.StatusCode, resp.Header.Get("X-Tollgate-Email"))
				}
				return
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "forward-auth is not enabled for this address") {
				t.Errorf("status %d; want 403 naming the reason\n%s", resp.StatusCode, body)
			}
			if resp.Header.Get("X-Tollgate-User") != "" || resp.Header.Get("X-Tollgate-Assertion") != "" {
				t.Error("an untrusted caller received identity headers")
			}
			if recs := e.recordsOf(t, resp); len(recs) != 0 {
				t.Errorf("an untrusted question was decided: %d audit records", len(recs))
			}
		})
	}
	if !strings.Contains(logs.b.String(), "198.51.100.9") {
		t.Errorf("the refusal of 198.51.100.9 was not logged:\n%s", logs.b.String())
	}
}

func TestForwardAuthConfig(t *testing.T) {
	for _, tc := range []struct {
		trusted []string
		ok      bool
	}{
		{nil, true},
		{[]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}, true},
		{[]string{"10.0.0.0/33"}, false},
		{[]string{"nginx.internal"}, false},
		{[]string{"0.0.0.0/0"}, false},
		{[]string{"10.0.0.1", "::/0"}, false},
	} {
		err := proxy.ForwardAuthConfig{TrustedProxies: tc.trusted}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%q: error %v, want ok=%v", tc.trusted, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "gate.forward_auth.trusted_proxies[") {
			t.Errorf("%q: error %q does not name the key", tc.trusted, err)
		}
	}
}

// Each front proxy names the original request its own way; the decision is the gate's, on the
// canonical method and path, whichever way was used.
func TestForwardAuthFrontProxyDialects(t *testing.T) {
	e := newEnv(t, envOpts{gate: trustFrontProxies})
	cookies := map[string]string{}
	for _, u := range []string{"admin", "sales", "support"} {
		cookies[u] = e.cookieOf(t, u)
	}
	dialects := []struct {
		name string
		ask  func(method, uri string) (string, string, http.Header)
	}{
		{"nginx auth_request", func(m, u string) (string, string, http.Header) {
			return "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {m}, "X-Original-Uri": {u}}
		}},
		{"Traefik forwardAuth", func(m, u string) (string, string, http.Header) {
			return "GET", "/_tollgate/auth", http.Header{"X-Forwarded-Method": {m}, "X-Forwarded-Uri": {u},
				"X-Forwarded-Host": {"billing.example.com"}, "X-Forwarded-Proto": {"https"}}
		}},
		{"Caddy forward_auth", func(m, u string) (string, string, http.Header) {
			return "GET", "/_tollgate/auth", http.Header{"X-Forwarded-Method": {m}, "X-Forwarded-Uri": {u}}
		}},
		{"Envoy ext_authz path_prefix", func(m, u string) (string, string, http.Header) {
			return m, "/_tollgate/auth" + u, nil
		}},
		{"two sources that agree", func(m, u string) (string, string, http.Header) {
			return "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {m}, "X-Original-Uri": {u},
				"X-Forwarded-Method": {m}, "X-Forwarded-Uri": {u}}
		}},
	}
	cases := []struct {
		user, method, uri string
		want              int
		path              string // what the decision was about
	}{
		{"admin", "GET", "/settings", http.StatusOK, "/settings"},
		{"support", "GET", "/settings", http.StatusForbidden, "/settings"},
		{"sales", "POST", "/invoices", http.StatusOK, "/invoices"},
		{"support", "POST", "/invoices", http.StatusForbidden, "/invoices"},
		{"sales", "POST", "/invoices/1003/void", http.StatusForbidden, "/invoices/1003/void"},
		{"support", "GET", "/invoices?next=/settings", http.StatusOK, "/invoices"},
		{"support", "GET", "/invoices/%31001", http.StatusOK, "/invoices/1001"},
		{"support", "GET", "/customers/../settings", http.StatusForbidden, "/settings"},
		{"admin", "get", "/settings", http.StatusForbidden, "/settings"},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			for _, tc := range cases {
				method, target, hdr := d.ask(tc.method, tc.uri)
				if hdr == nil {
					hdr = http.Header{}
				}
				hdr.Set("Cookie", cookies[tc.user])
				hdr.Set("X-Forwarded-For", "203.0.113.5")
				resp := ask(e.gate, frontProxy, method, target, hdr)
				if resp.StatusCode != tc.want {
					t.Errorf("%s %s as %s: status %d, want %d", tc.method, tc.uri, tc.user, resp.StatusCode, tc.want)
					continue
				}
				if tc.want == http.StatusOK {
					for name, want := range map[string]string{"X-Tollgate-Email": tc.user + "@example.com",
						"X-Tollgate-Roles": demoRoles[tc.user], "X-Tollgate-User": devidp.DefaultSubject(tc.user)} {
						if got := resp.Header.Get(name); got != want {
							t.Errorf("%s %s as %s: %s = %q, want %q", tc.method, tc.uri, tc.user, name, got, want)
						}
					}
					if resp.Header.Get("X-Tollgate-Csrf") == "" || strings.Count(resp.Header.Get("X-Tollgate-Assertion"), ".") != 2 {
						t.Errorf("%s %s as %s: no CSRF token or signed assertion", tc.method, tc.uri, tc.user)
					}
				} else if resp.Header.Get("X-Tollgate-User") != "" {
					t.Errorf("%s %s as %s: a refusal carried identity headers", tc.method, tc.uri, tc.user)
				}
				recs := e.recordsOf(t, resp)
				if len(recs) != 1 {
					t.Errorf("%s %s as %s: %d audit records, want 1", tc.method, tc.uri, tc.user, len(recs))
					continue
				}
				r := recs[0]
				wantType := audit.EventTypeDenied
				if tc.want == http.StatusOK {
					wantType = audit.EventTypeAllowed
				}
				if r.HTTP.Request.Method != tc.method || r.URL.Path != tc.path || r.Event.Type != wantType ||
					r.Source.IP != "203.0.113.5" || r.HTTP.Response == nil || r.HTTP.Response.StatusCode != tc.want {
					t.Errorf("%s %s as %s: audit record %+v %+v %+v %+v, want %s %s from 203.0.113.5, %s",
						tc.method, tc.uri, tc.user, r.HTTP, r.URL, r.Source, r.Event, tc.method, tc.path, wantType)
				}
			}
		})
	}
}

// A question that does not name exactly one request in canonical form is refused before
// anything is looked up; the front proxy then refuses the request.
func TestForwardAuthRefusesWhatItCannotReadOnce(t *testing.T) {
	e := newEnv(t, envOpts{gate: trustFrontProxies})
	cookie := e.cookieOf(t, "admin")
	for _, tc := range []struct {
		name, method, target string
		hdr                  http.Header
	}{
		{"no method", "GET", "/_tollgate/auth", http.Header{"X-Original-Uri": {"/settings"}}},
		{"no URI", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}}},
		{"nothing at all", "GET", "/_tollgate/auth", nil},
		{"repeated URI", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/invoices", "/settings"}}},
		{"repeated method", "GET", "/_tollgate/auth", http.Header{"X-Forwarded-Method": {"GET", "POST"}, "X-Forwarded-Uri": {"/settings"}}},
		{"URIs disagree", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/invoices"}, "X-Forwarded-Uri": {"/settings"}}},
		{"methods disagree", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Forwarded-Method": {"POST"}, "X-Original-Uri": {"/settings"}}},
		{"Envoy path and a header disagree", "GET", "/_tollgate/auth/invoices", http.Header{"X-Forwarded-Uri": {"/settings"}}},
		{"Envoy method and a header disagree", "POST", "/_tollgate/auth/settings", http.Header{"X-Forwarded-Method": {"GET"}}},
		{"Envoy prefix not as sent", "GET", "/_tollgate/%61uth/settings", nil},
		{"encoded slash", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/settings/..%2f..%2fsettings"}}},
		{"path parameter", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/invoices;jsessionid=1"}}},
		{"NUL", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/invoices/%00"}}},
		{"absolute form", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"http://evil.example/settings"}}},
		{"above the root", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"/../settings"}}},
		{"not a path", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {"settings"}}},
		{"empty URI", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GET"}, "X-Original-Uri": {""}}},
		{"not a method", "GET", "/_tollgate/auth", http.Header{"X-Original-Method": {"GE T"}, "X-Original-Uri": {"/settings"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{"Cookie": {cookie}}
			for k, v := range tc.hdr {
				hdr[k] = v
			}
			resp := ask(e.gate, frontProxy, tc.method, tc.target, hdr)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			if resp.Header.Get("X-Tollgate-User") != "" || len(e.recordsOf(t, resp)) != 0 {
				t.Error("a refused question was decided")
			}
		})
	}
	if resp := ask(e.gate, frontProxy, "GET", "/_tollgate/auth", nginxAsks(cookie, "GET", "/settings")); resp.StatusCode != http.StatusOK {
		t.Fatalf("positive control: status %d", resp.StatusCode)
	}
}

// No session: 401 with where to sign in, which leads back to the request asked about.
func TestForwardAuthSendsToSignIn(t *testing.T) {
	e := newEnv(t, envOpts{gate: trustFrontProxies})
	login := e.gateURL + "/_tollgate/login?rd=" + url.QueryEscape("/reports?year=2024")
	for _, tc := range []struct {
		name string
		hdr  http.Header
	}{
		{"no cookie", http.Header{}},
		{"unknown session", http.Header{"Cookie": {"tollgate=no-such-session"}}},
		{"API client", http.Header{"Accept": {"application/json"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.hdr.Set("X-Original-Method", "GET")
			tc.hdr.Set("X-Original-Uri", "/reports?year=2024")
			resp := ask(e.gate, frontProxy, "GET", "/_tollgate/auth", tc.hdr)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != login ||
				resp.Header.Get("X-Tollgate-Login") != login || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("status %d, Location %q, X-Tollgate-Login %q; want 401 to %q",
					resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("X-Tollgate-Login"), login)
			}
			if recs := e.recordsOf(t, resp); len(recs) != 1 || recs[0].Event.Type != audit.EventTypeDenied || recs[0].URL.Path != "/reports" {
				t.Errorf("audit records %+v, want one denial of /reports", recs)
			}
		})
	}
	c := e.client(t)
	resp := get(t, c, login)
	resp = e.idpLogin(t, c, resp.Header.Get("Location"), "accountant", "demo")
	resp = get(t, c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/reports?year=2024" {
		t.Fatalf("after signing in: %d → %q, want back to /reports?year=2024", resp.StatusCode, resp.Header.Get("Location"))
	}
	ok := ask(e.gate, frontProxy, "GET", "/_tollgate/auth", nginxAsks("tollgate="+e.sessionCookie(t, c), "GET", "/reports?year=2024"))
	if ok.StatusCode != http.StatusOK {
		t.Fatalf("signed in: status %d", ok.StatusCode)
	}
}

func TestForwardAuthSecondFactor(t *testing.T) {
	t.Run("stale", func(t *testing.T) {
		clk := &clock{}
		e := newEnv(t, envOpts{now: clk.now, gate: trustFrontProxies})
		cookie := e.cookieOf(t, "manager")
		hdr := nginxAsks(cookie, "POST", "/payments/2002/refund")
		hdr.Set("Referer", e.gateURL+"/payments/2002")
		if resp := ask(e.gate, frontProxy, "GET", "/_tollgate/auth", hdr); resp.StatusCode != http.StatusOK {
			t.Fatalf("positive control: refund right after login: %d", resp.StatusCode)
		}
		clk.advance(6 * time.Minute)
		resp := ask(e.gate, frontProxy, "GET", "/_tollgate/auth", hdr)
		want := e.gateURL + "/_tollgate/login?rd=" + url.QueryEscape("/payments/2002")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Tollgate-Login") != want ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
			t.Fatalf("stale factor: %d → %q (%s), want 401 to %q", resp.StatusCode, resp.Header.Get("X-Tollgate-Login"),
				resp.Header.Get("WWW-Authenticate"), want)
		}
		if recs := e.recordsOf(t, resp); len(recs) != 1 || recs[0].Event.Reason != "mfa-stale" {
			t.Errorf("audit records %+v, want one mfa-stale denial", recs)
		}
	})
	t.Run("pending", func(t *testing.T) {
		e := newEnv(t, envOpts{directory: "sqlite", mfaMode: "either", gate: trustFrontProxies})
		u := devidp.DemoUsers()[1] // manager, whose IdP login proves no second factor
		u.AMR = []string{"pwd"}
		if err := e.idp.SetUser(u); err != nil {
			t.Fatal(err)
		}
		cookie := e.cookieOf(t, "manager")
		resp := ask(e.gate, frontProxy, "GET", "/_tollgate/auth", nginxAsks(cookie, "GET", "/payments"))
		want := e.gateURL + "/_tollgate/mfa/enroll?rd=%2Fpayments"
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Tollgate-Login") != want || resp.Header.Get("X-Tollgate-User") != "" {
			t.Fatalf("no factor yet: %d → %q, want 401 to %q", resp.StatusCode, resp.Header.Get("X-Tollgate-Login"), want)
		}
	})
}

// A refusal by role is a 403 that names the roles that may; a session store that cannot answer
// is a 503, never an allow.
func TestForwardAuthDeniesAndFailsClosed(t *testing.T) {
	e := newEnv(t, envOpts{backend: "redis", gate: trustFrontProxies})
	cookie := e.cookieOf(t, "support")
	resp := ask(e.gate, frontProxy, "GET", "/_tollgate/auth", nginxAsks(cookie, "GET", "/settings"))
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "administrator") {
		t.Fatalf("support asking for /settings: %d, want 403 naming the administrator\n%s", resp.StatusCode, body)
	}
	if resp := ask(e.gate, frontProxy, "GET", "/_tollgate/auth", nginxAsks(cookie, "GET", "/payments")); resp.StatusCode != http.StatusOK {
		t.Fatalf("positive control: support asking for /payments: %d", resp.StatusCode)
	}
	e.redis.Stop()
	resp = ask(e.gate, frontProxy, "GET", "/_tollgate/auth", nginxAsks(cookie, "GET", "/payments"))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("X-Tollgate-User") != "" {
		t.Fatalf("store down: status %d, want 503 without identity", resp.StatusCode)
	}
	if recs := e.recordsOf(t, resp); len(recs) != 1 || recs[0].Event.Type != audit.EventTypeDenied {
		t.Errorf("store down: audit records %+v, want one denial", recs)
	}
}
