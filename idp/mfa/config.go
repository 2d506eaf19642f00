package mfa

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
)

// Modes: which second factors count.
const (
	// ModeIdP accepts only a factor the IdP asserted (amr/acr); the gate's own factor is off.
	ModeIdP = "idp"
	// ModeGate always asks for the gate's own factor, whatever the IdP asserted.
	ModeGate = "gate"
	// ModeEither accepts an IdP-asserted factor, and asks for the gate's own otherwise.
	ModeEither = "either"
)

// Config is the `mfa` section of the configuration file.
type Config struct {
	// Mode is "idp", "gate" or "either" (default).
	Mode string `yaml:"mode"`
	// Issuer is the label authenticator apps show next to the account; default "Tollgate".
	Issuer string `yaml:"issuer"`
	// KeyFile or KeyEnv (exactly one, unless Mode is "idp") hold the 32-byte key, base64 or
	// hex, that seals secrets at rest and keys recovery-code hashes.
	KeyFile string `yaml:"key_file"`
	KeyEnv  string `yaml:"key_env"`
	// OldKeyFiles are earlier keys, still accepted to open what they sealed; whatever is
	// opened with one is sealed again with the current key when next used.
	OldKeyFiles []string `yaml:"old_key_files"`
	// MaxAttempts is how many failed codes lock a person out for Lockout; default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// Lockout is both the window in which failures count (from the first) and how long the
	// lock lasts; default 15m.
	Lockout  time.Duration  `yaml:"lockout"`
	WebAuthn WebAuthnConfig `yaml:"webauthn"`
	// PublicURL is the gate's public_url, set by the gate: origin checks and the WebAuthn
	// relying party come from it.
	PublicURL string `yaml:"-"`
}

// WebAuthnConfig turns passkeys and security keys on.
type WebAuthnConfig struct {
	Enabled bool `yaml:"enabled"`
	// RPID is the relying party id; default the public URL's host. It must be that host or a
	// parent domain of it.
	RPID string `yaml:"rp_id"`
	// Origins the browser may report; default the public URL's origin.
	Origins []string `yaml:"origins"`
}

// Defaults fills the values a config may leave out.
func (c *Config) Defaults() {
	if c.Mode == "" {
		c.Mode = ModeEither
	}
	if c.Issuer == "" {
		c.Issuer = "Tollgate"
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.Lockout == 0 {
		c.Lockout = 15 * time.Minute
	}
	if u, err := url.Parse(c.PublicURL); err == nil && u.Host != "" {
		if c.WebAuthn.RPID == "" {
			c.WebAuthn.RPID = u.Hostname()
		}
		if len(c.WebAuthn.Origins) == 0 {
			c.WebAuthn.Origins = []string{u.Scheme + "://" + u.Host}
		}
	}
}

// GateFactor reports whether the gate's own factor is on.
func (c Config) GateFactor() bool { return c.Mode != ModeIdP }

// Validate reports every problem at once. It reads no file: keys are loaded by New.
func (c Config) Validate() error {
	c.Defaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("mfa: "+format, args...)) }
	switch c.Mode {
	case ModeIdP, ModeGate, ModeEither:
	default:
		bad("mode %q: use idp, gate or either", c.Mode)
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		bad("max_attempts %d: use 1 to 100", c.MaxAttempts)
	}
	if c.Lockout < time.Minute || c.Lockout > 24*time.Hour {
		bad("lockout %v: use 1m to 24h", c.Lockout)
	}
	if len(c.Issuer) > 64 || strings.ContainsRune(c.Issuer, ':') || strings.IndexFunc(c.Issuer, unicode.IsControl) >= 0 {
		bad("issuer %q: at most 64 characters, no colon or control characters (apps split the label on ':')", c.Issuer)
	}
	for i, f := range c.OldKeyFiles {
		if f == "" {
			bad("old_key_files[%d] is empty", i)
		}
	}
	if !c.GateFactor() {
		if c.WebAuthn.Enabled {
			bad("webauthn.enabled needs mode gate or either: passkeys are the gate's own factor")
		}
		return errors.Join(errs...)
	}
	if (c.KeyFile == "") == (c.KeyEnv == "") {
		bad("set exactly one of key_file and key_env: the key that seals second-factor secrets")
	}
	pub, err := parseOrigin(c.PublicURL)
	if err != nil {
		bad("public URL: %v", err)
	}
	if c.WebAuthn.Enabled && pub != nil {
		errs = append(errs, c.WebAuthn.validate(pub)...)
	}
	return errors.Join(errs...)
}

func (w WebAuthnConfig) validate(pub *url.URL) []error {
	var errs []error
	host := pub.Hostname()
	if net.ParseIP(host) != nil {
		errs = append(errs, fmt.Errorf("mfa: webauthn: the public URL's host %s is an IP address; browsers need a domain name (use localhost rather than 127.0.0.1)", host))
	}
	if host != w.RPID && !strings.HasSuffix(host, "."+w.RPID) {
		errs = append(errs, fmt.Errorf("mfa: webauthn.rp_id %q: must be %s or a parent domain of it", w.RPID, host))
	}
	for _, o := range w.Origins {
		if _, err := parseOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("mfa: webauthn.origins %q: %w", o, err))
		}
	}
	return errs
}

// parseOrigin accepts scheme://host[:port] with an optional "/" and nothing else.
func parseOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", s)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: use scheme://host[:port] with nothing after it", s)
	}
	return u, nil
}

// keyLen is the AES-256 key size.
const keyLen = 32

// loadKeys reads the current key and the old ones, current first.
func loadKeys(c Config) ([][]byte, error) {
	var raw string
	var from string
	if c.KeyFile != "" {
		b, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mfa: read key_file: %w", err)
		}
		raw, from = string(b), "key_file "+c.KeyFile
	} else {
		v, ok := os.LookupEnv(c.KeyEnv)
		if !ok {
			return nil, fmt.Errorf("mfa: key_env: the environment variable %s is not set", c.KeyEnv)
		}
		raw, from = v, "key_env "+c.KeyEnv
	}
	cur, err := parseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("mfa: %s: %w", from, err)
	}
	keys := [][]byte{cur}
	for _, f := range c.OldKeyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("mfa: read old_key_files: %w", err)
		}
		k, err := parseKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("mfa: old key %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseKey accepts 32 bytes written as 64 hex digits or as base64 (standard or URL alphabet,
// padded or not). The error never repeats the input.
func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*keyLen {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == keyLen {
			return k, nil
		}
	}
	return nil, fmt.Errorf("the key must be %d random bytes, as 64 hex digits or base64 (for example: openssl rand -base64 32)", keyLen)
}
