package session

import (
	"crypto/rand"
	"errors"
	"io"
	"time"
)

// maxTouchEvery caps how stale LastSeen may get on a busy session; with the default Idle the
// cap is what applies.
const maxTouchEvery = time.Minute

// rules is Options with the defaults filled in: the timeouts, clock and randomness both stores
// apply identically.
type rules struct {
	idle, absolute time.Duration
	now            func() time.Time
	rand           io.Reader
}

func newRules(o Options) rules {
	r := rules{idle: o.Idle, absolute: o.Absolute, now: o.Now, rand: o.Rand}
	if r.idle <= 0 {
		r.idle = DefaultIdle
	}
	if r.absolute <= 0 {
		r.absolute = DefaultAbsolute
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.rand == nil {
		r.rand = rand.Reader
	}
	return r
}

// clock returns the current time without a monotonic reading, in UTC, so that what is stored
// and what is compared are the same value.
func (r rules) clock() time.Time { return r.now().Round(0).UTC() }

// touchEvery is how long a session may be used without its LastSeen being written again.
// Idle is therefore enforced up to this much early, which is the safe direction.
func (r rules) touchEvery() time.Duration { return min(r.idle/10, maxTouchEvery) }

// record is what a store keeps beside the sealed contents: only what it needs to expire,
// list and index a session without the token.
type record struct {
	User     string    // idp.Identity.UserKey of the owner, for the per-user index
	Created  time.Time // shown in listings
	Expires  time.Time // absolute expiry at creation
	LastSeen time.Time // last recorded use, for the idle timeout
	Sealed   []byte
}

// expiry is the absolute end of a session. Capping by CreatedAt+Absolute makes a shortened
// Absolute apply to sessions issued before the change.
func (r rules) expiry(rec record) time.Time {
	return minTime(rec.Expires, rec.Created.Add(r.absolute))
}

// deadline is when the session ends if it is not used again.
func (r rules) deadline(rec record) time.Time {
	return minTime(r.expiry(rec), rec.LastSeen.Add(r.idle))
}

func (r rules) live(rec record, now time.Time) bool {
	return now.Before(r.deadline(rec))
}

// ttl is how long the backing store should keep the entry if nothing touches it.
func (r rules) ttl(rec record, now time.Time) time.Duration {
	return r.deadline(rec).Sub(now)
}

func (r rules) needsTouch(rec record, now time.Time) bool {
	return now.Sub(rec.LastSeen) >= r.touchEvery()
}

// begin issues a token for s and the record to store under sessionID(token).
func (r rules) begin(s Session) (string, Session, record, error) {
	if s.Identity.Subject == "" || s.Identity.Issuer == "" {
		return "", Session{}, record{}, errors.New("session: create: identity needs an issuer and a subject")
	}
	tok, err := newToken(r.rand)
	if err != nil {
		return "", Session{}, record{}, err
	}
	now := r.clock()
	s.ID = sessionID(tok)
	s.CreatedAt, s.LastSeen, s.ExpiresAt = now, now, now.Add(r.absolute)
	sealed, err := seal(r.rand, tok, s.ID, s)
	if err != nil {
		return "", Session{}, record{}, err
	}
	rec := record{User: s.Identity.UserKey(), Created: now, Expires: s.ExpiresAt, LastSeen: now, Sealed: sealed}
	return tok, s, rec, nil
}

// open returns the session in rec if tok unseals it and it is live at now; otherwise
// ErrNotFound. The sealed expiry is checked too: unlike the record's plain fields it cannot
// be extended by someone who can only write to the store.
func (r rules) open(tok, id string, rec record, now time.Time) (Session, error) {
	if !r.live(rec, now) {
		return Session{}, ErrNotFound
	}
	s, err := unseal(tok, id, rec.Sealed)
	if err != nil {
		return Session{}, ErrNotFound
	}
	if !now.Before(minTime(s.ExpiresAt, s.CreatedAt.Add(r.absolute))) || s.Identity.UserKey() != rec.User {
		return Session{}, ErrNotFound
	}
	s.LastSeen, s.UserKey = rec.LastSeen, rec.User
	return s, nil
}

// replace seals next in place of cur, keeping what only the store may set.
func (r rules) replace(tok string, cur, next Session, rec record, now time.Time) (record, error) {
	if next.Identity.UserKey() != cur.Identity.UserKey() {
		// A different person must sign in anew and get a new token (no fixation).
		return record{}, errors.New("session: update: the identity's issuer and subject must not change")
	}
	next.ID, next.CreatedAt, next.ExpiresAt, next.LastSeen = cur.ID, cur.CreatedAt, cur.ExpiresAt, now
	sealed, err := seal(r.rand, tok, cur.ID, next)
	if err != nil {
		return record{}, err
	}
	rec.Sealed, rec.LastSeen = sealed, now
	return rec, nil
}

func (r rules) info(id string, rec record) Info {
	return Info{ID: id, CreatedAt: rec.Created, ExpiresAt: r.expiry(rec)}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
