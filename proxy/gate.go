// Package proxy is the gate itself: one handler chain that observes, canonicalizes, serves the
// gate's own endpoints, authenticates, checks the second factor, authorizes, audits and forwards
// to the upstream application. Behaviour it needs from other packages comes in through the
// small interfaces declared here.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/policy"
)

// SessionStore keeps signed-in sessions, keyed by the cookie token.
type SessionStore interface {
	Create(ctx context.Context, s session.Session) (string, error)
	Get(ctx context.Context, token string) (session.Session, error)
	Delete(ctx context.Context, token string) error
}

// SessionUpdater replaces a session's contents (after a token refresh).
type SessionUpdater interface {
	Update(ctx context.Context, token string, s session.Session) error
}

// OnceStore keeps short-lived values that may be taken only once (pending logins).
type OnceStore interface {
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) error
	TakeOnce(ctx context.Context, key string) ([]byte, error)
}

// Decider is the policy.
type Decider interface {
	Decide(ctx context.Context, r policy.Request) (policy.Decision, error)
}

// Login runs the OIDC authorization code flow.
type Login interface {
	Start(ctx context.Context, redirect string) (string, oidc.Pending, error)
	Exchange(ctx context.Context, code string, pend oidc.Pending) (oidc.Result, error)
}

// Refresher renews IdP tokens for a long session.
type Refresher interface {
	Refresh(ctx context.Context, refreshToken string, prev idp.Identity) (oidc.Result, error)
}

// Directory tells who a person is in the directory and which roles they hold, and hears that
// they used the gate.
type Directory interface {
	Resolve(ctx context.Context, id idp.Identity, invitation string) (directory.Account, error)
	Seen(ctx context.Context, userID string) error
}

// Auditor receives one record per audited event.
type Auditor interface {
	Write(r audit.Record) error
}

var (
	_ SessionStore   = (*session.EmbeddedStore)(nil)
	_ SessionStore   = (*session.RedisStore)(nil)
	_ SessionUpdater = (*session.RedisStore)(nil)
	_ OnceStore      = (*session.RedisStore)(nil)
	_ OnceStore      = (*session.EmbeddedStore)(nil)
	_ SessionStore   = (*session.CachedStore)(nil)
	_ SessionUpdater = (*session.CachedStore)(nil)
	_ OnceStore      = (*session.CachedStore)(nil)
	_ Decider        = (*policy.Engine)(nil)
	_ Login          = (*oidc.RelyingParty)(nil)
	_ Refresher      = (*oidc.RelyingParty)(nil)
	_ Auditor        = (*audit.Writer)(nil)
	_ Directory      = (*directory.Resolver)(nil)
)

// Deps are the gate's collaborators.
type Deps struct {
	Sessions  SessionStore
	Once      OnceStore
	Decider   Decider
	Login     Login
	Refresher Refresher // optional: nil keeps IdP tokens as they are
	Directory Directory
	Audit     Auditor
	Metrics   *Metrics
	Log       *slog.Logger
	Now       func() time.Time // nil means time.Now
	// Admin serves user administration; nil turns it off.
	Admin AdminAPI
	// MFA serves the gate's own second factor; nil when only the IdP's counts.
	MFA SecondFactor
	// Transport reaches the upstream; nil means a transport tuned for one busy upstream.
	Transport http.RoundTripper
}

// Gate is the assembled request path.
type Gate struct {
	cfg      Config
	deps     Deps
	public   *url.URL
	upstream *url.URL
	cookie   cookieNames
	strip    headerStripper
	handler  http.Handler
	flight   flight
	seen     seenThrottle
	trusted  trustedProxies
	assert   *assertions // nil when turned off
	identity identityHeaders
	limiter  Limiter // nil when the session store cannot count
}

// New validates cfg, checks deps and assembles the chain. Everything that can be checked is
// checked here, so that a bad setting stops the start rather than a request. New registers no
// metrics and starts no goroutines: a configuration reload builds a second Gate on the same
// deps and swaps it in, which relies on that.
func New(cfg Config, deps Deps) (*Gate, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var missing []error
	for name, ok := range map[string]bool{
		"Sessions": deps.Sessions != nil, "Once": deps.Once != nil, "Decider": deps.Decider != nil,
		"Login": deps.Login != nil, "Directory": deps.Directory != nil, "Audit": deps.Audit != nil,
		"Metrics": deps.Metrics != nil, "Log": deps.Log != nil,
	} {
		if !ok {
			missing = append(missing, fmt.Errorf("proxy.New: Deps.%s is required", name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	g := &Gate{cfg: cfg, deps: deps}
	g.public, _ = url.Parse(cfg.PublicURL)
	g.upstream, _ = url.Parse(cfg.Upstream.URL)
	g.cookie = newCookieNames(cfg.Cookie)
	g.strip = newHeaderStripper(cfg.Headers)
	g.trusted, _ = parseTrusted(cfg.TrustedProxies) // checked by Validate
	g.limiter, _ = deps.Sessions.(Limiter)
	var err error
	if g.assert, err = newAssertions(cfg.Assertion, g.origin(), cfg.Upstream.URL, deps.Now); err != nil {
		return nil, err
	}
	g.identity = newIdentityHeaders(cfg.Headers, g.assert)
	if g.deps.Transport == nil {
		tr, _, err := NewTransport(cfg.Upstream, deps.Log)
		if err != nil {
			return nil, err
		}
		g.deps.Transport = tr
	}
	g.handler = g.chain()
	return g, nil
}

// ServeHTTP serves one request through the chain.
func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.handler.ServeHTTP(w, r) }

// chain composes the request path, outermost first. The gate's own endpoints sit before
// authentication; audit wraps every decision step so that refusals are recorded too.
func (g *Gate) chain() http.Handler {
	return stack(g.upstreamHandler(),
		g.observe,
		g.canonicalize,
		g.reserved,
		g.auditAccess,
		g.authenticate,
		g.requireMFA,
		g.authorize,
		g.upgrades,
	)
}

// stack wraps h in the middleware listed outermost first.
func stack(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}
