package devidp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// errFull means a table is full of entries that have not expired yet.
var errFull = errors.New("devidp: too many outstanding requests")

// pendingAuth is an authorization request waiting for the user to sign in.
type pendingAuth struct {
	clientID    string
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scopes      []string
	acrValues   []string
	loginHint   string
	failures    int
	expires     time.Time
}

func (a *pendingAuth) expiry() time.Time { return a.expires }

// grant is one login of one user at one client. Every code and token issued from it points to
// it, so revoking the grant revokes all of them at once.
type grant struct {
	sid      string // the "sid" claim: names this login in a later logout
	clientID string
	username string
	subject  string
	scopes   []string
	authTime time.Time
	amr      []string
	acr      string
	revoked  bool
}

// authCode is an authorization code and what it is bound to.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	grant       *grant
	expires     time.Time
	redeemed    bool
	forgetAt    time.Time // after redemption, kept until then to recognise a replay
}

func (c *authCode) expiry() time.Time {
	if c.redeemed {
		return c.forgetAt
	}
	return c.expires
}

type accessToken struct {
	grant   *grant
	expires time.Time
}

func (t *accessToken) expiry() time.Time { return t.expires }

// refreshToken is kept after use until it expires, so that a second use (a stolen copy, RFC 9700
// §4.14.2) is recognised and revokes its grant.
type refreshToken struct {
	grant   *grant
	expires time.Time
	used    bool
}

func (t *refreshToken) expiry() time.Time { return t.expires }

type expiring interface{ expiry() time.Time }

// Stats are the sizes of the provider's tables, counting expired entries not yet swept.
type Stats struct {
	PendingLogins int
	Codes         int
	AccessTokens  int
	RefreshTokens int
}

// Stats reports the current table sizes.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		PendingLogins: len(p.pending),
		Codes:         len(p.codes),
		AccessTokens:  len(p.access),
		RefreshTokens: len(p.refresh),
	}
}

// sweepLocked drops expired entries from every table, at most once per sweepEvery.
// The caller holds p.mu.
func (p *Provider) sweepLocked(now time.Time) {
	if now.Before(p.nextSweep) {
		return
	}
	p.nextSweep = now.Add(sweepEvery)
	sweepTable(p.pending, now)
	sweepTable(p.codes, now)
	sweepTable(p.access, now)
	sweepTable(p.refresh, now)
}

func sweepTable[V expiring](m map[string]V, now time.Time) {
	for k, v := range m {
		if !now.Before(v.expiry()) {
			delete(m, k)
		}
	}
}

// putLocked stores v under key unless the table is full of live entries. The caller holds p.mu.
func putLocked[V expiring](p *Provider, m map[string]V, key string, v V, now time.Time) error {
	p.sweepLocked(now)
	if len(m) >= p.maxEntry {
		sweepTable(m, now)
	}
	if len(m) >= p.maxEntry {
		return errFull
	}
	m[key] = v
	return nil
}

// getLocked returns the live entry under key. The caller holds p.mu.
func getLocked[V expiring](m map[string]V, key string, now time.Time) (V, bool) {
	v, ok := m[key]
	if !ok || !now.Before(v.expiry()) {
		var zero V
		return zero, false
	}
	return v, true
}

// randomToken returns 256 random bits, base64url-encoded.
func (p *Provider) randomToken() (string, error) {
	var b [32]byte
	p.randMu.Lock()
	_, err := io.ReadFull(p.rand, b[:])
	p.randMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("devidp: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// tableKey is how secrets are keyed in memory: by hash, so the tables never hold a usable token.
func tableKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
