// Package session keeps signed-in sessions: an embedded store (one bbolt file, for a single node
// and the demo) and a Redis store (for many replicas). Both share one behaviour, pinned down by a
// conformance suite that runs against each.
//
// The browser holds a random 256-bit token. The store never keeps the token: entries are keyed by
// a hash of it and their contents are sealed with a key derived from it, so that someone who can
// read the store can neither use nor read a session.
package session

import (
	"errors"
	"io"
	"time"

	"github.com/tollgate/tollgate/idp"
)

// ErrNotFound means there is no usable session for the token: it never existed, was deleted,
// expired (idle or absolute), or the token is malformed. It is the only error that means "sign
// in again"; any other error means the store could not answer and the request must fail closed.
var ErrNotFound = errors.New("session: not found")

// Session is what the gate knows about one signed-in browser.
type Session struct {
	Identity idp.Identity `json:"identity"`
	// UserID is the person's id in the durable directory, "" when there is none.
	UserID string   `json:"uid,omitempty"`
	Roles  []string `json:"roles"`
	// Owns are the person's ownership lists from the directory, for policy conditions.
	Owns map[string][]string `json:"owns,omitempty"`
	// CSRF protects the session's state-changing gate endpoints (logout and later admin calls).
	CSRF string `json:"csrf"`
	// MFAAt is when a second factor was last proven; zero when none was.
	MFAAt time.Time `json:"mfa_at,omitzero"`
	// IDToken is kept for RP-initiated logout (id_token_hint); RefreshToken to renew IdP tokens.
	IDToken      string    `json:"id_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenExpiry  time.Time `json:"token_expiry,omitzero"`

	// Set by the store.
	ID        string    `json:"-"` // hash of the token: safe to log and to show in admin views
	UserKey   string    `json:"-"` // Identity.UserKey(), checked against the record when opened
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	ExpiresAt time.Time `json:"expires_at"` // absolute expiry
}

// Info describes a session without its contents, for listing a user's sessions.
type Info struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Options are the timeouts, clock and randomness shared by both stores.
type Options struct {
	// Idle ends a session not used for this long; zero or less means DefaultIdle.
	Idle time.Duration
	// Absolute ends a session this long after it was created, however active; zero or less
	// means DefaultAbsolute.
	Absolute time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of tokens and nonces; nil means crypto/rand.Reader.
	Rand io.Reader
}

// Timeouts used when Options leaves them unset. A store without timeouts would keep sessions
// forever, so there is no way to ask for that.
const (
	DefaultIdle     = 30 * time.Minute
	DefaultAbsolute = 12 * time.Hour
)
