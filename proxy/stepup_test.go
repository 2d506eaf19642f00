package proxy_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The example policy asks for a second factor proven within 5 minutes for refunds and voids,
// and within 15 for settings.
func TestMoneyMovingRoutesNeedAFreshSecondFactor(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, envOpts{now: clk.now})
	c, _ := e.login(t, "manager", "/")
	refund := func(id string) *http.Response {
		return do(t, c, "POST", e.gateURL+"/payments/"+id+"/refund",
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}, strings.NewReader(""))
	}
	if r := refund("2002"); r.StatusCode != http.StatusOK {
		t.Fatalf("positive control: refund right after login: %d %s", r.StatusCode, readBody(t, r))
	}
	clk.advance(6 * time.Minute)
	before := e.app.count()
	r := refund("2003")
	if r.StatusCode != http.StatusUnauthorized || e.app.count() != before || !strings.Contains(readBody(t, r), "Step-up required") {
		t.Fatalf("refund 6 minutes after the factor: status %d, app reached %v; want 401 step-up", r.StatusCode, e.app.count() != before)
	}
	// Reading is not money-moving: still allowed.
	if r := get(t, c, e.gateURL+"/payments"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /payments 6 minutes after login: %d", r.StatusCode)
	}
	// A browser posting the refund form is shown a page that leads through a new sign-in
	// back to the page the form was on; the form itself is not replayed.
	page := do(t, c, "POST", e.gateURL+"/payments/2002/refund", http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"}, "Referer": {e.gateURL + "/payments/2002"}}, strings.NewReader(""))
	body := readBody(t, page)
	if page.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "/_tollgate/login?rd="+url.QueryEscape("/payments/2002")) {
		t.Fatalf("stale refund from the browser: %d\n%s", page.StatusCode, body)
	}
	resp := get(t, c, e.gateURL+"/_tollgate/login?rd=%2Fpayments%2F2002")
	resp = e.idpLogin(t, c, resp.Header.Get("Location"), "manager", "demo")
	resp = get(t, c, resp.Header.Get("Location"))
	if resp.Header.Get("Location") != "/payments/2002" {
		t.Fatalf("after the new sign-in: redirected to %q", resp.Header.Get("Location"))
	}
	if r := refund("2003"); r.StatusCode != http.StatusOK {
		t.Fatalf("refund after the new sign-in: %d", r.StatusCode)
	}
}
