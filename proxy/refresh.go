package proxy

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/idp/session"
)

// refreshRetry is how long a session keeps its old tokens after the IdP could not be reached,
// before trying again: an IdP outage must neither log people out nor be hammered.
const refreshRetry = time.Minute

// maybeRefresh renews the IdP tokens of a session whose tokens expired. A refused grant (the
// person was removed or disabled at the IdP) ends the session; an unreachable IdP does not.
// It reports false when it has already answered the request.
func (g *Gate) maybeRefresh(w http.ResponseWriter, r *http.Request, st *reqState, token string, s session.Session) (session.Session, bool) {
	if g.deps.Refresher == nil || s.RefreshToken == "" || s.TokenExpiry.IsZero() || g.deps.Now().Before(s.TokenExpiry) {
		return s, true
	}
	up, ok := g.deps.Sessions.(SessionUpdater)
	if !ok {
		return s, true
	}
	// Concurrent requests of one session share one refresh: a provider that rotates refresh
	// tokens would refuse the second use of the old one.
	v, err := g.flight.do(s.ID, func() (session.Session, error) {
		res, err := g.deps.Refresher.Refresh(r.Context(), s.RefreshToken, s.Identity)
		next := s
		switch {
		case errors.Is(err, oidc.ErrInvalidGrant):
			return s, err
		case err != nil:
			g.deps.Log.Warn("token refresh failed; session kept", "request_id", st.id, "session", s.ID, "err", err)
			next.TokenExpiry = g.deps.Now().Add(refreshRetry)
		default:
			next.IDToken, next.RefreshToken, next.TokenExpiry = res.IDToken, res.RefreshToken, res.Expiry
			mfa := next.Identity.MFA
			next.Identity = res.Identity
			next.Identity.MFA = next.Identity.MFA || mfa
		}
		if err := up.Update(r.Context(), token, next); err != nil && !errors.Is(err, session.ErrNotFound) {
			return s, err
		}
		return next, nil
	})
	switch {
	case errors.Is(err, oidc.ErrInvalidGrant):
		_ = g.deps.Sessions.Delete(r.Context(), token)
		g.clearCookie(w, g.cookie.session)
		g.unauthenticated(w, r, st)
		return s, false
	case err != nil:
		g.storeFailed(w, r, st, err)
		return s, false
	}
	return v, true
}

// flight runs one call per key at a time and hands its result to every caller that waited.
type flight struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done chan struct{}
	val  session.Session
	err  error
}

func (f *flight) do(key string, fn func() (session.Session, error)) (session.Session, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]*flightCall{}
	}
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	c := &flightCall{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	c.val, c.err = fn()
	close(c.done)
	f.mu.Lock()
	delete(f.calls, key)
	f.mu.Unlock()
	return c.val, c.err
}
