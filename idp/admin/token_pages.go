package admin

import (
	"net/http"
	"strconv"
	"time"
)

// tokenRow is one API token on the tokens page.
type tokenRow struct {
	ID, Name, Scopes, State string
	CreatedAt, ExpiresAt    time.Time
}

func (h *Handler) tokensPage(w http.ResponseWriter, r *http.Request, p *principal, status int, d pageData) error {
	toks, err := h.users.ListAPITokens(r.Context())
	if err != nil {
		return err
	}
	now := h.now()
	for _, t := range toks {
		state := "active"
		switch {
		case !t.RevokedAt.IsZero():
			state = "revoked"
		case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
			state = "expired"
		}
		d.Tokens = append(d.Tokens, tokenRow{ID: t.ID, Name: t.Name, Scopes: joinRoles(t.Scopes), State: state,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
	}
	d.Scopes = AllScopes
	if d.Notice == "" {
		d.Notice = notices[r.URL.Query().Get("done")]
	}
	h.render(w, status, "tokens", d)
	return nil
}

func (h *Handler) pageTokens(w http.ResponseWriter, r *http.Request, p *principal) error {
	return h.tokensPage(w, r, p, http.StatusOK, h.base(p, "API tokens"))
}

// pageCreateToken shows the new token's secret on the answering page, once.
func (h *Handler) pageCreateToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	in := newToken{Name: r.PostForm.Get("name"), Scopes: r.PostForm["scope"]}
	d := h.base(p, "API tokens")
	status := http.StatusCreated
	days, err := strconv.Atoi(r.PostForm.Get("days"))
	if err != nil || days < 1 {
		days = int(defaultTokenTTL / (24 * time.Hour))
	}
	in.ExpiresAt = h.now().Add(time.Duration(days) * 24 * time.Hour)
	secret, _, err := h.createToken(r.Context(), p, in)
	if err != nil {
		e := classify(err)
		if e.status >= 500 {
			return err
		}
		d.Error, status = e.detail, e.status
	}
	d.Secret = secret
	return h.tokensPage(w, r, p, status, d)
}

func (h *Handler) pageRevokeToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := h.revokeToken(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"tokens?done=revoked", http.StatusSeeOther)
	return nil
}
