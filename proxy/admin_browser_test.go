package proxy_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/idp/devidp"
	"github.com/tollgate/tollgate/internal/browsertest"
)

// browser starts headless Chromium for a test, with a deadline for the whole test.
func browser(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(browsertest.Start(t), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The administrator, in a real browser through the gate: signs in at the IdP, invites a person,
// gives them a role and disables them — and the person's open session is refused each time it
// should be.
func TestAdministratorManagesUsersInTheBrowser(t *testing.T) {
	e := newEnv(t, envOpts{directory: "sqlite"})
	ctx := browser(t)
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Text("body"))
			t.Fatalf("%s: %v\npage: %s", what, err, body)
		}
	}
	read := func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	step("sign in as the administrator through the IdP",
		chromedp.Navigate(e.gateURL+"/_tollgate/login?rd=/_tollgate/admin/"),
		chromedp.WaitVisible(`input[name=username]`),
		chromedp.SendKeys(`input[name=username]`, "admin"),
		chromedp.SendKeys(`input[name=password]`, "demo"),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`#users`),
	)
	var link string
	step("invite Pat as support",
		chromedp.Navigate(e.gateURL+"/_tollgate/admin/users/new"),
		chromedp.WaitVisible(`#new-user`),
		chromedp.SendKeys(`#email`, "pat@example.com"),
		chromedp.SendKeys(`#name`, "Pat Payments"),
		chromedp.Click(`#role-support`),
		chromedp.Submit(`#new-user`),
		chromedp.WaitVisible(`#invite-link`),
	)
	link = read(chromedp.Value(`#invite-link`))
	if !strings.HasPrefix(link, e.gateURL+"/_tollgate/invite?token=") {
		t.Fatalf("invitation link %q", link)
	}

	// Pat exists at the IdP and accepts the invitation.
	if err := e.idp.SetUser(devidp.User{Username: "pat", Password: "pw", Email: "pat@example.com", Name: "Pat Payments", AMR: []string{"pwd", "mfa"}}); err != nil {
		t.Fatal(err)
	}
	patLogin := func(start string) *http.Client {
		c := e.client(t)
		r := get(t, c, start)
		r = e.idpLogin(t, c, r.Header.Get("Location"), "pat", "pw")
		r = get(t, c, r.Header.Get("Location"))
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("Pat's sign-in: %d %s", r.StatusCode, readBody(t, r))
		}
		return c
	}
	pat := patLogin(link)
	if r := get(t, pat, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
		t.Fatalf("Pat (support) GET /invoices: %d", r.StatusCode)
	}
	patID := e.userID(t, "pat@example.com")

	step("give Pat the billing manager role",
		chromedp.Navigate(e.gateURL+"/_tollgate/admin/users/"+patID),
		chromedp.WaitVisible(`#roles-form`),
		chromedp.Click(`#role-billing_manager`),
		chromedp.Submit(`#roles-form`),
		chromedp.WaitVisible(`#notice`),
	)
	if r := get(t, pat, e.gateURL+"/invoices"); r.StatusCode != http.StatusFound {
		t.Fatalf("after the role change Pat's old session: %d, want the login redirect", r.StatusCode)
	}
	pat = patLogin(e.gateURL + "/")
	var me struct{ Roles []string }
	mustJSON(t, readBody(t, get(t, pat, e.gateURL+"/_tollgate/me")), &me)
	if !slices.Equal(me.Roles, []string{"billing_manager", "support"}) {
		t.Fatalf("Pat's roles after signing in again: %v", me.Roles)
	}

	step("disable Pat",
		chromedp.Navigate(e.gateURL+"/_tollgate/admin/users/"+patID),
		chromedp.WaitVisible(`#disable`),
		chromedp.Click(`#disable`),
		chromedp.WaitVisible(`#enable`),
	)
	before := e.app.count()
	if r := get(t, pat, e.gateURL+"/invoices"); r.StatusCode != http.StatusFound || e.app.count() != before {
		t.Fatalf("Pat's open session after being disabled: %d, want refused", r.StatusCode)
	}
	step("the list shows Pat disabled",
		chromedp.Navigate(e.gateURL+"/_tollgate/admin/?q=pat"),
		chromedp.WaitVisible(`#users`),
	)
	status := read(chromedp.Text(`#users tr[data-email="pat@example.com"] .status`))
	if status != "disabled" {
		t.Fatalf("list shows %q", status)
	}
}
