package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/examples"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy"
)

// benchPath is a route the bench user (an administrator) may GET in examples/policy.yaml.
const benchPath = "/invoices/1001"

// benchIdentity owns every session the harness creates, so that one DeleteUser removes them.
var benchIdentity = idp.Identity{Issuer: "https://idp.bench.invalid", Subject: "tollgate-bench",
	Email: "bench@example.com", Name: "Bench", MFA: true}

// benchEnv is what every target of one run shares, and what to undo at the end.
type benchEnv struct {
	upstream *url.URL
	dir      string
	log      *slog.Logger
	redis    redis.UniversalClient // nil when no target needs Redis
	closers  []func()
}

func (e *benchEnv) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// listenLoopback serves h on a free loopback port until the environment closes.
func (e *benchEnv) listenLoopback(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	e.closers = append(e.closers, func() { _ = srv.Close() })
	return ln.Addr().String(), nil
}

// startUpstream serves body to every request, as the application behind the gate.
func (e *benchEnv) startUpstream(size int) error {
	body := []byte(strings.Repeat("x", size))
	addr, err := e.listenLoopback(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	if err != nil {
		return err
	}
	e.upstream = &url.URL{Scheme: "http", Host: addr}
	return nil
}

func (e *benchEnv) upstreamConfig() proxy.UpstreamConfig {
	return proxy.UpstreamConfig{URL: e.upstream.String(), Timeout: 60 * time.Second, MaxIdleConns: 256}
}

// startBare serves a plain reverse proxy to the upstream, with the transport the gate builds
// and, when pooled, the gate's copy-buffer pool.
func (e *benchEnv) startBare(pooled bool) (string, error) {
	tr, _, err := proxy.NewTransport(e.upstreamConfig(), e.log)
	if err != nil {
		return "", err
	}
	up := e.upstream
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(up) }, Transport: tr}
	if pooled {
		rp.BufferPool = proxy.CopyBuffers{}
	}
	return e.listenLoopback(rp)
}

// benchStore is what a gate target needs of its session store.
type benchStore interface {
	proxy.SessionStore
	proxy.OnceStore
}

// openStore opens the named store for one gate target.
func (e *benchEnv) openStore(name string) (benchStore, error) {
	opt := session.Options{}
	switch name {
	case "embedded":
		st, err := session.NewEmbedded(filepath.Join(e.dir, "sessions.db"), opt)
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, func() { _ = st.Close() })
		return st, nil
	case "redis":
		return session.NewRedis(e.redis, opt), nil
	case "redis-cached":
		st, err := session.NewCached(e.redis, opt, session.CacheOptions{Log: e.log})
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, func() { _ = st.Close() })
		deadline := time.Now().Add(10 * time.Second)
		for !st.Healthy() {
			if time.Now().After(deadline) {
				return nil, errors.New("the session cache did not subscribe to Redis within 10s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		return st, nil
	}
	return nil, fmt.Errorf("unknown store %q", name)
}

// openAuditor returns where the gate's records go: nowhere ("none"), or the real pipeline
// with its spool fsynced always or at an interval, delivering to a discarded stdout.
func (e *benchEnv) openAuditor(mode, name string) (proxy.Auditor, error) {
	if mode == "none" {
		return audit.NewWriter(io.Discard, nil), nil
	}
	p, err := audit.Open(audit.Config{
		Spool: audit.SpoolConfig{Dir: filepath.Join(e.dir, "audit-"+name), Fsync: mode},
		Sinks: []audit.SinkConfig{{Type: audit.SinkStdout}},
	}, audit.Deps{Stdout: io.Discard, Log: e.log})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p, nil
}

// startGate serves a gate in front of the upstream with st and au, built as proxy.New builds
// it for `tollgate serve` with examples/policy.yaml and a second factor required.
func (e *benchEnv) startGate(st benchStore, au proxy.Auditor) (string, error) {
	pol, err := policy.Parse(examples.PolicyName, examples.Policy)
	if err != nil {
		return "", err
	}
	// The identity provider is never reached: sessions are created in the store directly.
	rp, err := oidc.New(oidc.Config{Issuer: "http://127.0.0.1:1", ClientID: "bench", ClientSecret: "bench"}, "http://127.0.0.1/cb", nil, nil)
	if err != nil {
		return "", err
	}
	metrics, err := proxy.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return "", err
	}
	tr, _, err := proxy.NewTransport(e.upstreamConfig(), e.log)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	insecure := false
	cfg := proxy.Config{PublicURL: "http://" + ln.Addr().String(), RequireMFA: true, Upstream: e.upstreamConfig()}
	cfg.Cookie.Secure = &insecure
	g, err := proxy.New(cfg, proxy.Deps{Sessions: st, Once: st, Decider: pol, Login: rp,
		Directory: directory.NewResolver(nil, directory.FileConfig{}, "", nil), Audit: au,
		Metrics: metrics, Log: e.log, Transport: tr})
	if err != nil {
		_ = ln.Close()
		return "", err
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	e.closers = append(e.closers, func() { _ = srv.Close() })
	return ln.Addr().String(), nil
}

// createSessions signs the bench user in n times, with up to 32 at once, and returns the
// tokens of the first keep.
func createSessions(ctx context.Context, st proxy.SessionStore, n, keep int) ([]string, error) {
	s := session.Session{Identity: benchIdentity, Roles: []string{"administrator"}, CSRF: "bench-csrf", MFAAt: time.Now()}
	toks := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 32)
	for w := range errs {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				tok, err := st.Create(ctx, s)
				if err != nil {
					errs[w] = err
					return
				}
				toks[i] = tok
			}
		})
	}
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, fmt.Errorf("create sessions: %w", err)
	}
	return toks[:min(keep, n)], nil
}

// startRedis runs a private redis-server on a free loopback port, without persistence, and
// returns its address; it is killed when the environment closes.
func (e *benchEnv) startRedis(ctx context.Context) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server not found: install it (apt-get install redis-server) or pass --redis-addr")
	}
	var lastErr error
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		_ = ln.Close()
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", e.dir)
		killWithParent(cmd)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return "", fmt.Errorf("start redis-server: %w", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() { _ = cmd.Process.Kill(); <-done }
		addr := net.JoinHostPort("127.0.0.1", port)
		if lastErr = waitRedis(ctx, addr, done); lastErr == nil {
			e.closers = append(e.closers, stop)
			return addr, nil
		}
		stop()
		lastErr = fmt.Errorf("%w\n%s", lastErr, out.String())
	}
	return "", lastErr
}

// waitRedis waits up to 5s for addr to answer PING, or for the server to exit.
func waitRedis(ctx context.Context, addr string, exited <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("redis-server exited at start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s did not answer within 5s: %w", addr, err)
		}
	}
}

// procStatus reads a field of /proc/self/status in bytes (VmRSS, VmHWM); 0 where there is none.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
