package proxy

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/audit"
)

// Limiter counts events in fixed windows, shared by every replica through the session store.
type Limiter interface {
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
}

// RateLimitConfig bounds how often one client address (and one account, for logins) may use
// the gate's own endpoints, against brute force and floods. A limit of -1 turns one off.
type RateLimitConfig struct {
	LoginPerIP      Rate `yaml:"login_per_ip"`      // starting logins and callbacks; default 60/1m
	LoginPerAccount Rate `yaml:"login_per_account"` // completed IdP logins of one person; default 20/1m
	MFAPerIP        Rate `yaml:"mfa_per_ip"`        // the second-factor pages; default 60/1m
	AdminPerIP      Rate `yaml:"admin_per_ip"`      // the admin API and pages; default 600/1m
}

// Rate is a number of events per window.
type Rate struct {
	Limit  int           `yaml:"limit"`
	Window time.Duration `yaml:"window"`
}

func (r *Rate) defaults(limit int) {
	if r.Limit == 0 {
		r.Limit = limit
	}
	if r.Window == 0 {
		r.Window = time.Minute
	}
}

func (c *RateLimitConfig) defaults() {
	c.LoginPerIP.defaults(60)
	c.LoginPerAccount.defaults(20)
	c.MFAPerIP.defaults(60)
	c.AdminPerIP.defaults(600)
}

func (c RateLimitConfig) validate() error {
	for name, r := range map[string]Rate{"login_per_ip": c.LoginPerIP, "login_per_account": c.LoginPerAccount,
		"mfa_per_ip": c.MFAPerIP, "admin_per_ip": c.AdminPerIP} {
		if r.Limit < -1 || r.Window < 0 {
			return fmt.Errorf("gate.rate_limits.%s: limit must be positive (or -1 for no limit) and window a positive duration", name)
		}
	}
	return nil
}

// allow counts one event for key in bucket and reports whether it is within the rate. Over the
// rate, it answers 429 with Retry-After and audits the refusal; a store that cannot count
// answers 503: a limit that cannot be checked is not waived.
func (g *Gate) allow(w http.ResponseWriter, r *http.Request, st *reqState, bucket, key string, rate Rate) bool {
	if rate.Limit < 0 || g.limiter == nil {
		return true
	}
	n, err := g.limiter.Incr(r.Context(), "rate:"+bucket+":"+key, rate.Window)
	if err != nil {
		g.storeFailed(w, r, st, err)
		return false
	}
	if n <= int64(rate.Limit) {
		return true
	}
	st.effect = "rate-limited"
	g.deps.Metrics.rateLimited.WithLabelValues(bucket).Inc()
	if n == int64(rate.Limit)+1 {
		// One record per client and window, not one per refused request: a flood must not
		// flood the trail.
		rec := g.baseRecord(r, st)
		rec.Event.Category, rec.Event.Type, rec.Event.Action = "intrusion_detection", "denied", "rate_limited"
		rec.Event.Outcome, rec.Event.Reason = audit.OutcomeFailure, bucket
		_ = g.writeAudit(rec)
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(rate.Window.Seconds())))
	g.errorPage(w, r, st, http.StatusTooManyRequests, "Too many attempts", "Too many attempts from your address. Wait a minute, then try again.")
	return false
}
