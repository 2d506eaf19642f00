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
func benchUpstream(b *testing.B) *url.URL {
	body := []byte(strings.Repeat("x", 1024))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// benchGate builds a gate in front of upstream with a signed-in administrator, and returns it
// with the session cookie.
func benchGate(b *testing.B, upstream *url.URL, st interface {
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
		Identity: idp.Identity{Issuer: "https://idp.test", Subject: "bench", Email: "bench@example.com", Name: "Bench", MFA: true},
		Roles:    []string{"administrator"}, CSRF: "csrf", MFAAt: time.Now(),
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

// BenchmarkGate measures an authenticated GET through the whole chain (canonicalize, session,
// second-factor state, policy, audit record, upstream) and reports it against a bare
// httputil.ReverseProxy with the same transport, measured in the same run: x-bare is gate ÷ bare.
func BenchmarkGate(b *testing.B) {
	upstream := benchUpstream(b)
	transport := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	bare := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(upstream) }, Transport: transport}
	opt := session.Options{Idle: time.Hour, Absolute: 12 * time.Hour}

	stores := map[string]func(b *testing.B) interface {
		proxy.SessionStore
		proxy.OnceStore
	}{
		"embedded": func(b *testing.B) interface {
			proxy.SessionStore
			proxy.OnceStore
		} {
			st, err := session.NewEmbedded(filepath.Join(b.TempDir(), "s.db"), opt)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
		"redis": func(b *testing.B) interface {
			proxy.SessionStore
			proxy.OnceStore
		} {
			srv := redistest.Start(b)
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			b.Cleanup(func() { c.Close() })
			return session.NewRedis(c, opt)
		},
	}
	for _, name := range []string{"embedded", "redis"} {
		b.Run(name, func(b *testing.B) {
			g, token := benchGate(b, upstream, stores[name](b), audit.NewWriter(io.Discard, nil))
			serve(b, g, 200, token) // warm connections and caches
			serve(b, bare, 200, "")
			b.ReportAllocs()
			b.ResetTimer()
			gate := serve(b, g, b.N, token)
			b.StopTimer()
			bareT := serve(b, bare, b.N, "")
			b.ReportMetric(float64(gate)/float64(bareT), "x-bare")
			b.ReportMetric(float64(bareT.Nanoseconds()), "bare-ns/op")
		})
	}
}
