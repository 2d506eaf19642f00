package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gate's Prometheus collectors, registered on the registry the caller passes in.
type Metrics struct {
	requests         *prometheus.CounterVec
	requestDuration  prometheus.Histogram
	upstreamDuration prometheus.Histogram
	logins           *prometheus.CounterVec
	decisions        *prometheus.CounterVec
	storeErrors      prometheus.Counter
	auditErrors      prometheus.Counter
	rateLimited      *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_requests_total",
			Help: "Requests handled by the gate, by route (policy route or gate endpoint) and decision.",
		}, []string{"route", "decision"}),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tollgate_request_duration_seconds",
			Help:    "Time from request received to response written, upstream included.",
			Buckets: buckets,
		}),
		upstreamDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tollgate_upstream_duration_seconds",
			Help:    "Time the upstream took to answer (headers received).",
			Buckets: buckets,
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_logins_total",
			Help: "Completed login attempts by result.",
		}, []string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_policy_decisions_total",
			Help: "Policy decisions by effect and reason.",
		}, []string{"effect", "reason"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_store_errors_total",
			Help: "Session store operations that failed (the request failed closed).",
		}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_audit_errors_total",
			Help: "Audit records that could not be written.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_rate_limited_total",
			Help: "Requests refused for exceeding a rate limit, by limit (login_ip, login_account, mfa_ip, admin_ip).",
		}, []string{"limit"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.requestDuration, m.upstreamDuration,
		m.logins, m.decisions, m.storeErrors, m.auditErrors, m.rateLimited} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
