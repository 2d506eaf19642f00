package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/admin"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/mfa"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy"
)

// store is what the wiring needs of a session store.
type store interface {
	proxy.SessionStore
	proxy.SessionUpdater
	proxy.OnceStore
	admin.SessionStore
	mfa.Guard
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ store = (*session.EmbeddedStore)(nil)
	_ store = (*session.RedisStore)(nil)
	_ store = (*cachedRedisStore)(nil)
)

// gateway is an assembled gate with its operations endpoints, the parts that run beside it,
// and what to close at the end.
type gateway struct {
	gate      *liveGate // what the listener serves; a reload may swap in a rebuilt gate
	ops       http.Handler
	directory *directory.SQLStore // nil without a durable store
	admin     *admin.Handler      // nil without a durable store
	policy    *policy.Holder
	decider   proxy.Decider // the live policy, or a shadow pair around it
	audit     *audit.Pipeline
	tls       gateTLS // the listener's TLS (nil without listen.tls) and the upstream transport
	log       *slog.Logger
	closers   []func() error

	// What a configuration reload needs (reload.go).
	cfg      atomic.Pointer[Config] // the configuration in force: restart-only keys keep their start values
	file     string                 // the file reload reads; "" when not started from one (the demo)
	level    *slog.LevelVar         // the log's level; nil makes log.level wait for a restart
	dir      *liveDirectory         // the file directory in force
	gateDeps proxy.Deps             // a rebuilt gate gets the very same stores, metrics and handlers
	reloads  reloadMetrics
	reloadMu sync.Mutex // one reload at a time
}

func (g *gateway) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		_ = g.closers[i]()
	}
}

// assemble builds a gate from a validated config. The policy is loaded from its file and kept
// reloadable; every part that can fail does so here, before anything listens.
func assemble(cfg *Config, log *slog.Logger) (*gateway, error) {
	gw := &gateway{log: log, gate: &liveGate{}, dir: &liveDirectory{}}
	gw.cfg.Store(cfg)
	ok := false
	defer func() {
		if !ok {
			gw.close()
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if gw.reloads, err = newReloadMetrics(reg, time.Now()); err != nil {
		return nil, err
	}

	pipeline, err := audit.Open(cfg.Audit, audit.Deps{Registerer: reg, Log: log})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	gw.audit = pipeline
	gw.closers = append(gw.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return pipeline.Close(ctx)
	})

	holder, err := policy.NewHolder(policy.HolderConfig{
		Path: cfg.Policy.File,
		// Checked against the configuration in force, not the one at start: a reload may have
		// changed the directory, and a policy must keep defining every role it hands out.
		Validate:   func(e *policy.Engine) error { return crossCheck(gw.cfg.Load(), e) },
		OnReload:   gw.policyReloaded,
		Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	gw.policy = holder

	st, err := openStore(cfg, reg, log)
	if err != nil {
		return nil, err
	}
	gw.closers = append(gw.closers, st.Close)

	if cfg.Store != nil {
		if gw.directory, err = directory.Open(context.Background(), *cfg.Store, directory.StoreOptions{AdminRole: cfg.Admin.AdminRole}); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		gw.closers = append(gw.closers, gw.directory.Close)
		gw.admin, err = admin.New(cfg.Admin, admin.Deps{Users: gw.directory, Sessions: st, Policy: policyCatalog{holder},
			Audit: pipeline, Log: log, Registerer: reg})
		if err != nil {
			return nil, err
		}
	}

	rp, err := oidc.New(cfg.OIDC, cfg.Gate.PublicURL+"/_tollgate/callback", nil, nil)
	if err != nil {
		return nil, err
	}
	metrics, err := proxy.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	if gw.tls, err = loadTLS(cfg, reg, log, time.Now); err != nil {
		return nil, err
	}
	var decider proxy.Decider = holder
	if cfg.Policy.ShadowFile != "" {
		candidate, err := policy.Load(cfg.Policy.ShadowFile)
		if err != nil {
			return nil, fmt.Errorf("policy.shadow_file: %w", err)
		}
		shadow, err := policy.NewShadow(holder, candidate, reg, func(_ context.Context, r policy.Request, live, cand policy.Decision) {
			log.Info("shadow policy decides differently", "method", r.Method, "path", r.Path, "roles", r.Roles,
				"live", live.Reason, "live_policy", live.PolicyID, "candidate", cand.Reason, "candidate_policy", cand.PolicyID,
				"candidate_version", candidate.Version())
		})
		if err != nil {
			return nil, err
		}
		decider = shadow
	}
	gw.decider = decider
	gw.dir.Store(directory.NewResolver(gw.directory, cfg.Directory.FileConfig, cfg.Directory.Mode, nil))
	deps := proxy.Deps{
		Sessions: st, Once: st, Decider: decider, Login: rp, Refresher: rp, Directory: gw.dir,
		Audit: pipeline, Metrics: metrics, Log: log, Transport: gw.tls.upstream,
	}
	if gw.admin != nil {
		deps.Admin = gw.admin
	}
	if cfg.MFA.GateFactor() {
		// The handler marks sessions proven through the gate, which needs the handler: the
		// closure breaks the cycle.
		factor, err := mfa.New(cfg.MFA, mfa.Deps{Directory: gw.directory, Guard: st, Once: st, Sessions: st,
			Audit: pipeline, Registerer: reg, Log: log,
			Proven: func(ctx context.Context, w http.ResponseWriter, r *http.Request, method string) error {
				return gw.gate.Load().Proven(ctx, w, r, method)
			}})
		if err != nil {
			return nil, fmt.Errorf("mfa: %w", err)
		}
		deps.MFA = factor
	}
	gate, err := proxy.New(cfg.Gate, deps)
	if err != nil {
		return nil, err
	}
	gw.gate.Store(gate)
	gw.gateDeps = deps
	ready := map[string]func(context.Context) error{"session_store": st.Ping, "identity_provider": rp.Ping, "audit_spool": pipeline.Ping}
	if gw.directory != nil {
		ready["directory_store"] = gw.directory.Ping
	}
	gw.ops = opsHandler(reg, ready)
	ok = true
	return gw, nil
}

// run starts what works beside the gate: the policy file watch and the inactive-user job. It
// returns at once; everything stops with ctx.
func (g *gateway) run(ctx context.Context, cfg *Config) {
	go g.policy.Watch(ctx, 2*time.Second)
	if g.admin != nil && cfg.Admin.DisableInactiveAfter > 0 {
		go g.admin.RunInactiveJob(ctx, time.Hour)
	}
}

// lifecycle writes a startup or shutdown record.
func (g *gateway) lifecycle(action string) {
	rec := audit.Record{Event: audit.Event{Category: "process", Action: action, Outcome: audit.OutcomeSuccess},
		Policy: &audit.Policy{Version: g.policy.Engine().Version()}}
	rec.Policy.Effect = "none"
	if err := g.audit.Write(rec); err != nil {
		g.log.Error("audit record not written", "event", action, "err", err)
	}
}

func (g *gateway) policyReloaded(old, new *policy.Engine, err error) {
	rec := audit.Record{Event: audit.Event{Category: "configuration", Action: audit.EventPolicyReload, Outcome: audit.OutcomeSuccess}}
	if err != nil {
		g.log.Error("policy file refused; the previous policy stays", "version", old.Version(), "err", err)
		rec.Event.Outcome, rec.Event.Reason = audit.OutcomeFailure, err.Error()
		rec.Policy = &audit.Policy{Version: old.Version(), Effect: "none"}
	} else {
		g.log.Info("policy reloaded", "old_version", old.Version(), "version", new.Version())
		rec.Policy = &audit.Policy{Version: new.Version(), Effect: "none"}
	}
	if werr := g.audit.Write(rec); werr != nil {
		g.log.Error("audit record not written", "event", audit.EventPolicyReload, "err", werr)
	}
}

// policyCatalog lets the admin pages read the roles of whatever policy is being served.
type policyCatalog struct{ h *policy.Holder }

func (p policyCatalog) Roles() []string { return p.h.Engine().Roles() }
func (p policyCatalog) RoleInfo(role string) (string, []string, bool) {
	return p.h.Engine().RoleInfo(role)
}

func openStore(cfg *Config, reg prometheus.Registerer, log *slog.Logger) (store, error) {
	opt := session.Options{Idle: cfg.Session.IdleTimeout, Absolute: cfg.Session.AbsoluteTimeout}
	switch cfg.Session.Backend {
	case "redis":
		client, err := cfg.Session.Redis.Client()
		if err != nil {
			return nil, fmt.Errorf("session.redis: %w", err)
		}
		if c := cfg.Session.Cache; c.Enabled {
			cs, err := session.NewCached(client, opt, session.CacheOptions{MaxEntries: c.MaxEntries, TTL: c.TTL, Registerer: reg, Log: log})
			if err != nil {
				client.Close()
				return nil, fmt.Errorf("session.cache: %w", err)
			}
			return &cachedRedisStore{CachedStore: cs, client: client}, nil
		}
		return &redisStore{RedisStore: session.NewRedis(client, opt), client: client}, nil
	default:
		st, err := session.NewEmbedded(cfg.Session.Path, opt)
		if err != nil {
			return nil, fmt.Errorf("session.path: %w", err)
		}
		return st, nil
	}
}

// redisStore closes the client it was built with.
type redisStore struct {
	*session.RedisStore
	client interface{ Close() error }
}

func (r *redisStore) Close() error { return r.client.Close() }

// cachedRedisStore stops the cache's invalidation listener, then closes the client.
type cachedRedisStore struct {
	*session.CachedStore
	client interface{ Close() error }
}

func (c *cachedRedisStore) Close() error {
	return errors.Join(c.CachedStore.Close(), c.client.Close())
}

// opsHandler serves metrics and health on the operations listener.
func opsHandler(reg *prometheus.Registry, deps map[string]func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	// /readyz checks every dependency. ?exclude=NAME (repeatable) leaves one out, as
	// Kubernetes' own /readyz does: a readiness probe that included the identity provider
	// would take every replica out of its Service during an IdP outage, although signed-in
	// people could go on working (only new logins need the IdP).
	names := slices.Sorted(maps.Keys(deps))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		excluded := map[string]bool{}
		for _, name := range r.URL.Query()["exclude"] {
			if deps[name] == nil {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, "unknown check %q in exclude; the checks are: %s\n", name, strings.Join(names, ", "))
				return
			}
			excluded[name] = true
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var failed []error
		for _, name := range names {
			if excluded[name] {
				continue
			}
			if err := deps[name](ctx); err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", name, err))
			}
		}
		if err := errors.Join(failed...); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

func newLogger(level string, w io.Writer) *slog.Logger {
	log, _ := newLevelLogger(level, w)
	return log
}

// newLevelLogger also returns the level, which stays adjustable while the logger is in use.
func newLevelLogger(level string, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	lv.Set(parseLevel(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), lv
}

// parseLevel reads a validated log.level.
func parseLevel(level string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return l
}

// newServer bounds what a client can hold open or send: slow headers (slowloris), huge headers,
// idle keep-alives.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve runs each server on its listener until ctx ends or one fails, then shuts all down,
// letting requests in flight finish for up to 20 seconds.
func serve(ctx context.Context, log *slog.Logger, pairs ...serverOn) error {
	errc := make(chan error, len(pairs))
	for _, p := range pairs {
		go func() {
			if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", p.ln.Addr(), err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, p := range pairs {
		_ = p.srv.Shutdown(sctx)
	}
	return err
}

type serverOn struct {
	srv *http.Server
	ln  net.Listener
}
