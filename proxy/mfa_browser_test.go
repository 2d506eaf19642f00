package proxy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/tollgate/tollgate/idp/devidp"
)

// In a real browser through the gate: a billing manager whose IdP asserts no second factor
// enrols an authenticator app on the gate's pages, signs out with the application's button,
// signs in again with a code, refunds a payment, and — past the five-minute window — is asked for
// the factor again before the next refund.
func TestSecondFactorInTheBrowser(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, envOpts{directory: "sqlite", mfaMode: "either", now: clk.now})
	u := devidp.DemoUsers()[1] // manager
	u.AMR = []string{"pwd"}
	if err := e.idp.SetUser(u); err != nil {
		t.Fatal(err)
	}
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
	signIn := func() {
		t.Helper()
		step("sign in at the IdP",
			chromedp.WaitVisible(`input[name=username]`),
			chromedp.SendKeys(`input[name=username]`, "manager"),
			chromedp.SendKeys(`input[name=password]`, "demo"),
			chromedp.Submit(`input[name=password]`),
		)
	}
	step("open a payment", chromedp.Navigate(e.gateURL+"/payments/2002"))
	signIn()
	step("the gate asks to enrol", chromedp.WaitVisible(`#secret`))
	secret := strings.ReplaceAll(read(chromedp.Text(`#secret`)), " ", "")
	code, _ := totp.GenerateCode(secret, clk.now())
	step("confirm the app", chromedp.SendKeys(`#code`, code), chromedp.Submit(`#code`), chromedp.WaitVisible(`#codes`))
	if n := strings.Count(read(chromedp.Text(`#codes`)), "-"); n < 10 {
		t.Fatalf("recovery codes shown: %d", n)
	}
	step("back to the payment", chromedp.Click(`#continue`), chromedp.WaitVisible(`button.danger`))

	step("sign out with the application's button",
		chromedp.Click(`header form button, nav form button, form[action="/_tollgate/logout"] button`),
		chromedp.WaitVisible(`main`),
	)
	if body := read(chromedp.Text("body")); !strings.Contains(body, "You are signed out") {
		t.Fatalf("after sign-out: %s", body)
	}

	step("open the payment again", chromedp.Navigate(e.gateURL+"/payments/2002"))
	signIn()
	clk.advance(30 * time.Second) // the next code: the one used at enrolment is spent
	code, _ = totp.GenerateCode(secret, clk.now())
	step("verify with a code", chromedp.WaitVisible(`#verify`), chromedp.SendKeys(`#code`, code), chromedp.Submit(`#code`),
		chromedp.WaitVisible(`button.danger`))
	step("refund with a fresh factor", chromedp.Submit(`button.danger`), chromedp.WaitNotPresent(`button.danger`))
	if body := read(chromedp.Text("body")); !strings.Contains(strings.ToLower(body), "refunded") {
		t.Fatalf("after the refund: %s", body)
	}

	clk.advance(6 * time.Minute)
	step("refund another payment, past the window", chromedp.Navigate(e.gateURL+"/payments/2003"),
		chromedp.WaitVisible(`button.danger`), chromedp.Submit(`button.danger`), chromedp.WaitNotPresent(`button.danger`))
	if body := read(chromedp.Text("body")); !strings.Contains(body, "second factor proven within the last 5m0s") {
		t.Fatalf("stale refund: %s", body)
	}
	step("confirm it is you", chromedp.Click(`a[href^="/_tollgate/mfa/verify"]`), chromedp.WaitVisible(`#verify`))
	code, _ = totp.GenerateCode(secret, clk.now())
	step("verify", chromedp.SendKeys(`#code`, code), chromedp.Submit(`#code`), chromedp.WaitVisible(`button.danger`))
	step("refund again", chromedp.Submit(`button.danger`), chromedp.WaitNotPresent(`button.danger`))
	if body := read(chromedp.Text("body")); !strings.Contains(strings.ToLower(body), "refunded") {
		t.Fatalf("refund after the step-up: %s", body)
	}
}
