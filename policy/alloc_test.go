package policy

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/racetest"
)

// TestDecideDoesNotAllocate: every kind of decision, once its set of needed roles has been
// seen, is made without allocating.
func TestDecideDoesNotAllocate(t *testing.T) {
	racetest.SkipAllocationCheck(t)
	e, err := ParseWith("conditions.yaml", readFile("testdata/conditions.yaml")(t), Options{Now: func() time.Time { return fixedClock }})
	if err != nil {
		t.Fatal(err)
	}
	office, guest := mustAddr("10.1.2.3"), mustAddr("192.168.1.1")
	fresh, stale := testNow.Add(-time.Minute), testNow.Add(-time.Hour)
	reqs := map[string]struct {
		r      Request
		reason string
	}{
		"allow":                     {Request{Method: "GET", Path: "/customers", Roles: []string{"sales"}}, ReasonAllowed},
		"allow with owns":           {Request{Method: "GET", Path: "/customers/4/orders/1", Roles: []string{"sales"}, Owns: map[string][]string{"customers": {"4"}}}, ReasonAllowed},
		"allow by raw template":     {Request{Method: "HEAD", Path: "/files/abc/12.csv", Roles: []string{"auditor"}, ClientIP: office}, ReasonAllowed},
		"allow for an unknown role": {Request{Method: "GET", Path: "/reports/q1", Roles: []string{"contractor_bob"}, ClientIP: office}, ReasonAllowed},
		"deny, precomputed roles":   {Request{Method: "GET", Path: "/reports/payroll", Roles: []string{"sales"}}, ReasonNoMatchingPolicy},
		"deny, conditional rules":   {Request{Method: "GET", Path: "/settings", Roles: []string{"sales"}, ClientIP: office, MFAAt: fresh, Now: testNow}, ReasonNoMatchingPolicy},
		"forceful deny":             {Request{Method: "POST", Path: "/settings", Roles: []string{"admin"}, ClientIP: guest, MFAAt: fresh, Now: testNow}, ReasonDeniedByPolicy},
		"mfa stale":                 {Request{Method: "POST", Path: "/payments/1/refund", Roles: []string{"admin"}, MFAAt: stale, Now: testNow}, ReasonMFAStale},
		"no roles":                  {Request{Method: "GET", Path: "/"}, ReasonNoRoles},
		"invalid":                   {Request{Method: "GET", Path: "/a/../b", Roles: []string{"admin"}}, ReasonInvalidRequest},
		"many roles":                {Request{Method: "GET", Path: "/", Roles: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "sales"}}, ReasonAllowed},
		"escapes in match form":     {Request{Method: "GET", Path: "/profiles/%C3%A9@corp", Roles: []string{"admin"}}, ReasonAllowed},
	}
	ctx := context.Background()
	for name, tc := range reqs {
		r := tc.r
		// The first denial of a role set interns it.
		if d, err := e.Decide(ctx, r); err != nil || d.Reason != tc.reason {
			t.Fatalf("%s: %+v, %v; want reason %s", name, d, err, tc.reason)
		}
		if n := testing.AllocsPerRun(50, func() { _, _ = e.Decide(ctx, r) }); n != 0 {
			t.Errorf("%s: %v allocations per decision", name, n)
		}
	}
}

// TestDecideFoldingAllocatesOnce: a path with escapes to fold costs one allocation, its match
// form, and no more.
func TestDecideFoldingAllocatesOnce(t *testing.T) {
	racetest.SkipAllocationCheck(t)
	e, err := ParseWith("conditions.yaml", readFile("testdata/conditions.yaml")(t), Options{Now: func() time.Time { return fixedClock }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, r := range []Request{
		{Method: "GET", Path: "/profiles/ann%40corp", Roles: []string{"admin"}},
		{Method: "GET", Path: "/profiles/ceo%40corp", Roles: []string{"sales"}, Owns: map[string][]string{"customers": {"ceo@corp"}}},
		{Method: "GET", Path: "/profiles/%c3%a9", Roles: []string{"admin"}},
	} {
		if d, err := e.Decide(ctx, r); err != nil || !d.Allow && d.Reason != ReasonDeniedByPolicy {
			t.Fatalf("%q: %+v, %v", r.Path, d, err)
		}
		if n := testing.AllocsPerRun(50, func() { _, _ = e.Decide(ctx, r) }); n != 1 {
			t.Errorf("%q: %v allocations per decision, want 1", r.Path, n)
		}
	}
}
