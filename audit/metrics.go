package audit

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pipeline's collectors:
//
//	tollgate_audit_records_total{sink,result}   sink "spool": written, dropped, refused;
//	                                            each sink: delivered, retried, failed
//	tollgate_audit_spool_bytes                  bytes of segments on disk
//	tollgate_audit_oldest_undelivered_seconds   age of the oldest record some sink still lacks
type metrics struct {
	records    *prometheus.CounterVec
	spoolBytes prometheus.Gauge
	oldest     prometheus.GaugeFunc
}

func newMetrics(sinks []string, oldest func() time.Duration) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_audit_records_total",
			Help: "Audit records by sink and result: for sink=\"spool\" written, dropped (allowed records, on_full: drop-allowed) and refused (spool full); for each sink delivered, retried (records in a failed attempt) and failed (parked in the spool's dead-letter file).",
		}, []string{"sink", "result"}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_audit_spool_bytes",
			Help: "Bytes of audit spool segments on disk, bounded by audit.spool.max_bytes.",
		}),
	}
	m.oldest = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tollgate_audit_oldest_undelivered_seconds",
		Help: "Age of the oldest audit record not yet delivered to every sink; 0 when all are delivered.",
	}, func() float64 { return oldest().Seconds() })
	// Every series exists from the start, so that a rate() or an alert sees 0, not nothing.
	for _, r := range []string{"written", "dropped", "refused"} {
		m.records.WithLabelValues("spool", r)
	}
	for _, s := range sinks {
		for _, r := range []string{"delivered", "retried", "failed"} {
			m.records.WithLabelValues(s, r)
		}
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{m.records, m.spoolBytes, m.oldest}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("audit metrics: %w", err)
		}
	}
	return nil
}
