package proxy_test

import (
	"bufio"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/audit"
)

// rawRequest sends bytes as they are, so that request targets no HTTP client would produce can
// be tried; it returns the status code.
func rawRequest(t *testing.T, gateURL, req string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(gateURL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", req, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestUnparseableRequestsAreRefusedBeforeAnything(t *testing.T) {
	e := newEnv(t, envOpts{})
	c, _ := e.login(t, "admin", "/")
	cookie := "tollgate=" + e.sessionCookie(t, c)
	before := e.app.count()
	for _, target := range []string{
		"/settings/..%2f..%2fsettings", "/invoices%2F1001", "/invoices;jsessionid=1",
		"/invoices/%00", "/invoices/%C0%AE%C0%AE/settings", "/invoices/%252e%252e/settings", "/invoices\\..\\settings",
		"http://evil.example/settings", "/../settings", "/invoices/%ZZ",
	} {
		t.Run(target, func(t *testing.T) {
			status := rawRequest(t, e.gateURL, "GET "+target+" HTTP/1.1\r\nHost: gate\r\nCookie: "+cookie+"\r\nConnection: close\r\n\r\n")
			if status != http.StatusBadRequest {
				t.Errorf("GET %s: status %d, want 400", target, status)
			}
		})
	}
	if e.app.count() != before {
		t.Fatalf("the app was reached %d times by refused requests", e.app.count()-before)
	}
	// Positive control: the same connection style with a clean target is served.
	if status := rawRequest(t, e.gateURL, "GET /settings HTTP/1.1\r\nHost: gate\r\nCookie: "+cookie+"\r\nConnection: close\r\n\r\n"); status != http.StatusOK {
		t.Fatalf("positive control GET /settings as admin: %d", status)
	}
	// Decoded unreserved characters and merged slashes are forwarded in canonical form only.
	// Encoded dot segments are decoded and removed: what is authorized is what is forwarded.
	for raw, canonical := range map[string]string{
		"/invoices/%31001": "/invoices/1001", "/invoices/%2e%2e/settings": "/settings", "/invoices/./1001": "/invoices/1001",
	} {
		status := rawRequest(t, e.gateURL, "GET "+raw+" HTTP/1.1\r\nHost: gate\r\nCookie: "+cookie+"\r\nConnection: close\r\n\r\n")
		if status != http.StatusOK || e.app.last() != canonical {
			t.Errorf("GET %s: status %d, app received %q, want %q", raw, status, e.app.last(), canonical)
		}
	}
}

func TestUnauthenticatedAPIGets401AndBrowserIsRedirected(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client(t)
	for _, tc := range []struct {
		method string
		hdr    http.Header
		want   int
	}{
		{"GET", http.Header{"Accept": {"application/json"}}, http.StatusUnauthorized},
		{"POST", nil, http.StatusUnauthorized},
		{"DELETE", nil, http.StatusUnauthorized},
		{"GET", http.Header{"X-Requested-With": {"XMLHttpRequest"}}, http.StatusUnauthorized},
		{"GET", http.Header{"Accept": {"text/html,application/xhtml+xml"}}, http.StatusFound},
		{"GET", nil, http.StatusFound},
	} {
		r := do(t, c, tc.method, e.gateURL+"/invoices", tc.hdr, nil)
		if r.StatusCode != tc.want {
			t.Errorf("%s %v: status %d, want %d", tc.method, tc.hdr, r.StatusCode, tc.want)
		}
		if tc.want == http.StatusUnauthorized && !strings.Contains(r.Header.Get("Content-Type"), "json") {
			t.Errorf("401 is not JSON: %s", r.Header.Get("Content-Type"))
		}
	}
	if e.app.count() != 0 {
		t.Fatal("the app was reached without a session")
	}
}

func TestDeniedPageNamesRoleAndRequestID(t *testing.T) {
	e := newEnv(t, envOpts{})
	c, _ := e.login(t, "sales", "/")
	r := get(t, c, e.gateURL+"/payments")
	body := readBody(t, r)
	rid := r.Header.Get("X-Request-Id")
	if r.StatusCode != http.StatusForbidden || rid == "" || !strings.Contains(body, rid) {
		t.Fatalf("403 page: status %d, request id %q in page: %v", r.StatusCode, rid, strings.Contains(body, rid))
	}
	for _, role := range []string{"billing_manager", "accountant", "support", "administrator"} {
		if !strings.Contains(body, role) {
			t.Errorf("403 page does not name %s as a role that may", role)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("403 page CSP %q", csp)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Error("gate page has inline script or style")
	}
}

func TestMeReportsTheSignedInUser(t *testing.T) {
	e := newEnv(t, envOpts{})
	if r := get(t, e.client(t), e.gateURL+"/_tollgate/me"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/me without session: %d, want 401", r.StatusCode)
	}
	c, _ := e.login(t, "accountant", "/")
	r := get(t, c, e.gateURL+"/_tollgate/me")
	var me struct {
		Subject, Email, Name string
		Roles                []string
		MFA                  bool
	}
	mustJSON(t, readBody(t, r), &me)
	if me.Email != "accountant@example.com" || !slices.Equal(me.Roles, []string{"accountant"}) || !me.MFA || me.Subject == "" || me.Name == "" {
		t.Fatalf("/me = %+v", me)
	}
	// Unknown gate paths are the gate's, never the app's.
	before := e.app.count()
	if r := get(t, c, e.gateURL+"/_tollgate/nothing"); r.StatusCode != http.StatusNotFound || e.app.count() != before {
		t.Fatalf("/_tollgate/nothing: %d, app reached %v", r.StatusCode, e.app.count() != before)
	}
}

func TestAuditRecordsEveryDecisionAndLogin(t *testing.T) {
	e := newEnv(t, envOpts{})
	c, _ := e.login(t, "support", "/")
	get(t, c, e.gateURL+"/payments")
	get(t, c, e.gateURL+"/settings")
	recs := e.audit.records(t)
	var login, allow, deny *audit.Record
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Event.Action == audit.EventLogin:
			login = r
		case r.Event.Action == audit.EventAccess && r.URL.Path == "/payments":
			allow = r
		case r.Event.Action == audit.EventAccess && r.URL.Path == "/settings":
			deny = r
		}
	}
	if login == nil || login.User == nil || login.User.Email != "support@example.com" || login.Session == nil || login.Session.ID == "" {
		t.Fatalf("login record: %+v", login)
	}
	if allow == nil || allow.Event.Outcome != audit.OutcomeSuccess || allow.Policy == nil || allow.Policy.ID == "" || allow.Upstream == nil || allow.Upstream.StatusCode != 200 {
		t.Fatalf("allow record: %+v", allow)
	}
	if deny == nil || deny.Event.Outcome != audit.OutcomeFailure || deny.Policy == nil || deny.Policy.Effect != "deny" || deny.Upstream != nil || deny.HTTP.Response.StatusCode != 403 {
		t.Fatalf("deny record: %+v", deny)
	}
	token := e.sessionCookie(t, c)
	e.audit.mu.Lock()
	trail := e.audit.b.String()
	e.audit.mu.Unlock()
	if strings.Contains(trail, token) {
		t.Fatal("the audit trail contains a session token")
	}
	if n := metricSum(t, e, "tollgate_logins_total"); n != 1 {
		t.Fatalf("tollgate_logins_total = %v, want 1", n)
	}
	if n := metricSum(t, e, "tollgate_policy_decisions_total"); n != 3 {
		t.Fatalf("tollgate_policy_decisions_total = %v, want 3 (/, /payments, /settings)", n)
	}
}

// metricSum adds up every series of a counter family in the gate's registry.
func metricSum(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
