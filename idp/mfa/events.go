package mfa

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/audit"
)

// Audit actions (event.action). The method (totp, recovery, webauthn) is in event.reason, with
// a short cause after a colon for failures ("totp:replayed"); never a code or a secret.
const (
	ActionEnrolled        = "mfa_enrolled"
	ActionVerified        = "mfa_verified"
	ActionFailed          = "mfa_failed"
	ActionLockout         = "mfa_lockout"
	ActionRecoveryUsed    = "mfa_recovery_used"
	ActionRecoveryRenewed = "mfa_recovery_renewed"
	ActionPasskeyAdded    = "mfa_passkey_added"
	ActionPasskeyRemoved  = "mfa_passkey_removed"
	ActionStepUpAsked     = "mfa_stepup_asked"
	ActionStepUpSatisfied = "mfa_stepup_satisfied"
	// ActionSessionsEnded is the person ending their other sessions from the account page.
	ActionSessionsEnded = audit.EventSessionRevoke
)

const (
	categoryAuthentication = "authentication"
	reasonOtherSessions    = "user:other-sessions"
)

// Methods, the `method` label of tollgate_mfa_total.
const (
	methodTOTP     = "totp"
	methodRecovery = "recovery"
	methodWebAuthn = "webauthn"
)

// Results, the `result` label of tollgate_mfa_total: a small fixed set.
const (
	resultEnrolled   = "enrolled"
	resultVerified   = "verified"
	resultFailed     = "failed"
	resultReplayed   = "replayed"
	resultLocked     = "locked"  // refused because the person is locked out
	resultLockout    = "lockout" // this failure started a lockout
	resultAdded      = "added"
	resultRemoved    = "removed"
	resultRenewed    = "renewed"
	resultStepUp     = "stepup_asked"
	resultStepUpDone = "stepup_satisfied"
)

func newMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_mfa_total",
		Help: "Second-factor events of the gate's own factors, by method and result.",
	}, []string{"method", "result"})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil // a handler rebuilt on reload keeps counting on the same series
			}
		}
		return nil, fmt.Errorf("mfa: register metrics: %w", err)
	}
	return c, nil
}

// event is one MFA event to count and audit.
type event struct {
	action  string
	method  string
	result  string
	reason  string // defaults to method
	success bool
}

// record counts ev and writes its audit record. A record that cannot be written is logged:
// the person's step has already happened, and the audit writer spools and alerts on its own.
func (h *Handler) record(r *http.Request, s Subject, ev event) {
	if ev.method != "" && ev.result != "" {
		h.metrics.WithLabelValues(ev.method, ev.result).Inc()
	}
	reason := ev.reason
	if reason == "" {
		reason = ev.method
	}
	outcome := audit.OutcomeFailure
	if ev.success {
		outcome = audit.OutcomeSuccess
	}
	rec := audit.Record{
		Timestamp: h.deps.Now().UTC(),
		Event: audit.Event{Kind: "event", Category: categoryAuthentication, Type: "info",
			Action: ev.action, Outcome: outcome, Reason: reason},
		User:   &audit.User{ID: s.UserKey, Email: s.Email, Name: s.Name},
		Source: &audit.Source{IP: s.ClientIP},
		HTTP:   &audit.HTTP{Request: audit.HTTPRequest{ID: s.RequestID, Method: r.Method}},
		URL:    &audit.URL{Path: r.URL.Path},
	}
	if s.SessionID != "" {
		rec.Session = &audit.Session{ID: s.SessionID}
	}
	if s.UserAgent != "" {
		rec.UserAgent = &audit.Agent{Original: s.UserAgent}
	}
	if err := h.deps.Audit.Write(rec); err != nil {
		h.deps.Log.Error("mfa: audit record not written", "request_id", s.RequestID, "action", ev.action, "err", err)
	}
}
