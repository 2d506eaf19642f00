// Package admin is Tollgate's user administration: a JSON API under /_tollgate/admin/api/v1
// (documented in openapi.yaml) and server-rendered pages under /_tollgate/admin/, both over
// the durable directory (idp/directory) and the session store (idp/session).
//
// Every caller is an administrator with a recent second factor, signed in through the gate,
// or an API token with scopes. Every change is checked against the safety rules (nobody
// changes their own roles or status, the last administrator stays, separation of duties),
// ends the affected person's sessions in the shared session store, and is written to the
// audit trail with its actor, before and after.
package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"
)

// Paths served by the handler. The gate sends everything under Prefix here.
const (
	Prefix    = "/_tollgate/admin/"
	APIPrefix = "/_tollgate/admin/api/v1"
	cssPath   = Prefix + "assets/admin.css"
	// InvitePath is where invitation links point; the gate redeems them after sign-in.
	InvitePath = "/_tollgate/invite"
)

// Caller is who the gate found behind a request: a signed-in browser session.
type Caller struct {
	Kind      string // "session"
	UserID    string // directory user id; "" when the person is not in the durable directory
	Email     string
	Name      string
	Roles     []string
	MFAAt     time.Time // when the session last proved a second factor
	CSRF      string    // the session's CSRF token
	SessionID string    // hashed session id, for audit
	ClientIP  string
	RequestID string
}

// SessionStore is the part of the session store that ends a person's sessions.
type SessionStore interface {
	DeleteUser(ctx context.Context, userKey string) (int, error)
	ListUser(ctx context.Context, userKey string) ([]session.Info, error)
	DeleteByID(ctx context.Context, userKey, id string) error
}

var (
	_ SessionStore = (*session.EmbeddedStore)(nil)
	_ SessionStore = (*session.RedisStore)(nil)
)

// Policy names the roles and what each allows (policy.Engine satisfies it).
type Policy interface {
	Roles() []string
	RoleInfo(role string) (description string, routes []string, ok bool)
}

// Auditor writes audit records (audit.Pipeline satisfies it).
type Auditor interface {
	Write(audit.Record) error
}

// Deps are the handler's collaborators.
type Deps struct {
	Users    *directory.SQLStore
	Sessions SessionStore
	Policy   Policy
	Audit    Auditor
	Now      func() time.Time // nil: time.Now
	Rand     io.Reader        // nil: crypto/rand; pseudonyms of erased users
	Log      *slog.Logger     // nil: discard
	// Registerer receives tollgate_admin_changes_total{action,outcome}; nil: no metrics.
	Registerer prometheus.Registerer
}

// Handler serves the admin API and pages.
type Handler struct {
	cfg      Config
	users    *directory.SQLStore
	sessions SessionStore
	policy   Policy
	audit    Auditor
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger
	mail     *mailer // nil without SMTP
	changes  *prometheus.CounterVec

	api    *http.ServeMux
	routes []string // "METHOD /path" of every API route, for the documentation test
	pages  *http.ServeMux
	tmpl   map[string]*template.Template
}

// New checks cfg and builds the handler. cfg.PublicURL must be the gate's absolute origin.
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg.Defaults()
	if deps.Users == nil || deps.Sessions == nil || deps.Policy == nil || deps.Audit == nil {
		return nil, errors.New("admin: Users, Sessions, Policy and Audit are required")
	}
	if err := cfg.Validate(deps.Policy.Roles()); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin: public URL %q is not an absolute http(s) URL; invitation links are built from it", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	h := &Handler{cfg: cfg, users: deps.Users, sessions: deps.Sessions, policy: deps.Policy, audit: deps.Audit,
		now: deps.Now, rand: deps.Rand, log: deps.Log}
	if h.now == nil {
		h.now = time.Now
	}
	if h.rand == nil {
		h.rand = rand.Reader
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if cfg.SMTP.Host != "" {
		if h.mail, err = newMailer(cfg.SMTP, h.now); err != nil {
			return nil, err
		}
	}
	h.changes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_admin_changes_total",
		Help: "Administrative changes by action and outcome (success, refused, error).",
	}, []string{"action", "outcome"})
	if deps.Registerer != nil {
		if err := deps.Registerer.Register(h.changes); err != nil {
			return nil, fmt.Errorf("admin: register metrics: %w", err)
		}
	}
	if h.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	h.api, h.pages = http.NewServeMux(), http.NewServeMux()
	h.apiRoutes()
	h.pageRoutes()
	return h, nil
}

// Serve answers every request under /_tollgate/admin/. caller is nil when the request has no
// gate session; API requests may then bring an API token.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, caller *Caller) {
	p := r.URL.Path
	switch {
	case p == cssPath:
		serveCSS(w, r)
	case p == strings.TrimSuffix(Prefix, "/"):
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
	case p == APIPrefix || strings.HasPrefix(p, APIPrefix+"/"):
		h.serveAPI(w, r, caller)
	case strings.HasPrefix(p, Prefix):
		h.servePage(w, r, caller)
	default:
		http.NotFound(w, r)
	}
}

// handle registers an API route. The pattern's path is relative to APIPrefix.
func (h *Handler) handle(pattern, scope string, fn apiFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	h.routes = append(h.routes, method+" "+path)
	h.api.Handle(method+" "+APIPrefix+path, apiRoute{h: h, scope: scope, fn: fn})
}

// Routes lists the API routes as "METHOD /path" (relative to APIPrefix), sorted.
func (h *Handler) Routes() []string {
	return slices.Sorted(slices.Values(h.routes))
}
