package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
)

// API tokens for automation: created once and shown once, stored hashed, scoped, expiring.

const (
	defaultTokenTTL = 90 * 24 * time.Hour
	maxTokenTTL     = 366 * 24 * time.Hour
)

type newToken struct {
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expires_at"`
}

type createdToken struct {
	// Token is the secret, shown this once.
	Token    string             `json:"token"`
	APIToken directory.APIToken `json:"api_token"`
}

func (h *Handler) apiCreateToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in newToken
	if err := readJSON(r, &in); err != nil {
		return err
	}
	secret, tok, err := h.createToken(r.Context(), p, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createdToken{Token: secret, APIToken: tok})
	return nil
}

func (h *Handler) createToken(ctx context.Context, p *principal, in newToken) (string, directory.APIToken, error) {
	if strings.TrimSpace(in.Name) == "" {
		return "", directory.APIToken{}, badRequest("a token needs a name saying what uses it")
	}
	if len(in.Scopes) == 0 {
		return "", directory.APIToken{}, badRequest("a token needs at least one scope: " + strings.Join(AllScopes, ", "))
	}
	for _, s := range in.Scopes {
		if !slices.Contains(AllScopes, s) {
			return "", directory.APIToken{}, badRequest(fmt.Sprintf("%q is not a scope; the scopes are %s", s, strings.Join(AllScopes, ", ")))
		}
		// A token may mint tokens, but none stronger than itself.
		if !p.can(s) {
			return "", directory.APIToken{}, &apiError{status: http.StatusForbidden, title: "Forbidden",
				detail: "a token cannot create a token with a scope it lacks: " + s}
		}
	}
	now := h.now()
	switch {
	case in.ExpiresAt.IsZero():
		in.ExpiresAt = now.Add(defaultTokenTTL)
	case !in.ExpiresAt.After(now):
		return "", directory.APIToken{}, badRequest("expires_at must be in the future")
	case in.ExpiresAt.Sub(now) > maxTokenTTL:
		return "", directory.APIToken{}, badRequest("expires_at must be within a year; tokens that never expire are forgotten, not rotated")
	}
	secret, tok, err := h.users.CreateAPIToken(ctx, directory.APIToken{Name: strings.TrimSpace(in.Name),
		Scopes: in.Scopes, ExpiresAt: in.ExpiresAt, CreatedBy: p.actorID})
	if err != nil {
		return "", directory.APIToken{}, err
	}
	if err := h.record(ctx, p, change{action: "token.create", typ: "creation", target: tok.ID, after: tok}, nil); err != nil {
		return "", directory.APIToken{}, err
	}
	return secret, tok, nil
}

func (h *Handler) apiListTokens(w http.ResponseWriter, r *http.Request, _ *principal) error {
	toks, err := h.users.ListAPITokens(r.Context())
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []directory.APIToken{}
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []directory.APIToken `json:"tokens"`
	}{toks})
	return nil
}

func (h *Handler) apiRevokeToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readJSON(r, &empty{}); err != nil {
		return err
	}
	if err := h.revokeToken(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) revokeToken(ctx context.Context, p *principal, id string) error {
	if err := h.users.RevokeAPIToken(ctx, id); err != nil {
		return err
	}
	return h.record(ctx, p, change{action: "token.revoke", typ: "deletion", target: id}, nil)
}
