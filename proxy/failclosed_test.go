package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy"
)

// brokenDecider fails while broken is set.
type brokenDecider struct {
	proxy.Decider
	broken atomic.Bool
}

func (b *brokenDecider) Decide(ctx context.Context, r policy.Request) (policy.Decision, error) {
	if b.broken.Load() {
		return policy.Decision{Allow: true}, errors.New("policy index unavailable")
	}
	return b.Decider.Decide(ctx, r)
}

// fullSpool refuses records while full is set, like an audit spool under on_full: block.
type fullSpool struct {
	proxy.Auditor
	full atomic.Bool
}

func (f *fullSpool) Accepts(string) error {
	if f.full.Load() {
		return audit.ErrSpoolFull
	}
	return nil
}

func (f *fullSpool) Write(r audit.Record) error {
	if f.full.Load() {
		return audit.ErrSpoolFull
	}
	return f.Auditor.Write(r)
}

// brokenDirectory fails to resolve logins while broken is set.
type brokenDirectory struct {
	proxy.Directory
	broken atomic.Bool
}

func (b *brokenDirectory) Resolve(ctx context.Context, id idp.Identity, inv string) (directory.Account, error) {
	if b.broken.Load() {
		return directory.Account{}, errors.New("directory database unreachable")
	}
	return b.Directory.Resolve(ctx, id, inv)
}

// Every error path denies or answers 503, and never reaches the upstream; the same request works
// once the fault is gone. (An IdP outage is covered by TestIdPOutageKeepsSessionsAndRefusesNewLogins.)
func TestErrorPathsFailClosed(t *testing.T) {
	dec, spool, dir := &brokenDecider{}, &fullSpool{}, &brokenDirectory{}
	e := newEnv(t, envOpts{backend: "redis",
		decider: func(d proxy.Decider) proxy.Decider { dec.Decider = d; return dec },
		wrap: func(d *proxy.Deps) {
			spool.Auditor, d.Audit = d.Audit, spool
			dir.Directory, d.Directory = d.Directory, dir
		}})
	c, _ := e.login(t, "manager", "/")
	for _, tc := range []struct {
		name        string
		fault, heal func()
		login       bool // the fault is seen at login rather than on a request
		want        int
	}{
		{"policy cannot decide", func() { dec.broken.Store(true) }, func() { dec.broken.Store(false) }, false, http.StatusServiceUnavailable},
		{"audit spool full", func() { spool.full.Store(true) }, func() { spool.full.Store(false) }, false, http.StatusServiceUnavailable},
		{"session store down", func() { e.redis.Stop() }, func() { e.redis.Restart() }, false, http.StatusServiceUnavailable},
		{"directory down at login", func() { dir.broken.Store(true) }, func() { dir.broken.Store(false) }, true, http.StatusServiceUnavailable},
		{"audit spool full at login", func() { spool.full.Store(true) }, func() { spool.full.Store(false) }, true, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.app.count()
			tc.fault()
			var status int
			if tc.login {
				if tc.name == "audit spool full at login" {
					// Not even the redirect to the IdP is given: it could not be recorded.
					status = get(t, e.client(t), e.gateURL+"/invoices").StatusCode
				} else {
					_, r := e.login(t, "support", "/")
					status = r.StatusCode
				}
			} else {
				status = get(t, c, e.gateURL+"/invoices").StatusCode
			}
			tc.heal()
			if status != tc.want || e.app.count() != before {
				t.Errorf("status %d, app reached %v; want %d and nothing forwarded", status, e.app.count() != before, tc.want)
			}
			// Positive control: with the fault gone the same request is served.
			if tc.login {
				if _, r := e.login(t, "support", "/"); r.StatusCode != http.StatusOK {
					t.Errorf("after healing, login: %d", r.StatusCode)
				}
			} else if tc.name != "session store down" { // Redis kept nothing: that session is gone
				if r := get(t, c, e.gateURL+"/invoices"); r.StatusCode != http.StatusOK {
					t.Errorf("after healing: %d", r.StatusCode)
				}
			} else {
				c, _ = e.login(t, "manager", "/")
			}
		})
	}
}
