package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
)

// userView is a user as the API shows it and as audit records carry it before and after a
// change: no credential, and the IdP account only as "bound".
type userView struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Roles       []string  `json:"roles"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	InvitedBy   string    `json:"invited_by,omitempty"`
	LastLogin   time.Time `json:"last_login,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	MFAEnrolled bool      `json:"mfa_enrolled"`
	// Bound is true once the person has signed in and is tied to an IdP account.
	Bound bool `json:"bound"`
}

func viewOf(u directory.User) userView {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, Roles: roles, Status: string(u.Status),
		CreatedAt: u.CreatedAt, InvitedBy: u.InvitedBy, LastLogin: u.LastLogin, LastSeen: u.LastSeen,
		MFAEnrolled: u.MFAEnrolled, Bound: u.Issuer != ""}
}

// change is one administrative change, as the audit trail records it.
type change struct {
	action string // tollgate.change.action, e.g. "user.roles"
	event  string // event.action; audit.EventAdminChange when empty
	typ    string // ECS event.type: creation, change, deletion, access
	target string
	before any
	after  any
}

// errSoD marks a refusal by a separation-of-duties rule.
var errSoD = errors.New("separation of duties")

// refusal reports whether err is a safety rule saying no, which the trail records too.
func refusal(err error) bool {
	for _, e := range []error{errSelfRoles, errSelfStatus, errSelfMFA, errSelfErase, errSoD, directory.ErrLastAdmin} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// record writes the audit record of a change (err == nil) or of a refusal, and counts it.
// A change that cannot be recorded is reported as an error: it happened, and the
// administrator must know the trail lacks it.
func (h *Handler) record(ctx context.Context, p *principal, c change, err error) error {
	outcome, label, reason := audit.OutcomeSuccess, "success", ""
	if err != nil {
		if !refusal(err) {
			h.changes.WithLabelValues(c.action, "error").Inc()
			return err
		}
		outcome, label, reason = audit.OutcomeFailure, "refused", classify(err).detail
	}
	h.changes.WithLabelValues(c.action, label).Inc()
	event := c.event
	if event == "" {
		event = audit.EventAdminChange
	}
	rec := audit.Record{
		Timestamp: h.now().UTC(),
		Event: audit.Event{ID: audit.NewID(), Kind: "event", Category: "iam", Type: c.typ, Action: event,
			Outcome: outcome, Reason: reason},
		User:   p.auditUser(),
		Change: &audit.Change{Action: c.action, Target: c.target, Before: c.before, After: c.after},
	}
	if p.sessionID != "" {
		rec.Session = &audit.Session{ID: p.sessionID}
	}
	if p.clientIP != "" {
		rec.Source = &audit.Source{IP: p.clientIP}
	}
	if p.method != "" {
		rec.HTTP = &audit.HTTP{Request: audit.HTTPRequest{ID: p.requestID, Method: p.method}}
		rec.URL = &audit.URL{Path: p.path}
	}
	if werr := h.audit.Write(rec); werr != nil {
		h.log.ErrorContext(ctx, "admin: audit record not written", "action", c.action, "target", c.target, "error", werr.Error())
		return &apiError{status: http.StatusInternalServerError, title: "Audit trail unavailable",
			detail: "the change was made but could not be written to the audit trail; tell your security team", err: werr}
	}
	return err
}

// revokeAll ends every session of u in the shared store, so that the next request on any
// replica is refused. A user who never signed in has none.
func (h *Handler) revokeAll(ctx context.Context, u directory.User) (int, error) {
	if u.Issuer == "" {
		return 0, nil
	}
	n, err := h.sessions.DeleteUser(ctx, idp.UserKey(u.Issuer, u.Subject))
	if err != nil {
		h.log.ErrorContext(ctx, "admin: revoke sessions", "user", u.ID, "error", err.Error())
		return 0, fmt.Errorf("%w: %w", errRevokeAfter, err)
	}
	return n, nil
}

// checkRoles refuses roles the policy does not define and combinations that separation of
// duties forbids.
func (h *Handler) checkRoles(roles []string) error {
	known := h.policy.Roles()
	for _, r := range roles {
		if !slices.Contains(known, r) {
			return badRequest(fmt.Sprintf("%q is not a role; the roles are %s", r, strings.Join(known, ", ")))
		}
	}
	for _, pair := range h.cfg.SeparationOfDuties {
		if slices.Contains(roles, pair[0]) && slices.Contains(roles, pair[1]) {
			return &apiError{status: http.StatusConflict, title: "Refused", err: errSoD,
				detail: fmt.Sprintf("The roles %s and %s may not be held together (separation of duties)", pair[0], pair[1])}
		}
	}
	return nil
}
