package proxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tollgate/tollgate/idp/session"
)

// AssertionConfig configures the signed identity assertion: an ES256 JWT the upstream can
// verify against /_tollgate/jwks.json, so that it knows a request really came through the gate.
type AssertionConfig struct {
	// Header carries the JWT; default X-Tollgate-Assertion. "-" turns the assertion off.
	Header string `yaml:"header"`
	// Audience is the "aud" claim; default the upstream URL.
	Audience string `yaml:"audience"`
	// TTL is how long one assertion is valid; default 60s.
	TTL time.Duration `yaml:"ttl"`
	// KeyFiles are PEM files of P-256 private keys (PKCS#8 or SEC 1). The first signs; all are
	// published, so that a rotated-out key keeps verifying until its assertions expire.
	// Without any, a key is generated at start: fine for one replica, not for several.
	KeyFiles []string `yaml:"key_files"`
}

// assertions signs identity assertions and publishes their keys.
type assertions struct {
	header   string
	issuer   string
	audience string
	ttl      time.Duration
	signer   jose.Signer
	jwks     []byte
	now      func() time.Time

	mu    sync.Mutex
	cache map[assertionKey]cachedAssertion
}

// assertionKey is what an assertion states about a session beyond its identity.
type assertionKey struct {
	session string
	roles   string
	mfaAt   int64
}

type cachedAssertion struct {
	token string
	until time.Time
}

type assertionClaims struct {
	jwt.Claims
	Email string   `json:"email,omitempty"`
	Name  string   `json:"name,omitempty"`
	Roles []string `json:"roles"`
	MFA   bool     `json:"mfa"`
}

// CheckKeyFiles reads every key in c.KeyFiles as the gate will at start, so that a
// configuration check finds a missing or wrong key before a start or a reload does.
func (c AssertionConfig) CheckKeyFiles() error {
	if c.Header == "-" {
		return nil
	}
	var errs []error
	for i, f := range c.KeyFiles {
		if _, err := loadECKey(f); err != nil {
			errs = append(errs, fmt.Errorf("gate.assertion.key_files[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func newAssertions(c AssertionConfig, issuer, upstream string, now func() time.Time) (*assertions, error) {
	if c.Header == "-" {
		return nil, nil
	}
	a := &assertions{header: c.Header, issuer: issuer, audience: c.Audience, ttl: c.TTL, now: now, cache: map[assertionKey]cachedAssertion{}}
	if a.header == "" {
		a.header = "X-Tollgate-Assertion"
	}
	if a.audience == "" {
		a.audience = upstream
	}
	if a.ttl == 0 {
		a.ttl = time.Minute
	}
	var keys []*ecdsa.PrivateKey
	for i, f := range c.KeyFiles {
		k, err := loadECKey(f)
		if err != nil {
			return nil, fmt.Errorf("gate.assertion.key_files[%d]: %w", i, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		jwk := jose.JSONWebKey{Key: k.Public(), Algorithm: string(jose.ES256), Use: "sig"}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, err
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		set.Keys = append(set.Keys, jwk)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: keys[0], KeyID: set.Keys[0].KeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	a.signer = signer
	if a.jwks, err = json.Marshal(set); err != nil {
		return nil, err
	}
	return a, nil
}

func loadECKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found; expected an EC P-256 private key (openssl ecparam -name prime256v1 -genkey -noout)")
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("not a PKCS#8 or SEC 1 private key: %w", err)
		}
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("the key is not an EC P-256 key (ES256 needs one)")
	}
	return ec, nil
}

// token returns the assertion for a session. Signing costs tens of microseconds, so one token
// serves the session's requests for the first half of its lifetime; it is re-signed when the
// session's roles or second factor change, since the cache key holds them. roles is s.Roles
// joined with commas, as the roles header carries them.
func (a *assertions) token(s *session.Session, roles string) (string, error) {
	now := a.now()
	key := assertionKey{session: s.ID, roles: roles, mfaAt: s.MFAAt.UnixNano()}
	a.mu.Lock()
	c, ok := a.cache[key]
	a.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.token, nil
	}
	list := s.Roles
	if list == nil {
		list = []string{}
	}
	claims := assertionClaims{
		Claims: jwt.Claims{Issuer: a.issuer, Subject: s.Identity.Subject, Audience: jwt.Audience{a.audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
			Expiry: jwt.NewNumericDate(now.Add(a.ttl)), ID: randomToken()},
		Email: s.Identity.Email, Name: s.Identity.Name, Roles: list, MFA: s.Identity.MFA,
	}
	tok, err := jwt.Signed(a.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign assertion: %w", err)
	}
	a.mu.Lock()
	if len(a.cache) > 50_000 {
		clear(a.cache) // bounded: forgetting costs one signature per session
	}
	a.cache[key] = cachedAssertion{token: tok, until: now.Add(a.ttl / 2)}
	a.mu.Unlock()
	return tok, nil
}

func (a *assertions) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(a.jwks)
}
