package policy

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

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

// requestGen builds random requests from a policy's own vocabulary plus garbage: real paths
// from the templates, near misses made by editing them, and non-canonical variants.
type requestGen struct {
	rnd      *rand.Rand
	policies []ladon.Policy
	roles    []string
	methods  []string
	literals []string // literal segments of the templates
	values   []string // canonical values for "{name}"
	garbage  []string // non-canonical segments
}

func newRequestGen(e *Engine, seed uint64) *requestGen {
	g := &requestGen{
		rnd:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		roles:   append(e.Roles(), "intern", "", "Administrator", "viewer<"),
		methods: []string{"GET", "POST", "PUT", "HEAD", "DELETE", "get", "Post", "", "G T", "GET\n"},
		values:  []string{"1", "42", "INV-7", "a~b", "x.y", "%20", "%C3%A9", "*", "customersX", "payroll", "secret"},
		garbage: []string{
			"", ".", "..", "%2F", "%2f", "%5C", "%25", "%41", "%2e", "%0A", "%C0%AF", "%zz",
			"a;b", "a?b", "?", "#", "a b", "\n", "\x00", "é", "<x>", "\\",
		},
	}
	seen := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(e.manager.Policies)) {
		g.policies = append(g.policies, e.manager.Policies[id])
		for _, tpl := range e.manager.Policies[id].GetResources() {
			for _, s := range strings.Split(tpl, "/") {
				if s != "" && !strings.ContainsAny(s, "<>") && !seen["lit:"+s] {
					seen["lit:"+s] = true
					g.literals = append(g.literals, s)
				}
			}
		}
	}
	return g
}

func (g *requestGen) pick(list []string) string { return list[g.rnd.IntN(len(list))] }

func (g *requestGen) next() Request {
	// Start from a policy so that most requests come close to one: usually its method and
	// often its role, plus up to two other roles.
	p := g.policies[g.rnd.IntN(len(g.policies))]
	method := g.pick(g.methods)
	if g.rnd.IntN(10) < 7 {
		method = g.pick(p.GetActions())
	}
	var roles []string
	if g.rnd.IntN(10) < 6 {
		roles = append(roles, p.GetSubjects()[0])
	}
	for range g.rnd.IntN(3) {
		roles = append(roles, g.pick(g.roles))
	}
	g.rnd.Shuffle(len(roles), func(i, j int) { roles[i], roles[j] = roles[j], roles[i] })
	// A real path: one of its templates with the placeholders filled in.
	path := g.pick(p.GetResources())
	path = strings.ReplaceAll(path, oneSegment, g.pick(g.values))
	path = strings.ReplaceAll(path, anySegments, g.pick([]string{"", "/", "/a", "/secret", "/secret/b/c"}))
	segs := strings.Split(path, "/")
	switch g.rnd.IntN(10) {
	case 0, 1, 2, 3: // as is
	case 4: // another literal in one place
		segs[1+g.rnd.IntN(len(segs)-1)] = g.pick(g.literals)
	case 5: // one segment more
		segs = append(segs, g.pick(append(g.values, g.literals...)))
	case 6: // one segment less, or a trailing slash
		if len(segs) > 2 && g.rnd.IntN(2) == 0 {
			segs = segs[:len(segs)-1]
		} else {
			segs = append(segs, "")
		}
	case 7, 8: // garbage in one place
		i := 1 + g.rnd.IntN(len(segs)-1)
		segs[i] = segs[i] + g.pick(g.garbage)
	case 9: // not absolute, or a garbage segment of its own
		if g.rnd.IntN(3) == 0 {
			segs = segs[1:]
		} else {
			segs = append(segs, g.pick(g.garbage))
		}
	}
	return Request{Method: method, Path: strings.Join(segs, "/"), Roles: roles}
}

// TestDifferentialAgainstLadon: on random requests Decide agrees with ladon's own IsAllowed
// (allowed iff some role is allowed and no role is forcefully denied), reports the matching
// reason, and lists as NeededRoles exactly the roles that ladon allows on their own. Requests
// Decide refuses as non-canonical are checked to be denied, and counted: ladon would have
// allowed some of them, which is why the check exists.
func TestDifferentialAgainstLadon(t *testing.T) {
	const n = 4000
	for _, tc := range []struct {
		name string
		load func(t testing.TB) *Engine
	}{
		{"example", loadExample},
		{"with denies", func(t testing.TB) *Engine { return mustParse(t, denyPolicy) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.load(t)
			g := newRequestGen(e, 20240601)
			counts := map[string]int{}
			invalidLadonAllowed := 0
			for range n {
				r := g.next()
				d := decide(t, e, r.Method, r.Path, r.Roles...)
				counts[d.Reason]++
				ref := reference(t, e, r.Method, r.Path, r.Roles)
				if d.Reason == ReasonInvalidRequest {
					if d.Allow {
						t.Fatalf("%q: invalid request allowed", r)
					}
					if ref == verdictAllow {
						invalidLadonAllowed++
					}
					continue
				}
				wantReason := map[verdict]string{verdictAllow: ReasonAllowed, verdictForcefulDeny: ReasonDeniedByPolicy, verdictDefaultDeny: ReasonNoMatchingPolicy}[ref]
				if wantReason == ReasonNoMatchingPolicy && len(r.Roles) == 0 {
					wantReason = ReasonNoRoles
				}
				if d.Allow != (ref == verdictAllow) || d.Reason != wantReason {
					t.Fatalf("%+v: Decide %+v, ladon verdict %v", r, d, ref)
				}
				if d.Allow {
					continue
				}
				var needed []string
				for _, role := range e.Roles() {
					if reference(t, e, r.Method, r.Path, []string{role}) == verdictAllow {
						needed = append(needed, role)
					}
				}
				if diff := cmp.Diff(needed, d.NeededRoles, cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("%+v: NeededRoles (-ladon +Decide):\n%s", r, diff)
				}
			}
			t.Logf("reasons: %v; non-canonical requests ladon would allow: %d", counts, invalidLadonAllowed)
			// The comparison means something only if every outcome came up often enough.
			for _, reason := range []string{ReasonAllowed, ReasonNoMatchingPolicy, ReasonNoRoles, ReasonInvalidRequest} {
				if counts[reason] < n/100 {
					t.Errorf("only %d requests with reason %q", counts[reason], reason)
				}
			}
			if tc.name == "with denies" && counts[ReasonDeniedByPolicy] < n/100 {
				t.Errorf("only %d forceful denies", counts[ReasonDeniedByPolicy])
			}
			if invalidLadonAllowed == 0 {
				t.Error("no non-canonical request that ladon would allow was generated")
			}
		})
	}
}

// TestConcurrentDecide: many goroutines share one Engine; under -race this checks that
// evaluation (manager, matcher cache, regexp2) is safe, and each answer equals the sequential one.
func TestConcurrentDecide(t *testing.T) {
	e := mustParse(t, denyPolicy)
	g := newRequestGen(e, 7)
	reqs := make([]Request, 300)
	want := make([]Decision, len(reqs))
	for i := range reqs {
		reqs[i] = g.next()
		want[i] = decide(t, e, reqs[i].Method, reqs[i].Path, reqs[i].Roles...)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 8 {
		wg.Go(func() {
			for k := range reqs {
				i := (k + w*37) % len(reqs)
				got, err := e.Decide(context.Background(), reqs[i])
				if err != nil || !cmp.Equal(want[i], got) {
					errs <- cmp.Diff(want[i], got)
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

func BenchmarkDecide(b *testing.B) {
	e := loadExample(b)
	ctx := context.Background()
	cases := []struct {
		name string
		r    Request
	}{
		{"allow-literal", Request{Method: "GET", Path: "/customers", Roles: []string{"support"}}},
		{"allow-param", Request{Method: "POST", Path: "/invoices/INV-7/void", Roles: []string{"billing_manager"}}},
		{"allow-two-roles", Request{Method: "GET", Path: "/reports/aging", Roles: []string{"sales_rep", "accountant"}}},
		{"deny-with-needed-roles", Request{Method: "POST", Path: "/settings", Roles: []string{"support"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Decide(ctx, c.r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// Baseline: ladon's own IsAllowed for the first role, on the same manager.
	l := &ladon.Ladon{Manager: e.manager, Matcher: ladon.NewRegexpMatcher(64), Metric: &ladon.MetricNoOp{}, AuditLogger: &ladon.AuditLoggerNoOp{}}
	b.Run("ladon-IsAllowed-baseline", func(b *testing.B) {
		b.ReportAllocs()
		r := &ladon.Request{Subject: "billing_manager", Action: "POST", Resource: "/invoices/INV-7/void"}
		for b.Loop() {
			if err := l.IsAllowed(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
