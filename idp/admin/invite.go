package admin

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
)

// invitation is what the administrator is shown, once, after inviting someone. The link
// holds the only copy of the token: the store keeps its hash.
type invitation struct {
	Link       string    `json:"link"`
	ExpiresAt  time.Time `json:"expires_at"`
	Emailed    bool      `json:"emailed"`
	EmailError string    `json:"email_error,omitempty"`
}

// invite issues a new invitation for an invited user (replacing earlier ones) and mails it
// when SMTP is configured. A mail that cannot be sent is reported, not fatal: the
// administrator still has the link to pass on.
func (h *Handler) invite(ctx context.Context, p *principal, u directory.User) (invitation, error) {
	tok, err := h.users.CreateInvitation(ctx, u.ID, h.cfg.InvitationTTL.std())
	if err != nil {
		return invitation{}, err
	}
	inv := invitation{Link: h.inviteLink(tok), ExpiresAt: h.now().Add(h.cfg.InvitationTTL.std()).UTC()}
	if h.mail != nil {
		if err := h.mail.sendInvitation(ctx, u.Email, u.Name, inv.Link, inv.ExpiresAt); err != nil {
			h.log.WarnContext(ctx, "admin: invitation email not sent", "user", u.ID, "error", err.Error())
			inv.EmailError = "the email could not be sent; pass the link on yourself"
		} else {
			inv.Emailed = true
		}
	}
	after := struct {
		ExpiresAt time.Time `json:"expires_at"`
		Emailed   bool      `json:"emailed"`
	}{inv.ExpiresAt, inv.Emailed}
	if err := h.record(ctx, p, change{action: "user.invite", typ: "creation", target: u.ID, after: after}, nil); err != nil {
		return invitation{}, err
	}
	return inv, nil
}

// inviteLink is where the invitee goes: the gate signs them in and redeems the token.
func (h *Handler) inviteLink(token string) string {
	return InviteLink(h.cfg.PublicURL, token)
}

// InviteLink builds an invitation link for the gate at publicURL.
func InviteLink(publicURL, token string) string {
	return strings.TrimSuffix(publicURL, "/") + InvitePath + "?token=" + url.QueryEscape(token)
}

func (h *Handler) reinvite(ctx context.Context, p *principal, id string) (directory.User, invitation, error) {
	u, err := h.users.GetUser(ctx, id)
	if err != nil {
		return directory.User{}, invitation{}, err
	}
	inv, err := h.invite(ctx, p, u)
	return u, inv, err
}
