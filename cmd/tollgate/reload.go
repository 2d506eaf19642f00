package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/proxy"
)

// Reloading the configuration file (SIGHUP).
//
// The file is read and checked by loadAll, exactly as at start-up. A file that does not pass
// changes nothing. A file that passes is compared with the configuration in force, key by key,
// and each changed key is either applied now or named as waiting for a restart, by section:
//
//	log.level          live: the logger's level is a slog.LevelVar.
//	directory.*        live: mode, users and group_roles build a new resolver, swapped
//	                   atomically; it answers from the next login on. It is rebuilt only when
//	                   the section changed, since rebuilding forgets which IdP account each
//	                   listed email was first bound to (as a restart does).
//	gate.* (below)     live, by building a new proxy.Gate with the same stores, metrics, admin
//	                   and MFA handlers, and swapping it behind the listener; requests already
//	                   in flight finish on the old one. proxy.New registers nothing and starts
//	                   nothing, so two gates can coexist. Only when gate.assertion.key_files is
//	                   set (or the assertion is off): a gate built without key files generates a
//	                   new signing key, which upstreams have not fetched yet.
//	gate.public_url    restart: the OIDC callback, the admin and MFA handlers and the WebAuthn
//	                   relying party were built from it.
//	gate.cookie.*      restart: whether the cookie is Secure follows gate.public_url's scheme,
//	                   and a new name signs everyone out; both belong with a restart.
//	gate.upstream.*    restart: the upstream transport (connection pool, TLS) is built from it.
//	policy contents    live, through the policy Holder (checked against the configuration in
//	                   force); policy.file and policy.shadow_file themselves need a restart.
//	everything else    restart: listen.* (the listeners are open), session.* and store.* (open
//	                   stores), oidc.* (the relying party), mfa.*, admin.*, audit.* (the sinks,
//	                   the spool and the chain are open). These keep the values they started with.
//
// Audit file sinks are reopened on every SIGHUP, whatever the file holds, for logrotate.

// reload is what SIGHUP does: reopen the audit files, then reload the configuration file (which
// reloads the policy), or only the policy when the gateway was not started from a file. It
// returns why the file was refused, after logging, auditing and counting it.
func (g *gateway) reload() error {
	if err := g.audit.Reopen(); err != nil {
		g.log.Error("audit sinks could not be reopened", "err", err)
	}
	if g.file == "" {
		_ = g.policy.Reload() // OnReload (policyReloaded) logs and audits the outcome
		return nil
	}
	return g.reloadConfig()
}

// reloadConfig applies what the file changed that can be applied live, and reports the rest.
func (g *gateway) reloadConfig() error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	old := g.cfg.Load()
	next, _, err := loadAll(g.file)
	if err != nil {
		return g.reloadFailed(err)
	}
	gateLive := assertionKeysFixed(next.Gate.Assertion)
	applied, restart := []string{}, []string{}
	for _, k := range changedKeys(old, next) {
		if g.liveKey(k, gateLive) {
			applied = append(applied, k)
		} else {
			restart = append(restart, k)
		}
	}
	eff, changes := effective(old, next, applied)

	// Everything that can fail is built before anything is swapped.
	var gate *proxy.Gate
	if changes.gate {
		if gate, err = proxy.New(eff.Gate, g.gateDeps); err != nil {
			return g.reloadFailed(eff.located(err))
		}
	}
	// The policy is checked against the configuration about to be in force; a policy file
	// that changed since loadAll read it gets the same checks.
	g.cfg.Store(eff)
	if err := g.policy.Reload(); err != nil {
		g.cfg.Store(old)
		return g.reloadFailed(err)
	}
	if err := crossCheck(eff, g.policy.Engine()); err != nil {
		// The policy file did not change, and the new directory hands out a role it lacks
		// (policy.file names another file, which waits for a restart).
		g.cfg.Store(old)
		return g.reloadFailed(err)
	}
	if changes.level {
		g.level.Set(parseLevel(eff.Log.Level))
	}
	if changes.directory {
		g.dir.Store(directory.NewResolver(g.directory, eff.Directory.FileConfig, eff.Directory.Mode, nil))
	}
	if gate != nil {
		g.gate.Store(gate)
	}

	g.reloads.total.WithLabelValues(reloadSuccess).Inc()
	g.reloads.lastSuccess.SetToCurrentTime()
	g.reloads.restartPending.Set(0)
	if len(restart) > 0 {
		g.reloads.restartPending.Set(1)
	}
	reason := "no changes"
	if len(applied)+len(restart) > 0 {
		reason = fmt.Sprintf("applied: %s; restart required: %s", keyList(applied), keyList(restart))
	}
	g.auditReload(audit.OutcomeSuccess, reason)
	if len(restart) > 0 {
		g.log.Warn("configuration reloaded, but some changes need a restart: they are not in force, the values from the start stay until tollgate restarts",
			"file", g.file, "applied", applied, "restart_required", restart)
		if !gateLive && hasUnder(restart, "gate") {
			g.log.Warn("gate settings are applied live only with fixed assertion keys: set gate.assertion.key_files, since a rebuilt gate would sign with a new generated key",
				"file", g.file)
		}
	} else {
		g.log.Info("configuration reloaded", "file", g.file, "applied", applied)
	}
	return nil
}

// liveKey tells whether a changed key is applied without a restart (see the table above).
func (g *gateway) liveKey(key string, gateLive bool) bool {
	switch {
	case under(key, "log.level"):
		return g.level != nil
	case under(key, "directory"):
		return true
	case under(key, "gate.public_url"), under(key, "gate.upstream"), under(key, "gate.cookie"):
		return false
	case under(key, "gate"):
		return gateLive
	}
	return false
}

// assertionKeysFixed tells whether a gate built from c signs with keys read from files (or
// signs nothing), rather than with one generated on the spot that no upstream has fetched.
func assertionKeysFixed(c proxy.AssertionConfig) bool {
	return c.Header == "-" || len(c.KeyFiles) > 0
}

type sectionChanges struct{ level, directory, gate bool }

// effective is the configuration in force after a reload: the running one, with the applied
// keys' sections taken from next. A gate section mixes both, keeping what needs a restart.
func effective(old, next *Config, applied []string) (*Config, sectionChanges) {
	eff := *old
	eff.root = next.root // for the lines in messages about it
	var ch sectionChanges
	if hasUnder(applied, "log") {
		eff.Log, ch.level = next.Log, true
	}
	if hasUnder(applied, "directory") {
		eff.Directory, ch.directory = next.Directory, true
	}
	if hasUnder(applied, "gate") {
		gate := next.Gate
		gate.PublicURL, gate.Upstream, gate.Cookie = old.Gate.PublicURL, old.Gate.Upstream, old.Gate.Cookie
		// Derived from the oidc and mfa sections, which wait for a restart.
		gate.RequireMFA, gate.MFAMode = old.Gate.RequireMFA, old.Gate.MFAMode
		eff.Gate, ch.gate = gate, true
	}
	return &eff, ch
}

func hasUnder(keys []string, section string) bool {
	for _, k := range keys {
		if under(k, section) {
			return true
		}
	}
	return false
}

func keyList(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// reloadFailed reports a refused file: the log line names each problem with its file and line,
// as check-config does.
func (g *gateway) reloadFailed(err error) error {
	problems := splitErrors(err)
	for i, p := range problems {
		problems[i] = redactEcho(p)
	}
	g.log.Error("configuration file refused: nothing was changed, the running configuration stays. Fix the file, check it with `tollgate check-config --config "+g.file+"`, then send SIGHUP again",
		"file", g.file, "problems", problems)
	g.reloads.total.WithLabelValues(reloadFailure).Inc()
	g.auditReload(audit.OutcomeFailure, strings.Join(problems, "; "))
	return err
}

// yamlEcho is how the YAML decoder quotes a piece of the offending value ("cannot unmarshal
// !!str `hunter2` into …"). The value may be a secret typed under the wrong key, and the
// message is still clear without it. Our own checks never quote a secret's value.
var yamlEcho = regexp.MustCompile("`[^`]*`")

func redactEcho(s string) string { return yamlEcho.ReplaceAllString(s, "`…`") }

func (g *gateway) auditReload(outcome, reason string) {
	rec := audit.Record{Event: audit.Event{Category: "configuration", Action: audit.EventConfigReload, Outcome: outcome, Reason: reason},
		Policy: &audit.Policy{Version: g.policy.Engine().Version(), Effect: "none"}}
	if err := g.audit.Write(rec); err != nil {
		g.log.Error("audit record not written", "event", audit.EventConfigReload, "err", err)
	}
}

// Outcome label values of tollgate_config_reload_total.
const (
	reloadSuccess = "success"
	reloadFailure = "failure"
)

type reloadMetrics struct {
	total          *prometheus.CounterVec
	lastSuccess    prometheus.Gauge
	restartPending prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer, now time.Time) (reloadMetrics, error) {
	m := reloadMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_config_reload_total",
			Help: "Configuration file reloads (SIGHUP) by outcome: success, or failure (the file was refused and nothing changed).",
		}, []string{"outcome"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration file was last loaded successfully (at start, or by a reload), in Unix seconds.",
		}),
		restartPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_config_restart_pending",
			Help: "1 when the last successful reload found changes that only a restart applies, 0 otherwise.",
		}),
	}
	for _, c := range []prometheus.Collector{m.total, m.lastSuccess, m.restartPending} {
		if err := reg.Register(c); err != nil {
			return m, fmt.Errorf("config reload: register metrics: %w", err)
		}
	}
	m.total.WithLabelValues(reloadSuccess)
	m.total.WithLabelValues(reloadFailure)
	m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	return m, nil
}

// liveGate serves each request with the gate in force, so that a reload can swap it.
type liveGate struct{ atomic.Pointer[proxy.Gate] }

func (l *liveGate) ServeHTTP(w http.ResponseWriter, r *http.Request) { l.Load().ServeHTTP(w, r) }

// liveDirectory resolves with the file directory in force, so that a reload can swap it without
// rebuilding the gate.
type liveDirectory struct {
	atomic.Pointer[directory.Resolver]
}

var _ proxy.Directory = (*liveDirectory)(nil)

func (d *liveDirectory) Resolve(ctx context.Context, id idp.Identity, invitation string) (directory.Account, error) {
	return d.Load().Resolve(ctx, id, invitation)
}

func (d *liveDirectory) Seen(ctx context.Context, userID string) error {
	return d.Load().Seen(ctx, userID)
}
