// Package oidc is Tollgate's OpenID Connect relying party: the authorization code flow with PKCE
// (S256), state and nonce, ID-token verification by go-oidc (issuer, audience, expiry, the
// provider's advertised algorithms and keys), the check that the login carried a second factor,
// and refresh of IdP tokens.
//
// The provider is discovered lazily and the discovery is retried, so that a gate whose IdP is
// down at start still serves the sessions it already has.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/idp"
)

// ErrNoSecondFactor means the IdP login succeeded but asserted none of the accepted amr/acr
// values while a second factor is required.
var ErrNoSecondFactor = errors.New("oidc: the login carried no accepted second factor")

// ErrUnavailable wraps failures to reach the provider (discovery, token endpoint, keys).
var ErrUnavailable = errors.New("oidc: identity provider unavailable")

// ErrInvalidGrant means the provider refused a code or refresh token: the grant is dead.
var ErrInvalidGrant = errors.New("oidc: grant refused by the provider")

// Pending is what the gate keeps between sending the browser to the IdP and the callback.
type Pending struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	// Redirect is the same-origin path (with query) to return to after login.
	Redirect string    `json:"rd"`
	Created  time.Time `json:"created"`
}

// Result is a completed login or refresh.
type Result struct {
	Identity     idp.Identity
	IDToken      string
	RefreshToken string
	Expiry       time.Time
}

// RelyingParty talks to one OIDC provider.
type RelyingParty struct {
	cfg         Config
	secret      string
	redirectURL string
	client      *http.Client
	now         func() time.Time

	mu       sync.Mutex
	provider *gooidc.Provider
	endSess  string
	lastTry  time.Time
	lastErr  error
	lastOK   time.Time // last time the provider answered
}

// reachableFor is how long a successful contact with the provider vouches for it. Starting a
// login after that checks it again, so that a person is shown a clear page during an outage
// instead of being sent to a provider that cannot answer.
const reachableFor = 10 * time.Second

// New builds a relying party. redirectURL is the gate's public callback URL. client carries
// the TLS settings for the provider; nil means a client with cfg.Timeout that trusts
// cfg.CAFile, or the system roots without one.
func New(cfg Config, redirectURL string, client *http.Client, now func() time.Time) (*RelyingParty, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	secret, err := cfg.Secret()
	if err != nil {
		return nil, err
	}
	if client == nil {
		if client, err = cfg.httpClient(); err != nil {
			return nil, err
		}
	}
	if now == nil {
		now = time.Now
	}
	return &RelyingParty{cfg: cfg, secret: secret, redirectURL: redirectURL, client: client, now: now}, nil
}

// discover returns the provider, fetching the discovery document on first use and again after a
// failure (at most once a second, so an IdP outage does not become a request storm).
func (rp *RelyingParty) discover(ctx context.Context) (*gooidc.Provider, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider != nil {
		return rp.provider, nil
	}
	if rp.lastErr != nil && rp.now().Sub(rp.lastTry) < time.Second {
		return nil, rp.lastErr
	}
	rp.lastTry = rp.now()
	// The provider keeps this context for fetching keys later, so it must not be the request's.
	pctx := gooidc.ClientContext(context.WithoutCancel(ctx), rp.client)
	dctx, cancel := context.WithTimeout(pctx, rp.cfg.Timeout)
	defer cancel()
	p, err := gooidc.NewProvider(dctx, rp.cfg.Issuer)
	if err != nil {
		rp.lastErr = fmt.Errorf("%w: discovery of %s: %w", ErrUnavailable, rp.cfg.Issuer, err)
		return nil, rp.lastErr
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&extra) // optional metadata; its absence only disables RP-initiated logout
	rp.provider, rp.endSess, rp.lastErr, rp.lastOK = p, extra.EndSession, nil, rp.now()
	return p, nil
}

// reachable checks that the provider answers, at most once per reachableFor.
func (rp *RelyingParty) reachable(ctx context.Context) error {
	rp.mu.Lock()
	fresh := rp.now().Sub(rp.lastOK) < reachableFor
	rp.mu.Unlock()
	if fresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, min(rp.cfg.Timeout, 3*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(rp.cfg.Issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := rp.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: discovery answered %s", ErrUnavailable, resp.Status)
	}
	rp.mu.Lock()
	rp.lastOK = rp.now()
	rp.mu.Unlock()
	return nil
}

// Ping reports whether the provider answers (for readiness).
func (rp *RelyingParty) Ping(ctx context.Context) error {
	if _, err := rp.discover(ctx); err != nil {
		return err
	}
	return rp.reachable(ctx)
}

func (rp *RelyingParty) oauth2Config(p *gooidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     rp.cfg.ClientID,
		ClientSecret: rp.secret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  rp.redirectURL,
		Scopes:       append([]string{gooidc.ScopeOpenID}, rp.cfg.Scopes...),
	}
}

// Start begins a login: it returns the URL to send the browser to and what to keep until the
// callback. redirect must already be a checked same-origin path.
func (rp *RelyingParty) Start(ctx context.Context, redirect string) (string, Pending, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return "", Pending{}, err
	}
	if err := rp.reachable(ctx); err != nil {
		return "", Pending{}, err
	}
	pend := Pending{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		Redirect: redirect,
		Created:  rp.now(),
	}
	u := rp.oauth2Config(p).AuthCodeURL(pend.State,
		oauth2.S256ChallengeOption(pend.Verifier),
		gooidc.Nonce(pend.Nonce))
	return u, pend, nil
}

// Exchange redeems the code from the callback and verifies the ID token against what Start kept.
// The caller has already matched the callback's state to pend.
func (rp *RelyingParty) Exchange(ctx context.Context, code string, pend Pending) (Result, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, rp.client), rp.cfg.Timeout)
	defer cancel()
	tok, err := rp.oauth2Config(p).Exchange(ctx, code, oauth2.VerifierOption(pend.Verifier))
	if err != nil {
		return Result{}, classify("code exchange", err)
	}
	res, err := rp.verify(ctx, p, tok, pend.Nonce)
	if err != nil {
		return Result{}, err
	}
	if rp.cfg.MFA.RequiresMFA() && !res.Identity.MFA {
		return res, ErrNoSecondFactor
	}
	return res, nil
}

// Refresh renews the IdP tokens with a refresh token and returns the identity the new ID token
// asserts (same subject required).
func (rp *RelyingParty) Refresh(ctx context.Context, refreshToken string, prev idp.Identity) (Result, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, rp.client), rp.cfg.Timeout)
	defer cancel()
	tok, err := rp.oauth2Config(p).TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return Result{}, classify("refresh", err)
	}
	if _, ok := tok.Extra("id_token").(string); !ok {
		// Providers may omit the ID token on refresh; the identity stays as it was.
		return Result{Identity: prev, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}, nil
	}
	res, err := rp.verify(ctx, p, tok, "")
	if err != nil {
		return Result{}, err
	}
	if res.Identity.Subject != prev.Subject || res.Identity.Issuer != prev.Issuer {
		return Result{}, fmt.Errorf("%w: refreshed ID token names another subject", ErrInvalidGrant)
	}
	if res.RefreshToken == "" {
		res.RefreshToken = refreshToken
	}
	return res, nil
}

// EndSessionURL is the provider's RP-initiated logout URL, or "" when it has none.
func (rp *RelyingParty) EndSessionURL(ctx context.Context) string {
	if _, err := rp.discover(ctx); err != nil {
		return ""
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.endSess
}

// claims are the ID-token claims Tollgate reads beyond those go-oidc checks.
type claims struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	AMR      []string `json:"amr"`
	ACR      string   `json:"acr"`
	AuthTime int64    `json:"auth_time"`
	AZP      string   `json:"azp"`
}

func (rp *RelyingParty) verify(ctx context.Context, p *gooidc.Provider, tok *oauth2.Token, nonce string) (Result, error) {
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Result{}, errors.New("oidc: token response carried no id_token")
	}
	// SupportedSigningAlgs left empty: go-oidc then accepts only what the provider advertises.
	v := p.Verifier(&gooidc.Config{ClientID: rp.cfg.ClientID, Now: rp.now})
	t, err := v.Verify(ctx, raw)
	if err != nil {
		return Result{}, fmt.Errorf("oidc: ID token rejected: %w", err)
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(t.Nonce), []byte(nonce)) != 1 {
		return Result{}, errors.New("oidc: ID token nonce does not match this login")
	}
	var c claims
	if err := t.Claims(&c); err != nil {
		return Result{}, fmt.Errorf("oidc: ID token claims: %w", err)
	}
	// OIDC Core 3.1.3.7: with several audiences, or any azp, azp must be us.
	if (len(t.Audience) > 1 || c.AZP != "") && c.AZP != rp.cfg.ClientID {
		return Result{}, fmt.Errorf("oidc: ID token authorized party %q is not this client", c.AZP)
	}
	var all map[string]any
	if err := t.Claims(&all); err != nil {
		return Result{}, fmt.Errorf("oidc: ID token claims: %w", err)
	}
	id := idp.Identity{
		Issuer:  t.Issuer,
		Subject: t.Subject,
		Email:   idp.CanonicalEmail(c.Email),
		Name:    c.Name,
		Groups:  stringList(all[rp.cfg.GroupsClaim]),
		AMR:     c.AMR,
		ACR:     c.ACR,
	}
	if c.AuthTime > 0 {
		id.AuthTime = time.Unix(c.AuthTime, 0).UTC()
	}
	id.MFA = rp.secondFactor(id)
	res := Result{Identity: id, IDToken: raw, RefreshToken: tok.RefreshToken, Expiry: t.Expiry}
	return res, nil
}

// secondFactor reports whether the identity carries one of the configured amr or acr values.
func (rp *RelyingParty) secondFactor(id idp.Identity) bool {
	for _, a := range id.AMR {
		if slices.Contains(rp.cfg.MFA.AMR, a) {
			return true
		}
	}
	return id.ACR != "" && slices.Contains(rp.cfg.MFA.ACR, id.ACR)
}

// classify separates "the provider said no" (the grant is dead) from "we could not reach it".
func classify(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode == "invalid_grant" {
			return fmt.Errorf("%w: %s: %w", ErrInvalidGrant, op, err)
		}
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
		}
		return fmt.Errorf("oidc: %s refused: %w", op, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

func stringList(v any) []string {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return []string{x}
	}
	return nil
}

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
