package proxy_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tollgate/tollgate/idp/devidp"
)

var secretRE = regexp.MustCompile(`<code id="secret" class="secret">([A-Z2-7 ]+)</code>`)

// postForm posts a form of the gate's own pages (with the page's CSRF token) as a browser would.
func (e *env) postForm(t *testing.T, c *http.Client, path string, form url.Values) *http.Response {
	t.Helper()
	return do(t, c, "POST", e.gateURL+path, http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
		"Origin": {e.gateURL}}, strings.NewReader(form.Encode()))
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", page)
	}
	return htmlUnescape(m[1])
}

// A person whose IdP asserts no second factor enrols the gate's own, uses it at the next
// sign-in, cannot replay a code, and proves it again for a money-moving action.
func TestGateSecondFactorEndToEnd(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, envOpts{directory: "sqlite", mfaMode: "either", now: clk.now})
	u := devidp.DemoUsers()[1] // manager
	u.AMR = []string{"pwd"}
	if err := e.idp.SetUser(u); err != nil {
		t.Fatal(err)
	}
	before := e.app.count()
	c, resp := e.login(t, "manager", "/payments")
	// Signed in at the IdP, but the session has no factor: sent to enrol, nothing forwarded.
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/_tollgate/mfa/enroll?rd=") {
		t.Fatalf("after the IdP login: %d → %q, want the enrolment page", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/payments", "/", "/_tollgate/admin/"} {
		if r := get(t, c, e.gateURL+path); r.StatusCode == http.StatusOK {
			t.Errorf("GET %s before the factor: %d", path, r.StatusCode)
		}
	}
	if e.app.count() != before {
		t.Fatal("the app was reached before the second factor")
	}
	page := readBody(t, get(t, c, e.gateURL+resp.Header.Get("Location")))
	m := secretRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no key on the enrolment page:\n%s", page)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	code, _ := totp.GenerateCode(secret, clk.now())
	r := e.postForm(t, c, "/_tollgate/mfa/enroll", url.Values{"csrf": {csrfOf(t, page)}, "rd": {"/payments"}, "code": {code}})
	if r.StatusCode != http.StatusOK || !strings.Contains(readBody(t, r), `id="codes"`) {
		t.Fatalf("confirming enrolment: %d\n%s", r.StatusCode, readBody(t, r))
	}
	if r := get(t, c, e.gateURL+"/payments"); r.StatusCode != http.StatusOK {
		t.Fatalf("after enrolment GET /payments: %d", r.StatusCode)
	}

	// Next sign-in: asked for a code; the code already used is refused, the next one works.
	c2, resp := e.login(t, "manager", "/payments")
	if !strings.HasPrefix(resp.Header.Get("Location"), "/_tollgate/mfa/verify?rd=") {
		t.Fatalf("second sign-in: → %q, want the verify page", resp.Header.Get("Location"))
	}
	page = readBody(t, get(t, c2, e.gateURL+resp.Header.Get("Location")))
	if r := e.postForm(t, c2, "/_tollgate/mfa/verify", url.Values{"csrf": {csrfOf(t, page)}, "rd": {"/payments"}, "code": {code}}); r.StatusCode == http.StatusSeeOther {
		t.Fatal("a replayed code was accepted")
	}
	if r := get(t, c2, e.gateURL+"/payments"); r.StatusCode == http.StatusOK {
		t.Fatal("the app was reachable after a refused code")
	}
	clk.advance(30 * time.Second)
	code2, _ := totp.GenerateCode(secret, clk.now())
	r = e.postForm(t, c2, "/_tollgate/mfa/verify", url.Values{"csrf": {csrfOf(t, page)}, "rd": {"/payments"}, "code": {code2}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/payments" {
		t.Fatalf("verifying a fresh code: %d → %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get(t, c2, e.gateURL+"/payments"); r.StatusCode != http.StatusOK {
		t.Fatalf("after verification GET /payments: %d", r.StatusCode)
	}

	// Six minutes later a refund needs the factor again, on the gate's own page.
	clk.advance(6 * time.Minute)
	refund := func() *http.Response {
		return do(t, c2, "POST", e.gateURL+"/payments/2002/refund", http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"Referer": {e.gateURL + "/payments/2002"}}, strings.NewReader(""))
	}
	r = refund()
	body := readBody(t, r)
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "/_tollgate/mfa/verify?rd="+url.QueryEscape("/payments/2002")) {
		t.Fatalf("stale refund: %d\n%s", r.StatusCode, body)
	}
	page = readBody(t, get(t, c2, e.gateURL+"/_tollgate/mfa/verify?rd=%2Fpayments%2F2002"))
	code3, _ := totp.GenerateCode(secret, clk.now())
	if r := e.postForm(t, c2, "/_tollgate/mfa/verify", url.Values{"csrf": {csrfOf(t, page)}, "rd": {"/payments/2002"}, "code": {code3}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("step-up verification: %d", r.StatusCode)
	}
	if r := refund(); r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusOK {
		t.Fatalf("refund after the step-up: %d", r.StatusCode)
	}
}
