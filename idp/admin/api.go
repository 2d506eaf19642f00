package admin

import (
	"context"
	"net/http"
	"net/url"
)

// apiFunc is an API endpoint: it writes a success response or returns an error that
// classify turns into problem details.
type apiFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

type apiRoute struct {
	h     *Handler
	scope string
	fn    apiFunc
}

type principalKey struct{}

func (rt apiRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	if p == nil {
		// Only serveAPI reaches the mux, and it always sets the principal.
		problem(w, &apiError{status: http.StatusInternalServerError, title: "Internal error", detail: "no caller"}, "")
		return
	}
	if !p.can(rt.scope) {
		rt.h.fail(w, r, p, &apiError{status: http.StatusForbidden, title: "Forbidden",
			detail: "this API token lacks the scope " + rt.scope})
		return
	}
	if err := rt.fn(w, r, p); err != nil {
		rt.h.fail(w, r, p, err)
	}
}

// apiRoutes registers every endpoint of the API, with the token scope it needs.
func (h *Handler) apiRoutes() {
	h.handle("GET /users", ScopeUsersRead, h.apiListUsers)
	h.handle("POST /users", ScopeUsersWrite, h.apiCreateUser)
	h.handle("GET /users/{id}", ScopeUsersRead, h.apiGetUser)
	h.handle("PATCH /users/{id}", ScopeUsersWrite, h.apiUpdateUser)
	h.handle("DELETE /users/{id}", ScopeUsersWrite, h.apiDeleteUser)
	h.handle("POST /users/{id}/disable", ScopeUsersWrite, h.apiSetStatus(statusDisable))
	h.handle("POST /users/{id}/enable", ScopeUsersWrite, h.apiSetStatus(statusEnable))
	h.handle("POST /users/{id}/invitation", ScopeUsersWrite, h.apiReinvite)
	h.handle("POST /users/{id}/mfa/reset", ScopeUsersWrite, h.apiResetMFA)
	h.handle("GET /users/{id}/sessions", ScopeUsersRead, h.apiListSessions)
	h.handle("DELETE /users/{id}/sessions", ScopeSessionsWrite, h.apiRevokeSessions)
	h.handle("DELETE /users/{id}/sessions/{sid}", ScopeSessionsWrite, h.apiRevokeSession)
	h.handle("GET /users/{id}/export", ScopePrivacy, h.apiExport)
	h.handle("POST /users/{id}/erase", ScopePrivacy, h.apiErase)
	h.handle("GET /roles", ScopeUsersRead, h.apiRoles)
	h.handle("GET /review", ScopeReviewRead, h.apiReview)
	h.handle("GET /review.csv", ScopeReviewRead, h.apiReviewCSV)
	h.handle("GET /tokens", ScopeTokensWrite, h.apiListTokens)
	h.handle("POST /tokens", ScopeTokensWrite, h.apiCreateToken)
	h.handle("DELETE /tokens/{id}", ScopeTokensWrite, h.apiRevokeToken)
}

func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request, caller *Caller) {
	apiHeaders(w.Header())
	p, err := h.authenticate(r.Context(), w, r, caller, true)
	if err == nil {
		err = checkAPIChange(r, p)
	}
	if err != nil {
		h.fail(w, r, p, err)
		return
	}
	if _, pattern := h.api.Handler(r); pattern == "" {
		h.fail(w, r, p, h.noRoute(r))
		return
	}
	h.api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
}

// noRoute tells an unknown path (404) from a known path with another method (405).
func (h *Handler) noRoute(r *http.Request) error {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: &url.URL{Path: r.URL.Path}, Host: r.Host, Header: http.Header{}}
		if _, pattern := h.api.Handler(probe); pattern != "" {
			return &apiError{status: http.StatusMethodNotAllowed, title: "Method not allowed",
				detail: r.Method + " is not allowed on " + r.URL.Path}
		}
	}
	return &apiError{status: http.StatusNotFound, title: "Not found", detail: "no such endpoint: " + r.URL.Path}
}

// fail answers with problem details and logs what the client is not told.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, p *principal, err error) {
	e := classify(err)
	reqID := ""
	if p != nil {
		reqID = p.requestID
	}
	if e.status >= 500 {
		h.log.ErrorContext(r.Context(), "admin: request failed", "error", err.Error(), "path", r.URL.Path, "request_id", reqID)
	}
	problem(w, e, reqID)
}
