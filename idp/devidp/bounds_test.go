package devidp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/idp/devidp"

	"github.com/tollgate/tollgate/internal/testclock"
)

func TestTablesAreBoundedAndSwept(t *testing.T) {
	clock := testclock.At(time.Now())
	h := newHarness(t, func(c *devidp.Config) {
		c.Now = clock.Now
		c.MaxEntries = 3
	})
	authorize := func() (int, url.Values) {
		t.Helper()
		resp, _ := get(t, noRedirects(), h.authURL(newAuthRequest()))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return resp.StatusCode, loc.Query()
	}

	// One full flow leaves a redeemed code, an access token and a refresh token behind.
	a := newAuthRequest()
	q := h.login(t, a, "admin", "demo")
	h.exchange(t, t.Context(), q.Get("code"), a.verifier)
	if diff := cmp.Diff(devidp.Stats{Codes: 1, AccessTokens: 1, RefreshTokens: 1}, h.idp.Stats()); diff != "" {
		t.Errorf("after one flow (-want +got):\n%s", diff)
	}

	for i := range 3 {
		if status, _ := authorize(); status != http.StatusOK {
			t.Fatalf("pending sign-in %d: status %d", i, status)
		}
	}
	if status, q := authorize(); status != http.StatusFound || q.Get("error") != "temporarily_unavailable" {
		t.Fatalf("fourth pending sign-in: status %d %v, want a temporarily_unavailable redirect", status, q)
	}
	if got := h.idp.Stats().PendingLogins; got != 3 {
		t.Errorf("pending sign-ins = %d, want the bound 3", got)
	}

	// Past every lifetime, the next request sweeps everything that expired.
	clock.Advance(13 * time.Hour)
	if status, _ := authorize(); status != http.StatusOK {
		t.Fatalf("after expiry: status %d", status)
	}
	if diff := cmp.Diff(devidp.Stats{PendingLogins: 1}, h.idp.Stats()); diff != "" {
		t.Errorf("after the sweep (-want +got):\n%s", diff)
	}
}

func TestPendingSignInExpires(t *testing.T) {
	clock := testclock.At(time.Now())
	h := newHarness(t, func(c *devidp.Config) { c.Now = clock.Now })
	browser := newBrowser()
	f := openLogin(t, browser, h.authURL(newAuthRequest()))
	clock.Advance(11 * time.Minute)
	resp, body := submit(t, browser, f, "admin", "demo")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") || h.cb.hitCount() != 0 {
		t.Errorf("login on an expired request: status %d, callback hits %d", resp.StatusCode, h.cb.hitCount())
	}
}

func TestPostBodiesAreBounded(t *testing.T) {
	h := newHarness(t)
	f := openLogin(t, newBrowser(), h.authURL(newAuthRequest()))
	pad := strings.Repeat("a", 70<<10)
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/authorize", validAuthParams(h)},
		{"/login", url.Values{"auth_request": {f.fields.Get("auth_request")}, "username": {"admin"}, "password": {"demo"}}},
		{"/logout", url.Values{"client_id": {clientID}}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			post := func(form url.Values) int {
				resp, err := noRedirects().PostForm(h.issuer+tc.path, form)
				if err != nil {
					t.Fatal(err)
				}
				readBody(t, resp)
				return resp.StatusCode
			}
			big := url.Values{"pad": {pad}}
			for k, v := range tc.form {
				big[k] = v
			}
			if status := post(big); status != http.StatusBadRequest {
				t.Errorf("oversized body: status %d, want 400", status)
			}
			if status := post(tc.form); status >= 400 {
				t.Errorf("same form without padding: status %d", status)
			}
		})
	}
}
