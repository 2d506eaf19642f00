package mfa

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/session"
)

func TestRoutes(t *testing.T) {
	x, _, _ := enrolled(t)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", PathVerify, http.StatusOK},
		{"HEAD", PathVerify, http.StatusOK},
		{"GET", pathCSS, http.StatusOK},
		{"GET", pathJS, http.StatusOK},
		{"GET", PathPrefix + "nothing", http.StatusNotFound},
		{"GET", PathPrefix + "verify/", http.StatusNotFound},
		{"PUT", PathVerify, http.StatusMethodNotAllowed},
		{"GET", pathRecovery, http.StatusMethodNotAllowed},
		{"GET", pathLoginBegin, http.StatusNotFound}, // WebAuthn is off in this harness
	} {
		res := x.serve(httptest.NewRequest(c.method, c.path, nil))
		if res.Code != c.want {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, res.Code, c.want)
		}
	}
	js := x.get(pathJS)
	if ct := js.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") || js.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("webauthn.js served as %q", ct)
	}
}

func TestPagesCarrySecurityHeaders(t *testing.T) {
	x := newHarness(t)
	for _, path := range []string{PathEnroll, PathVerify, PathAccount, PathPrefix + "nothing"} {
		res := x.get(path)
		if res.Code == http.StatusSeeOther {
			continue
		}
		csp := res.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || res.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: CSP %q, Cache-Control %q", path, csp, res.Header().Get("Cache-Control"))
		}
		body := res.Body.String()
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "onclick") {
			t.Errorf("%s: inline script or style in the page", path)
		}
		if !strings.Contains(body, `href="/_tollgate/assets/gate.css"`) {
			t.Errorf("%s: the page does not use the gate's stylesheet", path)
		}
	}
}

// Every POST needs the session's CSRF token, a form (or JSON) content type, and no foreign
// Origin; the same request with all three is the positive control.
func TestPostsNeedCSRFAndSameOrigin(t *testing.T) {
	x, secret, _ := enrolled(t)
	good := func() *http.Request {
		return formRequest(PathVerify, url.Values{"code": {x.code(secret, 0)}, "csrf": {x.subject().CSRF}})
	}
	for _, c := range []struct {
		name string
		edit func(r *http.Request) *http.Request
		want int
	}{
		{"no csrf", func(*http.Request) *http.Request {
			return formRequest(PathVerify, url.Values{"code": {x.code(secret, 0)}})
		}, http.StatusForbidden},
		{"wrong csrf", func(*http.Request) *http.Request {
			return formRequest(PathVerify, url.Values{"code": {x.code(secret, 0)}, "csrf": {"guess"}})
		}, http.StatusForbidden},
		{"csrf in the query only", func(*http.Request) *http.Request {
			r := formRequest(PathVerify+"?csrf="+url.QueryEscape(x.subject().CSRF), url.Values{"code": {x.code(secret, 0)}})
			return r
		}, http.StatusForbidden},
		{"foreign origin", func(r *http.Request) *http.Request { r.Header.Set("Origin", "https://evil.example"); return r }, http.StatusForbidden},
		{"null origin", func(r *http.Request) *http.Request { r.Header.Set("Origin", "null"); return r }, http.StatusForbidden},
		{"cross-site fetch", func(r *http.Request) *http.Request { r.Header.Set("Sec-Fetch-Site", "cross-site"); return r }, http.StatusForbidden},
		{"text/plain", func(r *http.Request) *http.Request { r.Header.Set("Content-Type", "text/plain"); return r }, http.StatusUnsupportedMediaType},
		{"multipart", func(r *http.Request) *http.Request {
			r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			return r
		}, http.StatusUnsupportedMediaType},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := x.serve(c.edit(good()))
			wantStatus(t, res, c.want)
		})
	}
	if len(x.provenCalls()) != 0 {
		t.Fatal("a refused request proved the factor")
	}
	same := good()
	same.Header.Set("Origin", testPublicURL)
	wantRedirect(t, x.serve(same), "/")
}

func TestRedirectTargetsStayOnTheOrigin(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/invoices/7?tab=lines", "/invoices/7?tab=lines"},
		{"/", "/"},
		{"", "/"},
		{"//evil.example/x", "/"},
		{"/\\evil.example", "/"},
		{"/%2F%2Fevil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"/ /x", "/"},
		{"/\t/evil.example", "/"},
		{"/x\r\nSet-Cookie: a=b", "/"},
		{"evil.example", "/"},
		{"/x#frag", "/"},
		{"/é", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	} {
		if got := safeRD(c.in); got != c.want {
			t.Errorf("safeRD(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	x, secret, _ := enrolled(t)
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}, "rd": {"//evil.example/"}}), "/")
}

func TestPersonWithoutDirectoryAccount(t *testing.T) {
	x := newHarness(t)
	s := x.subject()
	s.UserID = ""
	res := x.serveAs(s, httptest.NewRequest(http.MethodGet, PathEnroll, nil))
	wantStatus(t, res, http.StatusForbidden)
	if ok, err := x.h.Enrolled(t.Context(), ""); ok || err != nil {
		t.Errorf("Enrolled(\"\") = %v, %v", ok, err)
	}
}

func TestIdPModeServesOnlyTheAccountPage(t *testing.T) {
	x := newHarness(t, func(c *Config, d *Deps) {
		c.Mode, c.KeyFile = ModeIdP, ""
		d.Directory, d.Guard, d.Once, d.Proven = nil, nil, nil, nil
	})
	for _, p := range []string{PathEnroll, PathVerify, pathQR} {
		wantStatus(t, x.get(p), http.StatusNotFound)
	}
	res := x.get(PathAccount)
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.Body.String(), "Second factors") || !strings.Contains(res.Body.String(), "Active sessions") {
		t.Errorf("account page in idp mode:\n%s", res.Body)
	}
	if ok, err := x.h.Enrolled(t.Context(), x.user.ID); ok || err != nil {
		t.Errorf("Enrolled in idp mode = %v, %v", ok, err)
	}
}

func TestNewChecksDeps(t *testing.T) {
	x := newHarness(t)
	deps := x.deps
	deps.Guard, deps.Proven = nil, nil
	_, err := New(x.cfg, deps)
	if err == nil || !strings.Contains(err.Error(), "Deps.Guard") || !strings.Contains(err.Error(), "Deps.Proven") {
		t.Errorf("New without Guard and Proven = %v", err)
	}
	cfg := x.cfg
	cfg.KeyFile = "/nonexistent/key"
	if _, err := New(cfg, x.deps); err == nil {
		t.Error("New with a missing key file succeeded")
	}
}

func TestAccountPage(t *testing.T) {
	x, _, _ := enrolled(t)
	ctx := t.Context()
	// Unproven: sent to prove the factor first, and back here afterwards.
	wantRedirect(t, x.get(PathAccount), PathVerify+"?rd=%2F_tollgate%2Faccount")

	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	other, err := x.store.Create(ctx, session.Session{Identity: x.ident, UserID: x.user.ID, CSRF: "c2"})
	if err != nil {
		t.Fatal(err)
	}
	bob := idp.Identity{Issuer: "https://idp.example", Subject: "bob"}
	bobs, err := x.store.Create(ctx, session.Session{Identity: bob, CSRF: "c3"})
	if err != nil {
		t.Fatal(err)
	}
	page := x.get(PathAccount + "?rd=/invoices")
	wantStatus(t, page, http.StatusOK)
	body := page.Body.String()
	for _, want := range []string{
		"Ann Smith", "ann@billing.example", "Authenticator app, added 2030-06-03 09:00 UTC",
		`<span id="codes-left">10</span>`, "(this session)", `href="/invoices" id="back"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if n := strings.Count(between(t, body, `<ul id="sessions">`, `</ul>`), "<li>"); n != 2 {
		t.Errorf("account page lists %d sessions, want 2", n)
	}

	wantStatus(t, x.post(pathSignOutOthers, url.Values{"csrf": {"wrong"}}), http.StatusForbidden)
	if _, err := x.store.Get(ctx, other); err != nil {
		t.Fatal("a refused sign-out ended a session")
	}
	wantRedirect(t, x.post(pathSignOutOthers, url.Values{"rd": {"/invoices"}}), PathAccount+"?done=signed-out&rd=%2Finvoices")
	if _, err := x.store.Get(ctx, other); err == nil {
		t.Error("the other session survived")
	}
	infos, err := x.store.ListUser(ctx, x.ident.UserKey())
	if err != nil || len(infos) != 1 || infos[0].ID != x.subject().SessionID {
		t.Errorf("sessions left = %v, %v; want only this one", infos, err)
	}
	if _, err := x.store.Get(ctx, bobs); err != nil {
		t.Errorf("someone else's session was ended: %v", err)
	}
	got := x.audit.actions(t)
	if got[len(got)-1] != ActionSessionsEnded+" "+reasonOtherSessions {
		t.Errorf("last audit record = %q", got[len(got)-1])
	}
	if !strings.Contains(x.get(PathAccount+"?done=signed-out").Body.String(), "Your other sessions are signed out.") {
		t.Error("no confirmation after signing out")
	}
}

func TestRegenerateCodesNeedsFreshFactor(t *testing.T) {
	x, _, codes := enrolled(t)
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now().Add(-freshFor - time.Second) })
	wantRedirect(t, x.post(pathRegenerate, url.Values{}), PathVerify+"?rd=%2F_tollgate%2Faccount")

	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	res := x.post(pathRegenerate, url.Values{})
	wantStatus(t, res, http.StatusOK)
	list := between(t, res.Body.String(), `id="codes">`, `</ul>`)
	fresh := strings.TrimSuffix(strings.TrimPrefix(strings.Split(list, "</li>")[0], "<li><code>"), "</code>")
	if normalizeRecovery(fresh) == "" {
		t.Fatalf("no new code on the page: %q", list)
	}
	wantStatus(t, x.post(pathRecovery, url.Values{"code": {codes[0]}}), http.StatusUnauthorized) // old codes are gone
	wantRedirect(t, x.post(pathRecovery, url.Values{"code": {fresh}}), "/")
	got := x.audit.actions(t)
	if !strings.Contains(strings.Join(got, ","), ActionRecoveryRenewed) {
		t.Errorf("no renewal in the audit trail: %q", got)
	}
}
