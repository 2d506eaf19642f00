package proxy_test

import (
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/proxy"
)

func TestRateLimitsAreSharedAcrossReplicas(t *testing.T) {
	e := newEnv(t, envOpts{backend: "redis", directory: "sqlite", gate: func(c *proxy.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.RateLimits.LoginPerIP = proxy.Rate{Limit: 4}
		c.RateLimits.AdminPerIP = proxy.Rate{Limit: 3}
		c.RateLimits.LoginPerAccount = proxy.Rate{Limit: 2}
	}})
	gateB := e.replica(t)
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	c := e.client(t)
	// Four login starts from one address, spread over two replicas, are allowed; the fifth is not.
	for i, base := range []string{e.gateURL, gateB, e.gateURL, gateB} {
		if r := do(t, c, "GET", base+"/_tollgate/login", from("198.51.100.7"), nil); r.StatusCode != http.StatusFound {
			t.Fatalf("login start %d: %d", i+1, r.StatusCode)
		}
	}
	r := do(t, c, "GET", gateB+"/_tollgate/login", from("198.51.100.7"), nil)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("fifth login start: %d, Retry-After %q; want 429", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// The same address is refused at the callback too; another address is not (positive control).
	if r := do(t, c, "GET", e.gateURL+"/_tollgate/callback?state=x", from("198.51.100.7"), nil); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("callback from the limited address: %d", r.StatusCode)
	}
	if r := do(t, c, "GET", e.gateURL+"/_tollgate/login", from("198.51.100.8"), nil); r.StatusCode != http.StatusFound {
		t.Errorf("login start from another address: %d", r.StatusCode)
	}
	for i := 0; i < 3; i++ {
		if r := do(t, c, "GET", e.gateURL+"/_tollgate/admin/api/v1/roles", from("203.0.113.9"), nil); r.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("admin request %d refused early", i+1)
		}
	}
	if r := do(t, c, "GET", gateB+"/_tollgate/admin/api/v1/roles", from("203.0.113.9"), nil); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("fourth admin request: %d, want 429", r.StatusCode)
	}
	if n := metricSum(t, e, "tollgate_rate_limited_total"); n < 1 { // replica B counts in its own registry
		t.Errorf("tollgate_rate_limited_total = %v", n)
	}
	recs := 0
	for _, rec := range e.audit.records(t) {
		if rec.Event.Action == "rate_limited" {
			recs++
		}
	}
	if recs == 0 {
		t.Error("no rate_limited audit record")
	}
}

func TestLoginsPerAccountAreLimited(t *testing.T) {
	e := newEnv(t, envOpts{gate: func(c *proxy.Config) { c.RateLimits.LoginPerAccount = proxy.Rate{Limit: 2} }})
	// The third completed login of one person within the window is refused.
	for i := 0; i < 2; i++ {
		if _, r := e.login(t, "support", "/"); r.StatusCode != http.StatusOK {
			t.Fatalf("login %d of support: %d", i+1, r.StatusCode)
		}
	}
	if _, r := e.login(t, "support", "/"); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third login of support: %d, want 429", r.StatusCode)
	}
	if _, r := e.login(t, "sales", "/"); r.StatusCode != http.StatusOK {
		t.Errorf("positive control, another account: %d", r.StatusCode)
	}
}
