// Package assertion shows how an application behind Tollgate verifies that a request really came
// through the gate: it checks the ES256 JWT in X-Tollgate-Assertion against the keys the gate
// publishes at /_tollgate/jwks.json, and refuses the request otherwise. A legacy app that cannot
// run Go can do the same with any JOSE library: fetch the key set, check the signature (ES256
// only), iss, aud, exp and nbf, then trust the claims.
package assertion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are what the gate asserts about the person.
type Claims struct {
	jwt.Claims
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	MFA   bool     `json:"mfa"`
}

// Verifier checks assertions from one gate.
type Verifier struct {
	JWKSURL  string // e.g. https://billing.example.com/_tollgate/jwks.json
	Issuer   string // the gate's public origin, e.g. https://billing.example.com
	Audience string // what the gate puts in "aud" (by default the upstream URL)
	Client   *http.Client
	Now      func() time.Time

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

// Verify checks one assertion and returns its claims.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return Claims{}, fmt.Errorf("assertion: %w", err)
	}
	if len(tok.Headers) != 1 {
		return Claims{}, errors.New("assertion: expected exactly one signature")
	}
	key, err := v.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return Claims{}, err
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return Claims{}, fmt.Errorf("assertion: bad signature: %w", err)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: v.Issuer, AnyAudience: jwt.Audience{v.Audience}, Time: now()}, 5*time.Second); err != nil {
		return Claims{}, fmt.Errorf("assertion: %w", err)
	}
	return c, nil
}

// key finds the signing key, fetching the key set again (at most every 10 s) when the key id is
// new: the gate may have rotated its keys.
func (v *Verifier) key(ctx context.Context, kid string) (any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if ks := v.keys.Key(kid); len(ks) == 1 {
		return ks[0].Key, nil
	}
	if time.Since(v.fetched) < 10*time.Second {
		return nil, fmt.Errorf("assertion: unknown key id %q", kid)
	}
	v.fetched = time.Now()
	client := v.Client
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("assertion: fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("assertion: fetch keys: %s", resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("assertion: keys: %w", err)
	}
	v.keys = set
	if ks := v.keys.Key(kid); len(ks) == 1 {
		return ks[0].Key, nil
	}
	return nil, fmt.Errorf("assertion: unknown key id %q", kid)
}

// Middleware refuses (401) every request whose assertion does not verify.
func (v *Verifier) Middleware(header string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.Verify(r.Context(), r.Header.Get(header)); err != nil {
			http.Error(w, "this application is only reachable through the gate", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
