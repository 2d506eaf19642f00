// Package devidp is a small OpenID Connect provider for `tollgate demo` and for tests that need a
// real identity provider over real HTTP. It implements the authorization code flow with PKCE (S256
// only), discovery, a JWKS, refresh-token rotation, userinfo and RP-initiated logout, and it lets
// the caller decide what each user asserts ("amr", "acr", "auth_time") so that second-factor and
// freshness rules can be exercised end to end.
//
// It keeps everything in memory, has no IdP session (every authorization shows the login form),
// and bounds every table it keeps: pending sign-ins, codes and tokens expire and are swept.
//
// Typical use, with the issuer known before the provider is built:
//
//	ln, _ := net.Listen("tcp", "127.0.0.1:0")
//	p, err := devidp.New(devidp.Config{
//		Issuer:  "http://" + ln.Addr().String(),
//		Users:   devidp.DemoUsers(),
//		Clients: []devidp.Client{{ID: "tollgate", Secret: s, RedirectURIs: []string{cb}}},
//	})
//	go http.Serve(ln, p)
package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Lifetimes of what the provider hands out. They are short on purpose: the provider is for demos
// and tests, and a short life keeps the tables small.
const (
	codeTTL          = 60 * time.Second
	pendingTTL       = 10 * time.Minute
	idTokenTTL       = 5 * time.Minute
	accessTokenTTL   = 5 * time.Minute
	refreshTokenTTL  = 12 * time.Hour
	usedCodeTTL      = 10 * time.Minute // how long a redeemed code is remembered to detect replay
	sweepEvery       = 30 * time.Second
	defaultMaxEntry  = 10000
	maxLoginFailures = 5
)

// User is an account the provider can sign in.
type User struct {
	Username string
	Password string
	// Subject is the stable "sub". When empty it is DefaultSubject(Username).
	Subject string
	Email   string
	Name    string
	Groups  []string
	// AMR is asserted as "amr" in ID tokens of logins that happen while it is set.
	AMR []string
	// ACR is asserted as "acr" when non-empty.
	ACR string
}

// Client is a registered relying party. Every client is confidential: it has a secret and
// authenticates at the token endpoint with client_secret_basic or client_secret_post.
type Client struct {
	ID     string
	Secret string
	// RedirectURIs are compared exactly (no prefix, no normalisation).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the only places /logout redirects to, compared exactly.
	PostLogoutRedirectURIs []string
}

// Config is the plain-data configuration of a Provider.
type Config struct {
	// Issuer is the provider's URL, e.g. "http://127.0.0.1:41234", without a trailing slash.
	// Endpoints are served below its path.
	Issuer  string
	Users   []User
	Clients []Client
	// ShowUsers lists the configured usernames on the login page as a hint (demo only).
	ShowUsers bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per notable event; nil discards. Secrets are never logged.
	Logger *slog.Logger
	// Rand is the source of codes, tokens and request ids; nil means crypto/rand.Reader.
	Rand io.Reader
	// SigningKey signs ID tokens; nil means a fresh RSA-2048 key. Tests that start many
	// providers pass one key to save the cost of generating it each time.
	SigningKey *rsa.PrivateKey
	// MaxEntries bounds each in-memory table (pending sign-ins, codes, access and refresh
	// tokens); 0 means 10000. When a table is full of live entries new ones are refused.
	MaxEntries int
}

// Provider is an OpenID Connect provider. It is an http.Handler; all methods are safe for
// concurrent use.
type Provider struct {
	issuer    string
	basePath  string
	clients   map[string]Client
	showUsers bool
	now       func() time.Time
	log       *slog.Logger
	keys      *signingKeys
	discovery []byte
	pages     *template.Template
	maxEntry  int

	randMu sync.Mutex // Config.Rand need not be safe for concurrent use
	rand   io.Reader

	mu        sync.Mutex
	users     map[string]User // by canonical username
	authTimes map[string]time.Time
	pending   map[string]*pendingAuth
	codes     map[string]*authCode
	access    map[string]*accessToken
	refresh   map[string]*refreshToken
	nextSweep time.Time
}

// New validates cfg and builds a Provider. It generates a signing key unless one is given.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("devidp: invalid config: %w", err)
	}
	key := cfg.SigningKey
	if key == nil {
		var err error
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("devidp: generate signing key: %w", err)
		}
	}
	keys, err := newSigningKeys(key)
	if err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	iss, _ := url.Parse(cfg.Issuer) // Validate has parsed it already
	p := &Provider{
		issuer:    cfg.Issuer,
		basePath:  iss.Path,
		clients:   make(map[string]Client, len(cfg.Clients)),
		showUsers: cfg.ShowUsers,
		now:       cfg.Now,
		log:       cfg.Logger,
		rand:      cfg.Rand,
		keys:      keys,
		maxEntry:  cfg.MaxEntries,
		users:     make(map[string]User, len(cfg.Users)),
		authTimes: make(map[string]time.Time),
		pending:   make(map[string]*pendingAuth),
		codes:     make(map[string]*authCode),
		access:    make(map[string]*accessToken),
		refresh:   make(map[string]*refreshToken),
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.maxEntry <= 0 {
		p.maxEntry = defaultMaxEntry
	}
	for _, c := range cfg.Clients {
		p.clients[c.ID] = cloneClient(c)
	}
	for _, u := range cfg.Users {
		u = normalizeUser(u)
		p.users[canonicalUsername(u.Username)] = u
	}
	if p.discovery, err = discoveryDocument(p.issuer); err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	if p.pages, err = parsePages(); err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	return p, nil
}

// Issuer returns the issuer URL the provider asserts.
func (p *Provider) Issuer() string { return p.issuer }

// ServeHTTP routes the provider's endpoints, all relative to the issuer's path.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, p.basePath)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch path {
	case "/.well-known/openid-configuration":
		p.serveDiscovery(w, r)
	case "/jwks":
		p.serveJWKS(w, r)
	case "/authorize":
		p.serveAuthorize(w, r)
	case "/login":
		p.serveLogin(w, r)
	case "/token":
		p.serveToken(w, r)
	case "/userinfo":
		p.serveUserinfo(w, r)
	case "/logout":
		p.serveLogout(w, r)
	default:
		http.NotFound(w, r)
	}
}

// allowMethods answers 405 unless r uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
