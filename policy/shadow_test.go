package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// failing is a candidate that cannot decide; the real Engine fails only with its context.
type failing struct{ calls int }

func (f *failing) Decide(context.Context, Request) (Decision, error) {
	f.calls++
	return Decision{Reason: ReasonError}, errors.New("candidate broke")
}

func TestShadow(t *testing.T) {
	live := mustParse(t, policyV1)
	candidate := mustParse(t, policyV2)
	reg := prometheus.NewRegistry()
	type seen struct{ Path, Live, Candidate string }
	var mismatches []seen
	s, err := NewShadow(live, candidate, reg, func(_ context.Context, r Request, l, c Decision) {
		mismatches = append(mismatches, seen{r.Path, l.Reason, c.Reason})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/v2", "/v2", "/other"} {
		d, err := s.Decide(context.Background(), Request{Method: "GET", Path: path, Roles: []string{"viewer"}})
		want, _ := live.Decide(context.Background(), Request{Method: "GET", Path: path, Roles: []string{"viewer"}})
		if err != nil || !cmp.Equal(d, want) {
			t.Errorf("%s: Shadow returned %+v, %v; want the live decision %+v", path, d, err, want)
		}
	}
	if diff := cmp.Diff([]seen{{"/v2", ReasonNoMatchingPolicy, ReasonAllowed}, {"/v2", ReasonNoMatchingPolicy, ReasonAllowed}}, mismatches); diff != "" {
		t.Errorf("mismatches (-want +got):\n%s", diff)
	}
	if n, _ := metric(t, reg, "tollgate_policy_shadow_mismatches_total", map[string]string{"live": ReasonNoMatchingPolicy, "candidate": ReasonAllowed}); n != 2 {
		t.Errorf("mismatches_total = %v, want 2", n)
	}

	// A candidate that fails is a mismatch with reason "error"; a live policy that fails is
	// returned as is, and the candidate is not asked.
	broken := &failing{}
	s2, err := NewShadow(live, broken, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := s2.Decide(context.Background(), Request{Method: "GET", Path: "/", Roles: []string{"viewer"}}); err != nil || !d.Allow {
		t.Errorf("with a failing candidate: %+v, %v; want the live allow", d, err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s2.Decide(cancelled, Request{Method: "GET", Path: "/"}); !errors.Is(err, context.Canceled) || broken.calls != 1 {
		t.Errorf("live failure: %v, candidate asked %d times (want 1, from before)", err, broken.calls)
	}
	if _, err := NewShadow(live, candidate, reg, nil); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("registering twice: %v", err)
	}
}
