package mfa

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/internal/browsertest"
)

// The browser tests drive the pages in a real headless Chromium: the handler runs behind an
// httptest server that stands for the gate, injecting the harness's subject.

// browserStep bounds each step; the browser itself lives as long as the test.
const browserStep = 20 * time.Second

type browser struct {
	t   *testing.T
	ctx context.Context
	url string // the public origin, http://localhost:port
}

// newBrowserHarness starts the server and Chromium. WebAuthn needs a domain name, so the
// public URL is localhost (a secure context over plain http).
func newBrowserHarness(t *testing.T, opts ...harnessOption) (*harness, *browser) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	x := newHarness(t, append([]harnessOption{func(c *Config, _ *Deps) {
		c.PublicURL = public
		c.WebAuthn.Enabled = true
	}}, opts...)...)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/_tollgate/assets/gate.css":
			w.Header().Set("Content-Type", "text/css")
			_, _ = w.Write([]byte("main { max-width: 36rem; }"))
		case strings.HasPrefix(p, PathPrefix) || p == PathAccount || strings.HasPrefix(p, PathAccount+"/"):
			x.h.Serve(w, r, x.subject())
		default: // the application behind the gate
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>App</title><h1 id="app">%s</h1>`, html.EscapeString(r.URL.RequestURI()))
		}
	}))
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return x, startBrowser(t, public)
}

func startBrowser(t *testing.T, public string) *browser {
	t.Helper()
	ctx := browsertest.Start(t)
	return &browser{t: t, ctx: ctx, url: public}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v\n%s", err, b.page())
	}
}

// page describes where the browser is, for a failure message.
func (b *browser) page() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return "at " + loc + ":\n" + text
}

func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

func (b *browser) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.url + path)) }

func (b *browser) text(id string) string {
	b.t.Helper()
	return run(b, chromedp.Text(chromedp.ID(id)))
}

// submitCode types a code into the field and presses the button, then waits for the next page
// (a new document, not the one clicked on) to show the element next.
func (b *browser) submitCode(field, code, button, next string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.ID(field)), chromedp.Clear(chromedp.ID(field)),
		chromedp.SendKeys(chromedp.ID(field), code))
	b.clickAndWait(button, next)
}

// clickAndWait clicks and waits until a new page shows the element next.
func (b *browser) clickAndWait(button, next string) {
	b.t.Helper()
	_ = run(b, chromedp.Evaluate[string](`document.body.dataset.clicked = 'yes'`))
	b.do(chromedp.Click(chromedp.ID(button)), chromedp.WaitReady(chromedp.CSS("body:not([data-clicked])")),
		chromedp.WaitVisible(chromedp.ID(next)))
}

func (b *browser) wantPath(want string) {
	b.t.Helper()
	loc := run(b, chromedp.Location())
	if !strings.HasSuffix(loc, want) || !strings.HasPrefix(loc, b.url) {
		b.t.Fatalf("browser is at %s, want %s%s", loc, b.url, want)
	}
}

func TestBrowserTOTP(t *testing.T) {
	x, b := newBrowserHarness(t, func(c *Config, _ *Deps) { c.MaxAttempts = 3 })

	// Enrol through the pages, reading the key as a person would type it.
	b.open(PathEnroll + "?rd=/invoices/7")
	b.do(chromedp.WaitVisible(chromedp.ID("secret")))
	secret := strings.ReplaceAll(b.text("secret"), " ", "")
	if qr := run(b, chromedp.Evaluate[int](`document.querySelector('img').naturalWidth`)); qr != 200 {
		t.Errorf("the QR image did not load (naturalWidth %d)", qr)
	}
	b.submitCode("code", x.code(secret, 0), "confirm", "codes")
	codes := run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#codes code')).map(e => e.textContent)`))
	if len(codes) != recoveryCount {
		t.Fatalf("the page showed %d recovery codes", len(codes))
	}
	b.clickAndWait("continue", "app")
	b.wantPath("/invoices/7")

	// Next login: a code from the app.
	x.clock.Advance(totpPeriod)
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	code := x.code(secret, 0)
	b.open(PathVerify + "?rd=/payments")
	b.submitCode("code", code, "verify", "app")
	b.wantPath("/payments")

	// The same code again is refused.
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	b.open(PathVerify + "?rd=/payments")
	b.submitCode("code", code, "verify", "error")
	if msg := b.text("error"); !strings.Contains(msg, "already used") {
		t.Errorf("replay message = %q", msg)
	}

	// A recovery code gets in once.
	b.submitCode("recovery", codes[0], "use-recovery", "app")
	b.wantPath("/payments")

	// Wrong codes up to the limit lock the person out, and the page says until when.
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	b.open(PathVerify)
	b.submitCode("code", "000000", "verify", "attempts-left")
	b.submitCode("code", "111111", "verify", "attempts-left")
	b.submitCode("code", "222222", "verify", "locked")
	until := x.clock.Now().Add(x.cfg.Lockout).UTC().Format("15:04")
	if msg := b.text("locked"); !strings.Contains(msg, until) {
		t.Errorf("lockout message %q does not say until %s", msg, until)
	}
	if run(b, chromedp.Evaluate[bool](`document.getElementById('code') !== null`)) {
		t.Error("the code field is still offered while locked out")
	}

	if diff := slices.Compare(x.provenCalls(), []string{methodTOTP, methodTOTP, methodRecovery}); diff != 0 {
		t.Errorf("Proven calls = %q", x.provenCalls())
	}
	want := []string{"mfa_enrolled totp", "mfa_verified totp", "mfa_failed totp:replayed", "mfa_recovery_used recovery",
		"mfa_failed totp:wrong-code", "mfa_failed totp:wrong-code", "mfa_lockout totp:wrong-code"}
	var got []string
	for _, a := range x.audit.actions(t) {
		if !strings.HasPrefix(a, ActionStepUpAsked) {
			got = append(got, a)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit actions:\n got %q\nwant %q", got, want)
	}
}

func TestBrowserWebAuthn(t *testing.T) {
	x, b := newBrowserHarness(t)
	_, err := chromedp.Call(b.ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{})
	if err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	_, err = chromedp.Call(b.ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Transport: cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	// A person whose session proved a factor just now adds a key from the account page.
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	b.open(PathAccount)
	b.do(chromedp.WaitVisible(chromedp.ID("passkey-register")),
		chromedp.Clear(chromedp.ID("passkey-name")), chromedp.SendKeys(chromedp.ID("passkey-name"), "Laptop"),
		chromedp.WaitVisible(chromedp.ID("passkey-register")))
	b.clickAndWait("passkey-register", "notice")
	if name := run(b, chromedp.Text(chromedp.CSS(".passkey .name"))); name != "Laptop" {
		t.Fatalf("account page lists key %q", name)
	}

	// Next login: the key instead of a code.
	x.clock.Advance(time.Hour)
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	b.open(PathVerify + "?rd=/payments")
	b.do(chromedp.WaitVisible(chromedp.ID("passkey-login")))
	b.clickAndWait("passkey-login", "app")
	b.wantPath("/payments")
	if got := x.provenCalls(); !slices.Equal(got, []string{methodWebAuthn}) {
		t.Errorf("Proven calls = %q", got)
	}
	got := strings.Join(x.audit.actions(t), ",")
	for _, want := range []string{"mfa_passkey_added webauthn", "mfa_verified webauthn"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %q: %s", want, got)
		}
	}
	keys, err := x.h.loadPasskeys(t.Context(), x.user.ID)
	if err != nil || len(keys) != 1 || keys[0].LastUsed.IsZero() {
		t.Errorf("stored keys = %+v, %v", keys, err)
	}
}
