package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/directory"
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
	Ping(ctx context.Context) error
	Close() error
}

var (
	_ store = (*session.EmbeddedStore)(nil)
	_ store = (*session.RedisStore)(nil)
)

// gateway is an assembled gate with its operations endpoints and what to close at the end.
type gateway struct {
	gate      *proxy.Gate
	directory *directory.SQLStore // nil without a durable store
	ops       http.Handler
	closers   []func() error
}

func (g *gateway) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		_ = g.closers[i]()
	}
}

// assemble builds a gate from a validated config and a loaded policy.
func assemble(cfg *Config, pol *policy.Engine, log *slog.Logger, auditOut io.Writer) (*gateway, error) {
	gw := &gateway{}
	ok := false
	defer func() {
		if !ok {
			gw.close()
		}
	}()
	if err := cfg.located(cfg.Directory.Validate(pol.Roles())); err != nil {
		return nil, err
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	gw.closers = append(gw.closers, st.Close)

	var au *audit.Writer
	if auditOut != nil {
		au = audit.NewWriter(auditOut, nil)
	} else if cfg.Audit.Output == "stdout" {
		au = audit.NewWriter(os.Stdout, nil)
	} else {
		if au, err = audit.OpenFile(cfg.rel(cfg.Audit.Output), nil); err != nil {
			return nil, fmt.Errorf("audit.output: %w", err)
		}
		gw.closers = append(gw.closers, au.Close)
	}

	var dirStore *directory.SQLStore
	if cfg.Store != nil {
		sc := *cfg.Store
		sc.Path = cfg.rel(sc.Path)
		if dirStore, err = directory.Open(context.Background(), sc, directory.StoreOptions{}); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		gw.closers = append(gw.closers, dirStore.Close)
	}
	gw.directory = dirStore

	rp, err := oidc.New(cfg.OIDC, cfg.Gate.PublicURL+"/_tollgate/callback", nil, nil)
	if err != nil {
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := proxy.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	gate, err := proxy.New(cfg.Gate, proxy.Deps{
		Sessions: st, Once: st, Decider: pol, Login: rp, Refresher: rp,
		Directory: directory.NewResolver(dirStore, cfg.Directory.FileConfig, cfg.Directory.Mode, nil), Audit: au, Metrics: metrics, Log: log,
	})
	if err != nil {
		return nil, err
	}
	gw.gate = gate
	ready := map[string]func(context.Context) error{"session_store": st.Ping, "identity_provider": rp.Ping}
	if dirStore != nil {
		ready["directory_store"] = dirStore.Ping
	}
	gw.ops = opsHandler(reg, ready)
	ok = true
	return gw, nil
}

func openStore(cfg *Config) (store, error) {
	opt := session.Options{Idle: cfg.Session.IdleTimeout, Absolute: cfg.Session.AbsoluteTimeout}
	switch cfg.Session.Backend {
	case "redis":
		client, err := cfg.Session.Redis.Client()
		if err != nil {
			return nil, fmt.Errorf("session.redis: %w", err)
		}
		return &redisStore{RedisStore: session.NewRedis(client, opt), client: client}, nil
	default:
		st, err := session.NewEmbedded(cfg.rel(cfg.Session.Path), opt)
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

// opsHandler serves metrics and health on the operations listener.
func opsHandler(reg *prometheus.Registry, deps map[string]func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var failed []error
		for name, ping := range deps {
			if err := ping(ctx); err != nil {
				failed = append(failed, fmt.Errorf("%s: %w", name, err))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
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
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
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
