package policy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ory/ladon"
)

// BenchmarkDecide puts the index beside ladon's own evaluation (Ladon.IsAllowed over its memory
// manager, one call per role of the request, as Decide combines them) on the same synthetic
// policies and requests: index/N and ladon/N for about N policies. ladon/N also reports
// x-ladon, its time per decision divided by the index's. ladon/10000 takes milliseconds per
// decision, so bound the run with -benchtime, e.g.
//
//	go test -run '^$' -bench '^BenchmarkDecide$' -benchtime 1s ./policy
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10, 1000, 10000} {
		src, v := synthPolicy(n, 42)
		e, err := Parse("synthetic.yaml", []byte(src))
		if err != nil {
			b.Fatal(err)
		}
		reqs := v.requests(1024, 43, testNow)
		var ladonReqs [][]*ladon.Request
		for _, r := range reqs {
			var per []*ladon.Request
			for _, role := range r.Roles {
				per = append(per, &ladon.Request{Subject: role, Action: r.Method, Resource: r.Path, Context: ladonContext(r, r.Now)})
			}
			ladonReqs = append(ladonReqs, per)
		}
		index := func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := e.Decide(ctx, reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		}
		var indexNs float64
		b.Run(fmt.Sprintf("index/%d", n), func(b *testing.B) {
			index(b)
			indexNs = perOp(b)
		})
		b.Run(fmt.Sprintf("ladon/%d", n), func(b *testing.B) {
			l := &ladon.Ladon{Manager: e.manager, Metric: &ladon.MetricNoOp{}, AuditLogger: &ladon.AuditLoggerNoOp{}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				for _, lr := range ladonReqs[i%len(ladonReqs)] {
					_ = l.IsAllowed(ctx, lr) // a denial is an error too; only the time counts here
				}
				i++
			}
			ladonNs := perOp(b)
			if indexNs == 0 { // index/N was filtered out of this run
				r := testing.Benchmark(index)
				indexNs = float64(r.T.Nanoseconds()) / float64(r.N)
			}
			b.ReportMetric(ladonNs/indexNs, "x-ladon")
		})
	}
}

func perOp(b *testing.B) float64 {
	return float64(b.Elapsed().Nanoseconds()) / float64(max(b.N, 1))
}

// BenchmarkDecideExample decides typical requests on examples/policy.yaml.
func BenchmarkDecideExample(b *testing.B) {
	e := loadExample(b)
	ctx := context.Background()
	cases := []struct {
		name string
		r    Request
	}{
		{"allow-literal", Request{Method: "GET", Path: "/customers", Roles: []string{"support"}}},
		{"allow-param", Request{Method: "POST", Path: "/invoices/INV-7/edit", Roles: []string{"billing_manager"}}},
		// An escape to fold: the one allocation Decide makes is the path's match form.
		{"allow-param-escaped", Request{Method: "POST", Path: "/invoices/INV%2B7/edit", Roles: []string{"billing_manager"}}},
		{"allow-two-roles", Request{Method: "GET", Path: "/reports/aging", Roles: []string{"sales_rep", "accountant"}}},
		{"deny-with-needed-roles", Request{Method: "POST", Path: "/settings", Roles: []string{"support"}}},
		{"mfa-stale", Request{Method: "POST", Path: "/payments/p-9/refund", Roles: []string{"billing_manager"}, MFAAt: testNow.Add(-time.Hour), Now: testNow}},
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
		r := &ladon.Request{Subject: "billing_manager", Action: "POST", Resource: "/invoices/INV-7/edit"}
		for b.Loop() {
			if err := l.IsAllowed(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
