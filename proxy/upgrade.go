package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/idp/session"
)

// isUpgrade reports whether the request asks to switch protocols (WebSocket and the like).
func isUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// upgrades lets protocol upgrades through only from pages of the gate's own origin, and keeps
// watching the session while the connection lasts: the reverse proxy closes an upgraded
// connection when the request's context ends, so ending it on revocation or expiry is enough.
func (g *Gate) upgrades(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		st := state(r)
		// Browsers always send Origin on WebSocket handshakes; a missing or foreign one is a
		// cross-site attempt to ride the session cookie.
		if r.Header.Get("Origin") != g.origin() {
			st.effect = "deny"
			g.errorPage(w, r, st, http.StatusForbidden, "Connection refused", "This connection was not opened from the application's own pages.")
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go g.watchSession(ctx, cancel, st.token, st.sess.ExpiresAt)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// watchSession ends ctx when the session is gone (revoked, logged out, idle or absolute expiry)
// or cannot be checked: a connection whose session cannot be vouched for is closed.
func (g *Gate) watchSession(ctx context.Context, end context.CancelFunc, token string, expires time.Time) {
	t := time.NewTicker(g.cfg.UpgradeRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !expires.IsZero() && !g.deps.Now().Before(expires) {
			end()
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := g.deps.Sessions.Get(cctx, token)
		cancel()
		if errors.Is(err, session.ErrNotFound) || (err != nil && ctx.Err() == nil) {
			end()
			return
		}
	}
}
