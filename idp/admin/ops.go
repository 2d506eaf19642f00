package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/idp/directory"
)

// The changes to users, shared by the API and the pages. Each checks the safety rules, makes
// the change, ends the person's sessions where the change takes something away (or, for a
// role change, could: the person signs in again and gets the new roles) and records it.

// newUser is what adding a user needs.
type newUser struct {
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

func (h *Handler) createUser(ctx context.Context, p *principal, in newUser) (directory.User, invitation, error) {
	c := change{action: "user.create", typ: "creation"}
	if strings.TrimSpace(in.Email) == "" {
		return directory.User{}, invitation{}, badRequest("an email address is required")
	}
	if err := h.checkRoles(in.Roles); err != nil {
		return directory.User{}, invitation{}, h.record(ctx, p, c, err)
	}
	u, err := h.users.CreateUser(ctx, directory.User{Email: in.Email, Name: strings.TrimSpace(in.Name),
		Roles: in.Roles, Status: directory.StatusInvited, InvitedBy: p.actorID})
	if err != nil {
		return directory.User{}, invitation{}, err
	}
	c.target, c.after = u.ID, viewOf(u)
	if err := h.record(ctx, p, c, nil); err != nil {
		return directory.User{}, invitation{}, err
	}
	inv, err := h.invite(ctx, p, u)
	return u, inv, err
}

// updateUser changes the name and/or the roles (nil: unchanged).
func (h *Handler) updateUser(ctx context.Context, p *principal, id string, name *string, roles []string) (directory.User, error) {
	c := change{action: "user.update", typ: "change", target: id}
	if roles != nil {
		c.action = "user.roles"
		if err := h.checkRoles(roles); err != nil {
			return directory.User{}, h.record(ctx, p, c, err)
		}
	}
	before, after, err := h.users.UpdateUser(ctx, id, func(u *directory.User) error {
		if roles != nil && u.ID == p.actorID && !sameSet(u.Roles, roles) {
			return errSelfRoles
		}
		if name != nil {
			u.Name = strings.TrimSpace(*name)
		}
		if roles != nil {
			u.Roles = slices.Clone(roles)
		}
		return nil
	})
	if errors.Is(err, directory.ErrNotFound) {
		return directory.User{}, err
	}
	if err != nil {
		return directory.User{}, h.record(ctx, p, c, lastAdmin("removed from the "+h.cfg.AdminRole+" role", err))
	}
	c.before, c.after = viewOf(before), viewOf(after)
	var revokeErr error
	if !slices.Equal(before.Roles, after.Roles) {
		_, revokeErr = h.revokeAll(ctx, after)
	}
	if err := h.record(ctx, p, c, nil); err != nil {
		return directory.User{}, err
	}
	return after, revokeErr
}

// sameSet compares role lists as sets.
func sameSet(a, b []string) bool {
	return slices.Equal(slices.Compact(slices.Sorted(slices.Values(a))), slices.Compact(slices.Sorted(slices.Values(b))))
}

type statusChange int

const (
	statusDisable statusChange = iota
	statusEnable
)

// setStatus disables (ending every session) or enables a user.
func (h *Handler) setStatus(ctx context.Context, p *principal, id string, sc statusChange) (directory.User, error) {
	c := change{action: "user.disable", typ: "change", target: id}
	if sc == statusEnable {
		c.action = "user.enable"
	}
	before, after, err := h.users.UpdateUser(ctx, id, func(u *directory.User) error {
		if u.ID == p.actorID {
			return errSelfStatus
		}
		switch {
		case sc == statusDisable:
			u.Status = directory.StatusDisabled
		case u.Status == directory.StatusInvited:
			return &apiError{status: http.StatusConflict, title: "Conflict",
				detail: "An invited user becomes active by accepting the invitation; send a new one instead"}
		default:
			u.Status = directory.StatusActive
		}
		return nil
	})
	if errors.Is(err, directory.ErrNotFound) {
		return directory.User{}, err
	}
	if err != nil {
		return directory.User{}, h.record(ctx, p, c, lastAdmin("disabled", err))
	}
	c.before, c.after = viewOf(before), viewOf(after)
	var revokeErr error
	if sc == statusDisable {
		// Even when the user was disabled already: a retry must be able to finish the job.
		_, revokeErr = h.revokeAll(ctx, after)
	}
	if err := h.record(ctx, p, c, nil); err != nil {
		return directory.User{}, err
	}
	return after, revokeErr
}

func (h *Handler) deleteUser(ctx context.Context, p *principal, id string) error {
	c := change{action: "user.delete", typ: "deletion", target: id}
	if id == p.actorID {
		return h.record(ctx, p, c, errSelfStatus)
	}
	u, err := h.users.DeleteUser(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return err
	}
	if err != nil {
		return h.record(ctx, p, c, lastAdmin("deleted", err))
	}
	c.before = viewOf(u)
	_, revokeErr := h.revokeAll(ctx, u)
	if err := h.record(ctx, p, c, nil); err != nil {
		return err
	}
	return revokeErr
}

// resetMFA removes the person's second-factor secrets and recovery codes and ends their
// sessions: they enrol again at their next sign-in.
func (h *Handler) resetMFA(ctx context.Context, p *principal, id string) (directory.User, error) {
	c := change{action: "user.mfa_reset", typ: "change", target: id}
	if id == p.actorID {
		return directory.User{}, h.record(ctx, p, c, errSelfMFA)
	}
	before, err := h.users.GetUser(ctx, id)
	if err != nil {
		return directory.User{}, err
	}
	if err := h.users.DeleteSecrets(ctx, id); err != nil {
		return directory.User{}, err
	}
	after, err := h.users.GetUser(ctx, id)
	if err != nil {
		return directory.User{}, err
	}
	c.before, c.after = viewOf(before), viewOf(after)
	_, revokeErr := h.revokeAll(ctx, after)
	if err := h.record(ctx, p, c, nil); err != nil {
		return directory.User{}, err
	}
	return after, revokeErr
}
