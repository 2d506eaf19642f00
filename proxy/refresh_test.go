package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp/devidp"
)

// clock is a gate clock that tests move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func TestIdPOutageKeepsSessionsAndRefusesNewLogins(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, envOpts{now: clk.now})
	c, _ := e.login(t, "manager", "/")
	before, err := e.store.Get(context.Background(), e.sessionCookie(t, c))
	if err != nil {
		t.Fatal(err)
	}
	e.setIdP(false)
	// Past the IdP token's expiry: the gate tries to refresh, cannot, and keeps the session.
	clk.advance(10 * time.Minute)
	for i := 0; i < 3; i++ {
		if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
			t.Fatalf("existing session with the IdP down: status %d, want 200", r.StatusCode)
		}
	}
	r := get(t, e.client(t), e.gateURL+"/invoices")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(readBody(t, r), "identity provider") {
		t.Fatalf("new login with the IdP down: status %d, want 503 with a clear page", r.StatusCode)
	}
	// The IdP returns; after the retry delay the refresh goes through and renews the tokens.
	e.setIdP(true)
	clk.advance(2 * time.Minute)
	if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
		t.Fatalf("after the IdP returned: %d", r.StatusCode)
	}
	after, err := e.store.Get(context.Background(), e.sessionCookie(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if after.RefreshToken == before.RefreshToken || !after.TokenExpiry.After(before.TokenExpiry) {
		t.Fatalf("tokens were not refreshed: expiry %s → %s", before.TokenExpiry, after.TokenExpiry)
	}
}

func TestRefusedRefreshEndsTheSession(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, envOpts{now: clk.now})
	c, _ := e.login(t, "sales", "/")
	// The person's account changes at the IdP: their old grants are revoked there.
	u := devidp.DemoUsers()[2]
	u.Subject = "someone-else"
	if err := e.idp.SetUser(u); err != nil {
		t.Fatal(err)
	}
	if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
		t.Fatalf("positive control before expiry: %d", r.StatusCode)
	}
	clk.advance(10 * time.Minute)
	before := e.app.count()
	if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusFound || e.app.count() != before {
		t.Fatalf("after a refused refresh: status %d, want redirect to login and nothing forwarded", r.StatusCode)
	}
}
