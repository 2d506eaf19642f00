package policy

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Decider is what Shadow wraps: an Engine, a Holder, or another Shadow.
type Decider interface {
	Decide(ctx context.Context, r Request) (Decision, error)
}

var (
	_ Decider = (*Engine)(nil)
	_ Decider = (*Shadow)(nil)
)

// Shadow runs a candidate policy beside the live one without enforcing it: every request is
// decided by the live policy, whose decision is returned, and by the candidate, whose decision
// is only compared. Where they differ (in effect or in reason), it counts
// tollgate_policy_shadow_mismatches_total{live,candidate}, labelled with the two reasons, and
// calls OnMismatch.
type Shadow struct {
	live, candidate Decider
	onMismatch      func(ctx context.Context, r Request, live, candidate Decision)
	mismatches      *prometheus.CounterVec
}

// NewShadow wraps live with a candidate. onMismatch may be nil; it runs on the request path,
// so it should only log.
func NewShadow(live, candidate Decider, reg prometheus.Registerer, onMismatch func(ctx context.Context, r Request, live, candidate Decision)) (*Shadow, error) {
	s := &Shadow{
		live: live, candidate: candidate, onMismatch: onMismatch,
		mismatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_policy_shadow_mismatches_total",
			Help: "Requests the candidate policy would decide differently from the live one, by the two decisions' reasons.",
		}, []string{"live", "candidate"}),
	}
	if reg != nil {
		if err := reg.Register(s.mismatches); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Decide returns the live decision. A candidate that fails counts as deciding with
// ReasonError; a live decision that fails is returned as it is, without asking the candidate.
func (s *Shadow) Decide(ctx context.Context, r Request) (Decision, error) {
	d, err := s.live.Decide(ctx, r)
	if err != nil {
		return d, err
	}
	c, cerr := s.candidate.Decide(ctx, r)
	if cerr != nil {
		c.Allow, c.Reason = false, ReasonError
	}
	if c.Allow != d.Allow || c.Reason != d.Reason {
		s.mismatches.WithLabelValues(d.Reason, c.Reason).Inc()
		if s.onMismatch != nil {
			s.onMismatch(ctx, r, d, c)
		}
	}
	return d, nil
}
