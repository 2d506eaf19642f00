package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy"
)

// benchUpstream answers every request with 1 KiB, as the load figures in the README assume.
func benchUpstream(b testing.TB) *url.URL {
	body := []byte(strings.Repeat("x", 1024))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// benchUser is the administrator every benchmark gate signs in.
var benchUser = idp.Identity{Issuer: "https://idp.test", Subject: "bench", Email: "bench@example.com", Name: "Bench", MFA: true}

// benchGate builds a gate in front of upstream with a signed-in administrator, and returns it
// with the session cookie.
func benchGate(b testing.TB, upstream *url.URL, st interface {
	proxy.SessionStore
	proxy.OnceStore
}, au proxy.Auditor) (*proxy.Gate, string) {
	pol, err := policy.Load(filepath.Join("..", "examples", "policy.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	rp, err := oidc.New(oidc.Config{Issuer: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s"}, "http://127.0.0.1/cb", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	metrics, err := proxy.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	insecure := false
	cfg := proxy.Config{PublicURL: "http://gate.test", RequireMFA: true}
	cfg.Upstream.URL = upstream.String()
	cfg.Cookie.Secure = &insecure
	g, err := proxy.New(cfg, proxy.Deps{Sessions: st, Once: st, Decider: pol, Login: rp,
		Directory: directory.NewResolver(nil, directory.FileConfig{}, "", nil), Audit: au, Metrics: metrics,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	token, err := st.Create(context.Background(), session.Session{
		Identity: benchUser, Roles: []string{"administrator"}, CSRF: "csrf", MFAAt: time.Now(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return g, token
}

// serve runs n requests through h and returns the time per request.
func serve(b *testing.B, h http.Handler, n int, cookie string) time.Duration {
	req := httptest.NewRequest("GET", "/invoices/1001", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	if cookie != "" {
		req.Header.Set("Cookie", "tollgate="+cookie)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// pairedMedians alternates requests between two handlers and returns the median time of a
// request through each. Alternating one by one puts both under the same load from the rest of
// the machine, so the difference of the medians is the cost of what sets them apart.
func pairedMedians(b *testing.B, x, y http.Handler, n int, cookie string) (time.Duration, time.Duration) {
	req := httptest.NewRequest("GET", "/invoices/1001", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	req.Header.Set("Cookie", "tollgate="+cookie)
	one := func(h http.Handler) time.Duration {
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, req)
		d := time.Since(start)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return d
	}
	xs, ys := make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		xs[i], ys[i] = one(x), one(y)
	}
	slices.Sort(xs)
	slices.Sort(ys)
	return xs[n/2], ys[n/2]
}

// benchStore is what the gate needs of a session store here.
type benchStore interface {
	proxy.SessionStore
	proxy.OnceStore
}

// benchStores are the session stores BenchmarkGate runs with, by sub-benchmark name.
func benchStores(opt session.Options) map[string]func(b *testing.B) benchStore {
	redisClient := func(b *testing.B) *redis.Client {
		srv := redistest.Start(b)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		b.Cleanup(func() { c.Close() })
		return c
	}
	return map[string]func(b *testing.B) benchStore{
		"embedded": func(b *testing.B) benchStore {
			st, err := session.NewEmbedded(filepath.Join(b.TempDir(), "s.db"), opt)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
		"redis": func(b *testing.B) benchStore { return session.NewRedis(redisClient(b), opt) },
		"redis-cached": func(b *testing.B) benchStore {
			st, err := session.NewCached(redisClient(b), opt, session.CacheOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			deadline := time.Now().Add(10 * time.Second)
			for !st.Healthy() {
				if time.Now().After(deadline) {
					b.Fatal("the session cache did not subscribe within 10s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			return st
		},
	}
}

// benchPipeline opens the real audit pipeline (spool on disk, one stdout sink to nowhere).
func benchPipeline(b *testing.B, fsync string) *audit.Pipeline {
	p, err := audit.Open(audit.Config{
		Spool: audit.SpoolConfig{Dir: b.TempDir(), MaxBytes: 8 << 30, SegmentBytes: 64 << 20, Fsync: fsync},
		Sinks: []audit.SinkConfig{{Type: audit.SinkStdout}},
	}, audit.Deps{Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// serveCounting is serve that also returns the allocations per request, counted as
// b.ReportAllocs counts them (every goroutine, the in-process upstream included).
func serveCounting(b *testing.B, h http.Handler, n int, cookie string) (time.Duration, float64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d := serve(b, h, n, cookie)
	runtime.ReadMemStats(&after)
	return d, float64(after.Mallocs-before.Mallocs) / float64(n)
}

// BenchmarkGate measures an authenticated GET through the whole chain (canonicalize, session,
// second-factor state, policy, audit record, upstream) and reports it against a bare
// httputil.ReverseProxy with the same transport, measured in the same run: x-bare is gate ÷ bare.
//
// embedded, redis and redis-cached differ in the session store and write audit records to a
// discarding writer. The audit-* variants use redis-cached with the real audit pipeline
// (spool fsync always or interval) and report audit-p50-ns: the median request through the
// gate with the pipeline minus the median through the same gate with the discarding writer,
// requests alternating between the two.
func BenchmarkGate(b *testing.B) {
	upstream := benchUpstream(b)
	transport := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	bare := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(upstream) }, Transport: transport,
		BufferPool: proxy.CopyBuffers{}}
	stores := benchStores(session.Options{Idle: time.Hour, Absolute: 12 * time.Hour})
	discard := func(*testing.B) proxy.Auditor { return audit.NewWriter(io.Discard, nil) }

	for _, bc := range []struct {
		name, store string
		audit       func(b *testing.B) proxy.Auditor
	}{
		{"embedded", "embedded", nil},
		{"redis", "redis", nil},
		{"redis-cached", "redis-cached", nil},
		{"redis-cached+audit-always", "redis-cached", func(b *testing.B) proxy.Auditor { return benchPipeline(b, audit.FsyncAlways) }},
		{"redis-cached+audit-interval", "redis-cached", func(b *testing.B) proxy.Auditor { return benchPipeline(b, audit.FsyncInterval) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := stores[bc.store](b)
			withDiscard, token := benchGate(b, upstream, st, discard(b))
			g := withDiscard
			if bc.audit != nil {
				g, _ = benchGate(b, upstream, st, bc.audit(b))
			}
			serve(b, g, 200, token) // warm connections and caches
			serve(b, bare, 200, "")
			b.ReportAllocs()
			b.ResetTimer()
			gate, gateAllocs := serveCounting(b, g, b.N, token)
			b.StopTimer()
			bareT, bareAllocs := serveCounting(b, bare, b.N, "")
			b.ReportMetric(float64(gate)/float64(bareT), "x-bare")
			b.ReportMetric(float64(bareT.Nanoseconds()), "bare-ns/op")
			b.ReportMetric(bareAllocs, "bare-allocs/op")
			b.ReportMetric(gateAllocs-bareAllocs, "allocs-beyond-bare")
			if bc.audit != nil {
				with, without := pairedMedians(b, g, withDiscard, b.N, token)
				b.ReportMetric(float64((with - without).Nanoseconds()), "audit-p50-ns")
			}
		})
	}
}

// newCachedStore opens a session cache on a Redis of its own client, subscribed.
func newCachedStore(t testing.TB, addr string) *session.CachedStore {
	t.Helper()
	c, err := session.RedisConfig{Addrs: []string{addr}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	st, err := session.NewCached(c, session.Options{}, session.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !st.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("the session cache did not subscribe within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return st
}

// getWithCookie sends one authenticated GET through h and returns the response.
func getWithCookie(h http.Handler, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/invoices/1001", nil)
	req.RemoteAddr = "127.0.0.1:50000"
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", "tollgate="+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// Two gates, each with its own session cache on one Redis: revoking a user's sessions
// through one replica's store (as the admin API does) is refused by the other on its very
// next request, though that replica had the session in memory.
func TestTwoGatesWithCachesRevokeAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	upstream := benchUpstream(t)
	stA, stB := newCachedStore(t, srv.Addr()), newCachedStore(t, srv.Addr())
	discard := audit.NewWriter(io.Discard, nil)
	_, token := benchGate(t, upstream, stA, discard)
	gateB, _ := benchGate(t, upstream, stB, discard)
	for range 3 { // the first fills B's cache, the others are served from it
		if w := getWithCookie(gateB, token); w.Code != http.StatusOK {
			t.Fatalf("control: gate B answered %d: %s", w.Code, w.Body)
		}
	}
	if _, err := stA.DeleteUser(t.Context(), benchUser.UserKey()); err != nil {
		t.Fatal(err)
	}
	if w := getWithCookie(gateB, token); w.Code != http.StatusUnauthorized {
		t.Errorf("gate B after the revocation returned on A: %d, want 401: %s", w.Code, w.Body)
	}
}

// With Redis down a gate with the cache answers 503 at once, keeps the cookie (nobody is
// signed out by an outage), serves nothing from memory meanwhile, and lets the same session
// in again when Redis is back.
func TestGateWithCacheFailsClosedDuringOutage(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	st := newCachedStore(t, srv.Addr())
	g, token := benchGate(t, benchUpstream(t), st, audit.NewWriter(io.Discard, nil))
	if w := getWithCookie(g, token); w.Code != http.StatusOK {
		t.Fatalf("control: %d: %s", w.Code, w.Body)
	}

	srv.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for st.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("the cache did not notice Redis going away within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	w := getWithCookie(g, token)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("during the outage: %d, want 503: %s", w.Code, w.Body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the 503 took %v", d)
	}
	if sc := w.Header().Values("Set-Cookie"); len(sc) > 0 {
		t.Errorf("the outage touched the session cookie: %q", sc)
	}

	srv.Restart()
	deadline = time.Now().Add(10 * time.Second)
	for {
		w := getWithCookie(g, token)
		if w.Code == http.StatusOK {
			break
		}
		if w.Code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after Redis came back: %d: %s", w.Code, w.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
