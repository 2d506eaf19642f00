package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"
)

// Sessions of a person, and the data-subject requests: export and erasure.

// sessionView is one live session; its id is the hash of the token, safe to show.
type sessionView struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *Handler) listSessions(ctx context.Context, u directory.User) ([]sessionView, error) {
	out := []sessionView{}
	if u.Issuer == "" {
		return out, nil
	}
	infos, err := h.sessions.ListUser(ctx, idp.UserKey(u.Issuer, u.Subject))
	if err != nil {
		return nil, fmt.Errorf("admin: list sessions: %w", err)
	}
	for _, in := range infos {
		out = append(out, sessionView{ID: in.ID, CreatedAt: in.CreatedAt, ExpiresAt: in.ExpiresAt})
	}
	return out, nil
}

type revoked struct {
	Revoked int `json:"revoked"`
}

func (h *Handler) revokeSessions(ctx context.Context, p *principal, id string) (int, error) {
	u, err := h.users.GetUser(ctx, id)
	if err != nil {
		return 0, err
	}
	n, err := h.revokeAll(ctx, u)
	if err != nil {
		return 0, err
	}
	return n, h.record(ctx, p, change{action: "sessions.revoke", event: audit.EventSessionRevoke, typ: "end",
		target: id, after: revoked{n}}, nil)
}

func (h *Handler) revokeSession(ctx context.Context, p *principal, id, sid string) error {
	u, err := h.users.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if u.Issuer == "" {
		return fmt.Errorf("%w: session", directory.ErrNotFound)
	}
	err = h.sessions.DeleteByID(ctx, idp.UserKey(u.Issuer, u.Subject), sid)
	if errors.Is(err, session.ErrNotFound) {
		return fmt.Errorf("%w: session", directory.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("admin: revoke session: %w", err)
	}
	return h.record(ctx, p, change{action: "session.revoke", event: audit.EventSessionRevoke, typ: "end",
		target: id, after: map[string]string{"session_id": sid}}, nil)
}

// userExport is everything Tollgate stores about a person: the directory's export and their
// live sessions.
type userExport struct {
	Directory directory.Export `json:"directory"`
	Sessions  []sessionView    `json:"sessions"`
}

func (h *Handler) exportUser(ctx context.Context, p *principal, id string) (userExport, error) {
	x, err := h.users.ExportUser(ctx, id)
	if err != nil {
		return userExport{}, err
	}
	ss, err := h.listSessions(ctx, x.User)
	if err != nil {
		return userExport{}, err
	}
	err = h.record(ctx, p, change{action: "user.export", typ: "access", target: id}, nil)
	return userExport{Directory: x, Sessions: ss}, err
}

// eraseUser removes the person from the directory and the session store. The trail keeps
// a pseudonym in their place, random so that it links nothing outside the trail; the
// record of the erasure names only the pseudonym and what access the person held.
func (h *Handler) eraseUser(ctx context.Context, p *principal, id string) (string, error) {
	c := change{action: "user.erase", typ: "deletion"}
	if id == p.actorID {
		c.target = id
		return "", h.record(ctx, p, c, errSelfErase)
	}
	u, err := h.users.GetUser(ctx, id)
	if err != nil {
		return "", err
	}
	b := make([]byte, 12)
	if _, err := io.ReadFull(h.rand, b); err != nil {
		return "", fmt.Errorf("admin: pseudonym: %w", err)
	}
	pseudonym := "erased-" + hex.EncodeToString(b)
	c.target = pseudonym
	if err := h.users.EraseUser(ctx, id, pseudonym); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return "", err
		}
		return "", h.record(ctx, p, c, lastAdmin("erased", err))
	}
	_, revokeErr := h.revokeAll(ctx, u)
	c.before = struct {
		Roles  []string `json:"roles"`
		Status string   `json:"status"`
	}{viewOf(u).Roles, string(u.Status)}
	// The request path names the user's id; the record keeps the pseudonym instead.
	anon := *p
	anon.path = strings.ReplaceAll(p.path, id, pseudonym)
	if err := h.record(ctx, &anon, c, nil); err != nil {
		return "", err
	}
	return pseudonym, revokeErr
}
