package policy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ory/ladon"
)

// TestLadonErrorsMatch guards the reference evaluation: ladon wraps its sentinel errors with
// github.com/pkg/errors, and errors.Is sees through them only from pkg/errors v0.9.0 on. A
// downgrade would silently turn every reference verdict below into "unexpected error".
func TestLadonErrorsMatch(t *testing.T) {
	e := mustParse(t, denyPolicy)
	l := &ladon.Ladon{Manager: e.manager, Metric: &ladon.MetricNoOp{}, AuditLogger: &ladon.AuditLoggerNoOp{}}
	ctx := context.Background()

	if err := l.IsAllowed(ctx, &ladon.Request{Subject: "viewer", Action: "GET", Resource: "/reports/payroll"}); err != nil {
		t.Fatalf("positive control: %v", err)
	}
	err := l.IsAllowed(ctx, &ladon.Request{Subject: "viewer", Action: "DELETE", Resource: "/reports"})
	if !errors.Is(err, ladon.ErrRequestDenied) || errors.Is(err, ladon.ErrRequestForcefullyDenied) {
		t.Errorf("default deny: %v; want errors.Is ErrRequestDenied only", err)
	}
	err = l.IsAllowed(ctx, &ladon.Request{Subject: "contractor", Action: "GET", Resource: "/reports/payroll"})
	if !errors.Is(err, ladon.ErrRequestForcefullyDenied) || errors.Is(err, ladon.ErrRequestDenied) {
		t.Errorf("forceful deny: %v; want errors.Is ErrRequestForcefullyDenied only", err)
	}
}

// ladonRef asks ladon's own Ladon.IsAllowed about requests, one role at a time, over an
// engine's manager, with a matcher of its own.
type ladonRef struct {
	t testing.TB
	e *Engine
	l *ladon.Ladon
}

func newLadonRef(t testing.TB, e *Engine) *ladonRef {
	return &ladonRef{t: t, e: e, l: &ladon.Ladon{Manager: e.manager, Matcher: ladon.NewRegexpMatcher(4096),
		Metric: &ladon.MetricNoOp{}, AuditLogger: &ladon.AuditLoggerNoOp{}}}
}

func (lr *ladonRef) verdict(r Request) verdict {
	lr.t.Helper()
	lctx := ladonContext(r, lr.e.decisionTime(r))
	v := verdictDefaultDeny
	for _, role := range r.Roles {
		// The compiled policies are written for paths in match form, as Decide matches them.
		err := lr.l.IsAllowed(context.Background(), &ladon.Request{Subject: role, Action: r.Method, Resource: matchForm(r.Path), Context: lctx})
		switch {
		case err == nil:
			v = verdictAllow
		case errors.Is(err, ladon.ErrRequestForcefullyDenied):
			return verdictForcefulDeny
		case errors.Is(err, ladon.ErrRequestDenied):
		default:
			lr.t.Fatalf("ladon IsAllowed(%s, %s %q): unexpected error %v", role, r.Method, r.Path, err)
		}
	}
	return v
}

// fresh is r with a second factor proven at the decision time.
func (lr *ladonRef) fresh(r Request) Request {
	r.MFAAt = lr.e.decisionTime(r)
	return r
}

// want is the decision ladon's verdicts imply: the effect and reason, and the roles that
// ladon allows on their own with a fresh second factor.
func (lr *ladonRef) want(r Request) (allow bool, reason string, needed []string) {
	switch lr.verdict(r) {
	case verdictAllow:
		return true, ReasonAllowed, nil
	case verdictForcefulDeny:
		reason = ReasonDeniedByPolicy
	default:
		switch {
		case lr.verdict(lr.fresh(r)) == verdictAllow:
			reason = ReasonMFAStale
		case len(r.Roles) == 0:
			reason = ReasonNoRoles
		default:
			reason = ReasonNoMatchingPolicy
		}
	}
	for _, role := range lr.e.Roles() {
		one := lr.fresh(r)
		one.Roles = []string{role}
		if lr.verdict(one) == verdictAllow {
			needed = append(needed, role)
		}
	}
	return false, reason, needed
}

// TestDifferentialAgainstLadon: on random requests, conditions and raw ladon policies
// included, Decide returns exactly what the ladon-based evaluation returns, and agrees with
// ladon's own IsAllowed: allowed iff some role is allowed and no role is forcefully denied;
// mfa-stale iff only a fresh second factor would allow it; NeededRoles exactly the roles ladon
// allows on their own. Requests Decide refuses as non-canonical are checked to be denied, and
// counted: ladon would have allowed some of them, which is why the check exists. Each request
// is also decided in another spelling (characters of foldChars raw or escaped, escapes in
// either hex case), which must make no difference at all.
func TestDifferentialAgainstLadon(t *testing.T) {
	clock := Options{Now: func() time.Time { return fixedClock }}
	synth, _ := synthPolicy(300, 5)
	for _, tc := range []struct {
		name       string
		n          int
		src        func(t testing.TB) []byte
		samples    []string
		conditions bool // the policy has conditions, raw policies and subject templates
	}{
		{"example", 4000, readFile("../examples/policy.yaml"), nil, false},
		{"with denies", 4000, func(testing.TB) []byte { return []byte(denyPolicy) }, nil, false},
		{"conditions and raw ladon", 10000, readFile("testdata/conditions.yaml"),
			[]string{"/reports", "/reports/", "/reports/a/b", "/reportsX", "/files/abc/12.csv", "/files/abc/12.csvx",
				"/files/ABC/12.csv", "/files/abc/x.csv", "/files/a/b/1.csv", "/customers/export.csv", "/customers/export.json",
				"/customers/export.xml", "/customers/export", "/files/", "/files/x",
				"/profiles/ann@corp", "/profiles/ann%40corp", "/profiles/ceo%40corp", "/profiles/Ann@corp", "/profiles/ann@corpx"}, true},
		{"synthetic", 4000, func(testing.TB) []byte { return []byte(synth) }, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseWith(tc.name, tc.src(t), clock)
			if err != nil {
				t.Fatal(err)
			}
			ref := newLadonRef(t, e)
			g := newRequestGen(e, 20240601, tc.samples...)
			ctx := context.Background()
			counts := map[string]int{}
			invalidLadonAllowed := 0
			for range tc.n {
				r := g.next()
				d, err := e.Decide(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				counts[d.Reason]++
				other := r
				other.Path = g.respell(r.Path)
				if d2, err := e.Decide(ctx, other); err != nil || !cmp.Equal(d, d2, cmpopts.EquateEmpty()) {
					t.Fatalf("%q and %q are spellings of one path but are decided differently: %+v, %v; %+v", r.Path, other.Path, d, err, d2)
				}
				if r.Path != other.Path && strings.ContainsAny(matchForm(r.Path), foldChars) {
					counts["respelled"]++
				}
				if hasFoldEscape(r.Path) && d.Reason == ReasonDeniedByPolicy {
					counts["escaped, denied"]++
				}
				full, err := e.referenceDecide(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(full, d, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%+v: Decide differs from the ladon evaluation (-ladon +Decide):\n%s", r, diff)
				}
				if d.Reason == ReasonInvalidRequest {
					if d.Allow {
						t.Fatalf("%q: invalid request allowed", r)
					}
					if ref.verdict(r) == verdictAllow {
						invalidLadonAllowed++
					}
					continue
				}
				allow, reason, needed := ref.want(r)
				if d.Allow != allow || d.Reason != reason {
					t.Fatalf("%+v: Decide %+v, ladon says allow=%v reason %s", r, d, allow, reason)
				}
				if diff := cmp.Diff(needed, d.NeededRoles, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%+v: NeededRoles (-ladon +Decide):\n%s", r, diff)
				}
				if strings.HasPrefix(d.Route, "ladon:") {
					counts["raw"]++
				}
				for field, change := range contextChanges(e) {
					if other, _ := e.Decide(ctx, change(r)); !cmp.Equal(effectOf(other), effectOf(d)) {
						counts[field]++
					}
				}
			}
			t.Logf("outcomes: %v; non-canonical requests ladon would allow: %d", counts, invalidLadonAllowed)
			// The comparison means something only if every outcome came up often enough.
			want := []string{ReasonAllowed, ReasonNoMatchingPolicy, ReasonNoRoles, ReasonInvalidRequest}
			if tc.name != "example" {
				want = append(want, ReasonDeniedByPolicy)
			}
			if tc.name != "with denies" {
				want = append(want, ReasonMFAStale)
			}
			if tc.conditions {
				want = append(want, "raw", "unknown roles", "client address", "time", "owns", "respelled", "escaped, denied")
			}
			for _, k := range want {
				if counts[k] < 10 {
					t.Errorf("only %d requests with outcome %q", counts[k], k)
				}
			}
			if invalidLadonAllowed == 0 {
				t.Error("no non-canonical request that ladon would allow was generated")
			}
		})
	}
}

// hasFoldEscape reports whether path holds a percent-encoded character of foldChars.
func hasFoldEscape(path string) bool {
	for i := strings.IndexByte(path, '%'); i >= 0 && i < len(path); i++ {
		if v, ok := unhex2(path, i+1); path[i] == '%' && ok && isFoldChar[v] {
			return true
		}
	}
	return false
}

// effectOf is what a decision says, less the difference between "no roles" and "no role
// allows it", which removing roles alone would make.
func effectOf(d Decision) Decision {
	if d.Reason == ReasonNoRoles {
		d.Reason = ReasonNoMatchingPolicy
	}
	d.NeededRoles = nil
	return d
}

// contextChanges each take one part away from a request; a decision that changes shows that
// part took part in it.
func contextChanges(e *Engine) map[string]func(Request) Request {
	return map[string]func(Request) Request{
		"unknown roles": func(r Request) Request {
			r.Roles = slices.DeleteFunc(slices.Clone(r.Roles), func(s string) bool { return !slices.Contains(e.roleNames, s) })
			return r
		},
		"client address": func(r Request) Request { r.ClientIP = netip.Addr{}; return r },
		"time":           func(r Request) Request { r.Now = testNow; return r },
		"owns":           func(r Request) Request { r.Owns = nil; return r },
	}
}

func readFile(path string) func(t testing.TB) []byte {
	return func(t testing.TB) []byte {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
}

// TestConcurrentDecide: many goroutines share one Engine; under -race this checks that the
// index and its table of needed-role sets are safe, and each answer equals ladon's.
func TestConcurrentDecide(t *testing.T) {
	e, err := ParseWith("conditions.yaml", readFile("testdata/conditions.yaml")(t), Options{Now: func() time.Time { return fixedClock }})
	if err != nil {
		t.Fatal(err)
	}
	g := newRequestGen(e, 7, "/reports/a", "/files/abc/1.csv", "/customers/export.csv")
	reqs := make([]Request, 600)
	want := make([]Decision, len(reqs))
	for i := range reqs {
		reqs[i] = g.next()
		// Decided first on the fresh engine below, concurrently, so that the sets of needed
		// roles are interned while other goroutines read them.
		want[i], _ = e.referenceDecide(context.Background(), reqs[i])
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 8 {
		wg.Go(func() {
			for k := range reqs {
				i := (k + w*37) % len(reqs)
				got, err := e.Decide(context.Background(), reqs[i])
				if err != nil || !cmp.Equal(want[i], got, cmpopts.EquateEmpty()) {
					errs <- cmp.Diff(want[i], got, cmpopts.EquateEmpty())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for diff := range errs {
		t.Errorf("concurrent decision differs (-sequential +concurrent):\n%s", diff)
	}
}
