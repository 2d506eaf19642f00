package admin

import (
	"context"
	"errors"
	"time"
)

// RunInactiveJob disables, every interval, the accounts not seen for
// Config.DisableInactiveAfter, ends their sessions and audits each. It returns when ctx
// ends, at once when the feature is off. Every replica may run it: the directory disables
// each user in one transaction, so a user is disabled (and audited) by one replica only.
func (h *Handler) RunInactiveJob(ctx context.Context, every time.Duration) {
	if h.cfg.DisableInactiveAfter <= 0 || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := h.DisableInactiveOnce(ctx); err != nil && ctx.Err() == nil {
			h.log.ErrorContext(ctx, "admin: disable inactive users", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// DisableInactiveOnce runs the inactivity rule once and returns how many users it disabled.
// The last active administrator is never disabled (the directory keeps them).
func (h *Handler) DisableInactiveOnce(ctx context.Context) (int, error) {
	if h.cfg.DisableInactiveAfter <= 0 {
		return 0, nil
	}
	users, err := h.users.DisableInactive(ctx, h.now().Add(-h.cfg.DisableInactiveAfter.std()))
	if err != nil {
		return 0, err
	}
	p := &principal{kind: "system"}
	var errs []error
	for _, u := range users {
		before := viewOf(u)
		before.Status = "active"
		_, rerr := h.revokeAll(ctx, u)
		c := change{action: "user.disable_inactive", typ: "change", target: u.ID, before: before, after: viewOf(u)}
		errs = append(errs, rerr, h.record(ctx, p, c, nil))
	}
	return len(users), errors.Join(errs...)
}
