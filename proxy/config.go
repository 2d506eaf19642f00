package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config is the `gate` section of the configuration file.
type Config struct {
	// PublicURL is where browsers reach the gate, e.g. https://billing.example.com. Login
	// callbacks, redirects and origin checks are built from it.
	PublicURL string         `yaml:"public_url"`
	Upstream  UpstreamConfig `yaml:"upstream"`
	Headers   HeaderConfig   `yaml:"headers"`
	Cookie    CookieConfig   `yaml:"cookie"`
	// TrustedProxies are the networks (CIDRs or addresses) of front proxies whose
	// X-Forwarded-For the gate believes for the client address; default none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ForwardAuth lets front proxies that route requests themselves ask at /_tollgate/auth.
	ForwardAuth ForwardAuthConfig `yaml:"forward_auth"`
	// LoginTTL bounds how long a browser may spend at the IdP; default 10m.
	LoginTTL   time.Duration   `yaml:"login_ttl"`
	Assertion  AssertionConfig `yaml:"assertion"`
	RateLimits RateLimitConfig `yaml:"rate_limits"`
	// UpgradeRecheck is how often the session behind an upgraded (WebSocket) connection is
	// checked; the connection is closed once it is revoked or expired. Default 5s.
	UpgradeRecheck time.Duration `yaml:"upgrade_recheck"`
	// RequireMFA comes from the oidc and mfa sections: sessions without a second factor reach
	// nothing but the second-factor pages and logout.
	RequireMFA bool `yaml:"-"`
	// MFAMode is the mfa section's mode: "idp" (only an IdP-asserted factor counts; the
	// default), "either" (an IdP-asserted one, else the gate's own) or "gate" (always the
	// gate's own).
	MFAMode string `yaml:"-"`
}

// UpstreamConfig says where the protected application lives.
type UpstreamConfig struct {
	URL string `yaml:"url"`
	// Timeout bounds waiting for the upstream's response headers; default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxIdleConns is how many keep-alive connections to hold open; default 256.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// TLS says how an https upstream is verified and which client certificate it is shown.
	TLS UpstreamTLSConfig `yaml:"tls"`
	// HTTP2 lets the gate speak HTTP/2 to an https upstream; default HTTP/1.1.
	HTTP2 bool `yaml:"http2"`
}

// HeaderConfig names the identity headers set for the upstream.
type HeaderConfig struct {
	User  string `yaml:"user"`
	Email string `yaml:"email"`
	Name  string `yaml:"name"`
	Roles string `yaml:"roles"`
	// CSRF carries the session's CSRF token, so that the app's pages can post to the gate's
	// logout endpoint.
	CSRF string `yaml:"csrf"`
}

// CookieConfig sets the session cookie.
type CookieConfig struct {
	// Name defaults to "__Host-tollgate" (or "tollgate" when Secure is false, since the
	// __Host- prefix requires Secure).
	Name string `yaml:"name"`
	// Secure defaults to true. Set false only to run over plain http on loopback (the demo).
	Secure *bool `yaml:"secure"`
}

func (c CookieConfig) secure() bool { return c.Secure == nil || *c.Secure }

// Defaults fills the values a config may leave out.
func (c *Config) Defaults() {
	if c.LoginTTL == 0 {
		c.LoginTTL = 10 * time.Minute
	}
	c.RateLimits.defaults()
	if c.UpgradeRecheck == 0 {
		c.UpgradeRecheck = 5 * time.Second
	}
	if c.Upstream.Timeout == 0 {
		c.Upstream.Timeout = 60 * time.Second
	}
	if c.Upstream.MaxIdleConns == 0 {
		c.Upstream.MaxIdleConns = 256
	}
	h := &c.Headers
	for _, f := range []struct {
		p *string
		d string
	}{{&h.User, "X-Tollgate-User"}, {&h.Email, "X-Tollgate-Email"}, {&h.Name, "X-Tollgate-Name"},
		{&h.Roles, "X-Tollgate-Roles"}, {&h.CSRF, "X-Tollgate-Csrf"}} {
		if *f.p == "" {
			*f.p = f.d
		}
	}
	if c.Cookie.Name == "" {
		c.Cookie.Name = "__Host-tollgate"
		if !c.Cookie.secure() {
			c.Cookie.Name = "tollgate"
		}
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	pub, err := url.Parse(c.PublicURL)
	switch {
	case c.PublicURL == "":
		errs = append(errs, errors.New("gate.public_url: required: the URL browsers use to reach the gate, e.g. https://billing.example.com"))
	case err != nil || pub.Host == "" || (pub.Scheme != "http" && pub.Scheme != "https"):
		errs = append(errs, fmt.Errorf("gate.public_url: %q is not an absolute http(s) URL", c.PublicURL))
	case pub.Path != "" && pub.Path != "/":
		errs = append(errs, fmt.Errorf("gate.public_url: %q has a path; the gate must own the whole origin, drop %q", c.PublicURL, pub.Path))
	case pub.Scheme == "http" && c.Cookie.secure():
		errs = append(errs, fmt.Errorf("gate.public_url: %q is plain http but gate.cookie.secure is true: browsers would drop the cookie; use https, or set gate.cookie.secure: false for a loopback test setup", c.PublicURL))
	}
	up, err := url.Parse(c.Upstream.URL)
	switch {
	case c.Upstream.URL == "":
		errs = append(errs, errors.New("gate.upstream.url: required: where the protected application listens, e.g. http://127.0.0.1:8081"))
	case err != nil || up.Host == "" || (up.Scheme != "http" && up.Scheme != "https"):
		errs = append(errs, fmt.Errorf("gate.upstream.url: %q is not an absolute http(s) URL", c.Upstream.URL))
	case up.RawQuery != "" || up.Fragment != "":
		errs = append(errs, fmt.Errorf("gate.upstream.url: %q must not have a query or fragment", c.Upstream.URL))
	}
	if c.Upstream.Timeout < 0 || c.LoginTTL < 0 || c.UpgradeRecheck < 0 {
		errs = append(errs, errors.New("gate.upstream.timeout, gate.login_ttl, gate.upgrade_recheck: durations must be positive"))
	}
	if _, err := parseTrusted(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if err := c.RateLimits.validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.ForwardAuth.Validate())
	if c.Upstream.MaxIdleConns < 0 {
		errs = append(errs, errors.New("gate.upstream.max_idle_conns: must be positive"))
	}
	errs = append(errs, c.Upstream.validateTLS()...)
	seen := map[string]string{}
	for key, v := range map[string]string{"user": c.Headers.User, "email": c.Headers.Email,
		"name": c.Headers.Name, "roles": c.Headers.Roles, "csrf": c.Headers.CSRF} {
		canon := normalizeHeaderName(v)
		switch {
		case v == "" || !validHeaderName(v):
			errs = append(errs, fmt.Errorf("gate.headers.%s: %q is not a valid header name", key, v))
		case seen[canon] != "":
			errs = append(errs, fmt.Errorf("gate.headers.%s: %q is also used by gate.headers.%s", key, v, seen[canon]))
		case isHopByHop(v):
			errs = append(errs, fmt.Errorf("gate.headers.%s: %q is a hop-by-hop header and would be removed in transit", key, v))
		}
		seen[canon] = key
	}
	if c.Cookie.Name != "" && (strings.HasPrefix(c.Cookie.Name, "__Host-") || strings.HasPrefix(c.Cookie.Name, "__Secure-")) && !c.Cookie.secure() {
		errs = append(errs, fmt.Errorf("gate.cookie.name: %q requires gate.cookie.secure: true", c.Cookie.Name))
	}
	if c.Cookie.Name != "" && !validHeaderName(c.Cookie.Name) {
		errs = append(errs, fmt.Errorf("gate.cookie.name: %q is not a valid cookie name", c.Cookie.Name))
	}
	return errors.Join(errs...)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func isHopByHop(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}
