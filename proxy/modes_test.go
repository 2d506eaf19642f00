package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/idp/devidp"
)

// In "gate" mode only the gate's own factor counts: an IdP that asserts one changes nothing.
func TestGateModeIgnoresTheIdPFactor(t *testing.T) {
	e := newEnv(t, envOpts{directory: "sqlite", mfaMode: "gate"})
	before := e.app.count()
	_, resp := e.login(t, "accountant", "/reports") // the demo IdP asserts amr [pwd mfa]
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/_tollgate/mfa/enroll") {
		t.Fatalf("gate mode with an IdP-asserted factor: %d → %q, want the gate's enrolment", resp.StatusCode, resp.Header.Get("Location"))
	}
	if e.app.count() != before {
		t.Fatal("the app was reached before the gate's factor")
	}
}

// In "idp" mode an acr value can stand for the second factor, as configured; an IdP that asserts
// neither an accepted amr nor an accepted acr never lets the person reach the app.
func TestIdPModeAcceptsConfiguredACR(t *testing.T) {
	e := newEnv(t, envOpts{mfaAMR: []string{}, acr: []string{"urn:acme:loa:2"}})
	for _, tc := range []struct {
		name string
		amr  []string
		acr  string
		ok   bool
	}{
		{"accepted acr", []string{"pwd"}, "urn:acme:loa:2", true},
		{"other acr", []string{"pwd"}, "urn:acme:loa:1", false},
		{"amr mfa, but only acr is accepted", []string{"pwd", "mfa"}, "", false},
		{"nothing asserted", nil, "", false},
		{"case differs", []string{"pwd"}, "URN:ACME:LOA:2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := devidp.DemoUsers()[4] // support
			u.AMR, u.ACR = tc.amr, tc.acr
			if err := e.idp.SetUser(u); err != nil {
				t.Fatal(err)
			}
			before := e.app.count()
			_, resp := e.login(t, "support", "/")
			if got := resp.StatusCode == http.StatusOK && e.app.count() != before; got != tc.ok {
				t.Fatalf("status %d, app reached %v; want reached=%v", resp.StatusCode, e.app.count() != before, tc.ok)
			}
		})
	}
}

// The application cannot set the gate's cookies, and the gate's refusals of oversized headers
// are clear.
func TestUpstreamCannotSetTheGatesCookies(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.app.setCookies = []string{"tollgate=planted; Path=/", "tollgate_login_abc=x", "tollgate_invite=y", "app=kept; Path=/"}
	c, _ := e.login(t, "support", "/")
	r := get(t, c, e.gateURL+"/invoices")
	got := r.Header.Values("Set-Cookie")
	if len(got) != 1 || !strings.HasPrefix(got[0], "app=kept") {
		t.Fatalf("Set-Cookie reaching the browser: %q; want only app=kept", got)
	}
	if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
		t.Fatalf("the session still works: %d", r.StatusCode)
	}
}
