package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
)

// Scopes of API tokens. A signed-in administrator holds them all.
const (
	ScopeUsersRead     = "users:read"     // list and read users, their sessions, the roles
	ScopeUsersWrite    = "users:write"    // create, change, disable, enable, delete users; reset MFA
	ScopeSessionsWrite = "sessions:write" // end sessions
	ScopeReviewRead    = "review:read"    // the access review
	ScopeTokensWrite   = "tokens:write"   // list, create and revoke API tokens
	ScopePrivacy       = "privacy"        // export everything about a person; erase a person
)

// AllScopes lists every scope.
var AllScopes = []string{ScopePrivacy, ScopeReviewRead, ScopeSessionsWrite, ScopeTokensWrite, ScopeUsersRead, ScopeUsersWrite}

// StepUpDetail is what a session caller whose second factor is too old is told.
const StepUpDetail = "step-up required: sign in again with your second factor"

// principal is an authenticated caller: a session of an administrator, or an API token
// acting with the authority of the administrator who created it.
type principal struct {
	kind   string // "session" or "token"
	user   directory.User
	caller *Caller
	token  *directory.APIToken
	// actorID is the directory id the safety rules treat as "self": the person, or the
	// token's creator.
	actorID             string
	requestID, clientIP string
	method, path        string
	sessionID           string
	csrf                string
}

func (p *principal) can(scope string) bool {
	return p.kind == "session" || slices.Contains(p.token.Scopes, scope)
}

// auditUser is the actor of an audit record.
func (p *principal) auditUser() *audit.User {
	switch p.kind {
	case "system":
		return &audit.User{ID: "tollgate", Name: "inactivity job"}
	case "token":
		return &audit.User{ID: p.token.ID, Name: "API token " + p.token.Name + " of " + p.user.Email}
	}
	u := &audit.User{ID: p.user.ID, Name: p.caller.Name, Email: p.caller.Email, Roles: p.caller.Roles}
	if p.user.Issuer != "" {
		u.ID, u.Issuer, u.Subject = idp.UserKey(p.user.Issuer, p.user.Subject), p.user.Issuer, p.user.Subject
	}
	return u
}

// authFailure is a refused authentication: 401 (no or bad credentials) or 403.
type authFailure struct {
	status int
	detail string
}

func (e *authFailure) Error() string { return e.detail }

// authenticate finds who is calling. Tokens are accepted only where allowTokens (the API).
func (h *Handler) authenticate(ctx context.Context, w http.ResponseWriter, r *http.Request, caller *Caller, allowTokens bool) (*principal, error) {
	p := &principal{requestID: requestID(w, caller), clientIP: clientIP(r, caller), method: r.Method, path: r.URL.Path}
	if caller != nil {
		return p, h.sessionPrincipal(ctx, p, caller)
	}
	auth := r.Header.Get("Authorization")
	if !allowTokens || auth == "" {
		return p, &authFailure{http.StatusUnauthorized, "sign in as an administrator, or send an API token as Authorization: Bearer <token>"}
	}
	scheme, secret, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return p, &authFailure{http.StatusUnauthorized, "the Authorization header must be Bearer <API token>"}
	}
	tok, err := h.users.LookupAPIToken(ctx, strings.TrimSpace(secret))
	if errors.Is(err, directory.ErrNotFound) {
		h.log.InfoContext(ctx, "admin: API token refused", "reason", err.Error(), "request_id", p.requestID)
		return p, &authFailure{http.StatusUnauthorized, "the API token is unknown, expired or revoked"}
	}
	if err != nil {
		return p, err
	}
	// A token acts with its creator's authority: a leaver's tokens stop with them.
	creator, err := h.users.GetUser(ctx, tok.CreatedBy)
	if errors.Is(err, directory.ErrNotFound) || (err == nil && !h.activeAdmin(creator)) {
		return p, &authFailure{http.StatusUnauthorized, "the API token's creator is no longer an active administrator; create a new token"}
	}
	if err != nil {
		return p, err
	}
	p.kind, p.token, p.user, p.actorID = "token", &tok, creator, creator.ID
	return p, nil
}

func (h *Handler) sessionPrincipal(ctx context.Context, p *principal, c *Caller) error {
	p.kind, p.caller, p.sessionID, p.csrf = "session", c, c.SessionID, c.CSRF
	if c.UserID == "" {
		return &authFailure{http.StatusForbidden, "administration needs an account in the user directory"}
	}
	if !slices.Contains(c.Roles, h.cfg.AdminRole) {
		return &authFailure{http.StatusForbidden, "the " + h.cfg.AdminRole + " role is required"}
	}
	u, err := h.users.GetUser(ctx, c.UserID)
	if errors.Is(err, directory.ErrNotFound) {
		return &authFailure{http.StatusForbidden, "administration needs an account in the user directory"}
	}
	if err != nil {
		return err
	}
	if u.Status != directory.StatusActive {
		return &authFailure{http.StatusForbidden, "your account is " + string(u.Status)}
	}
	if c.MFAAt.IsZero() || h.now().Sub(c.MFAAt) > h.cfg.MFAWithin.std() {
		return &authFailure{http.StatusForbidden, StepUpDetail}
	}
	p.user, p.actorID = u, u.ID
	return nil
}

func (h *Handler) activeAdmin(u directory.User) bool {
	return u.Status == directory.StatusActive && slices.Contains(u.Roles, h.cfg.AdminRole)
}

// checkAPIChange is the CSRF rule of the API for browser sessions: a change must carry the
// session's CSRF token in X-Tollgate-Csrf and be sent as application/json, which a
// cross-site form cannot do. Tokens are not sent by browsers on their own, so they need
// neither.
func checkAPIChange(r *http.Request, p *principal) error {
	if p.kind != "session" || safeMethod(r.Method) {
		return nil
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return &apiError{status: http.StatusUnsupportedMediaType, title: "Unsupported media type",
			detail: "changes must be sent with Content-Type: application/json"}
	}
	if !sameSecret(r.Header.Get("X-Tollgate-Csrf"), p.csrf) {
		return &apiError{status: http.StatusForbidden, title: "CSRF check failed",
			detail: "the X-Tollgate-Csrf header must carry your session's CSRF token"}
	}
	return nil
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// sameSecret compares in constant time; an empty expected value never matches.
func sameSecret(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// requestID is the gate's id for the request: from the caller, or the X-Request-Id the
// gate's observe step has already set on the response. A fresh one otherwise.
func requestID(w http.ResponseWriter, c *Caller) string {
	if c != nil && c.RequestID != "" {
		return c.RequestID
	}
	if id := w.Header().Get("X-Request-Id"); id != "" {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	w.Header().Set("X-Request-Id", id)
	return id
}

func clientIP(r *http.Request, c *Caller) string {
	if c != nil && c.ClientIP != "" {
		return c.ClientIP
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
