package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/examples/billing"
	"github.com/tollgate/tollgate/idp/devidp"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/internal/testport"
	"github.com/tollgate/tollgate/policy"
)

// freeAddr is an address for a server the test configures before it listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startTestIdP serves the demo users from a devidp whose client "tollgate" (secret "s3cret")
// may return to gateURL's callback. A non-nil tlsCert makes it an https provider. The server is
// closed when the test ends.
func startTestIdP(t *testing.T, gateURL string, tlsCert *tls.Certificate) *httptest.Server {
	t.Helper()
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	if tlsCert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*tlsCert}}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	provider, err := devidp.New(devidp.Config{Issuer: srv.URL, Users: devidp.DemoUsers(),
		Clients: []devidp.Client{{ID: "tollgate", Secret: "s3cret", RedirectURIs: []string{gateURL + "/_tollgate/callback"}}}})
	if err != nil {
		t.Fatal(err)
	}
	h = provider
	return srv
}

// TestServeRunsFromAConfigFile runs `tollgate serve` as an operator would: a config file naming
// an OIDC provider, the upstream and the policy; then signs in through it.
func TestServeRunsFromAConfigFile(t *testing.T) {
	gateAddr, opsAddr := freeAddr(t), freeAddr(t)
	gateURL := "http://" + gateAddr
	idpSrv := startTestIdP(t, gateURL, nil)
	app := httptest.NewServer(billing.New(billing.Config{}))
	defer app.Close()

	dir := t.TempDir()
	policyPath, _ := filepath.Abs("../../examples/policy.yaml")
	secretFile := filepath.Join(dir, "oidc-secret")
	os.WriteFile(secretFile, []byte("s3cret\n"), 0o600)
	cfg := fmt.Sprintf(`listen:
  addr: %q
  ops_addr: %q
gate:
  public_url: %s
  upstream:
    url: %s
  cookie:
    secure: false
oidc:
  issuer: %s
  client_id: tollgate
  client_secret_file: %s
session:
  path: sessions.db
policy:
  file: %s
directory:
  users:
    - email: accountant@example.com
      roles: [accountant]
audit:
  output: audit.jsonl
`, gateAddr, opsAddr, gateURL, app.URL, idpSrv.URL, secretFile, policyPath)
	cfgPath := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath}, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d", code)
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + opsAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not become ready")
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, _ := signIn(t, c, gateURL+"/reports", "accountant", "demo")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/reports" {
		t.Fatalf("after login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	waitForFile(t, filepath.Join(dir, "audit.jsonl"), `"path":"/reports"`)
	if _, err := os.Stat(filepath.Join(dir, "sessions.db")); err != nil {
		t.Fatalf("session store relative to the config: %v", err)
	}
}

// A shadow policy runs beside the live one and counts the requests it would decide otherwise,
// without enforcing anything.
func TestShadowPolicyIsCountedNotEnforced(t *testing.T) {
	dir := t.TempDir()
	live, _ := filepath.Abs("../../examples/policy.yaml")
	data, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	// The candidate takes invoice creation away from sales reps.
	cand := strings.Replace(string(data), "      - invoices.read\n      - invoices.create\n\n  accountant:", "      - invoices.read\n\n  accountant:", 1)
	if cand == string(data) {
		t.Fatal("the example policy changed shape; adjust the candidate")
	}
	candPath := filepath.Join(dir, "candidate.yaml")
	os.WriteFile(candPath, []byte(cand), 0o600)
	cfg := &Config{path: filepath.Join(dir, "tollgate.yaml")}
	insecure := false
	cfg.Gate.PublicURL, cfg.Gate.Upstream.URL, cfg.Gate.Cookie.Secure = "http://127.0.0.1:1", "http://127.0.0.1:2", &insecure
	cfg.OIDC.Issuer, cfg.OIDC.ClientID, cfg.OIDC.ClientSecret = "http://127.0.0.1:3", "c", "s"
	cfg.Session.Path, cfg.Policy.File, cfg.Policy.ShadowFile = "s.db", live, candPath
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	gw, err := assemble(cfg, newLogger("error", io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.close()
	// The gateway's decider is the shadow: ask it directly as the gate would.
	if gw.decider == nil {
		t.Fatal("no shadow decider assembled")
	}
	d, err := gw.decider.Decide(context.Background(), policy.Request{Method: "POST", Path: "/invoices", Roles: []string{"sales_rep"}, MFAAt: time.Now()})
	if err != nil || !d.Allow {
		t.Fatalf("live decision: %+v, %v (the shadow must not enforce)", d, err)
	}
	rec := httptest.NewRecorder()
	gw.ops.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `tollgate_policy_shadow_mismatches_total{candidate="no-matching-policy",live="allowed"} 1`) {
		t.Fatalf("mismatch not counted:\n%s", grepLines(rec.Body.String(), "shadow"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The Redis store with the session cache is assembled from config, and closes cleanly.
func TestAssembleWithRedisSessionCache(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	live, _ := filepath.Abs("../../examples/policy.yaml")
	cfg := &Config{path: filepath.Join(dir, "tollgate.yaml")}
	insecure := false
	cfg.Gate.PublicURL, cfg.Gate.Upstream.URL, cfg.Gate.Cookie.Secure = "http://127.0.0.1:1", "http://127.0.0.1:2", &insecure
	cfg.OIDC.Issuer, cfg.OIDC.ClientID, cfg.OIDC.ClientSecret = "http://127.0.0.1:3", "c", "s"
	cfg.Session.Backend, cfg.Session.Redis.Addrs, cfg.Session.Cache.Enabled = "redis", []string{srv.Addr()}, true
	cfg.Policy.File = live
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	gw, err := assemble(cfg, newLogger("error", io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	gw.ops.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	gw.close()
	if !strings.Contains(rec.Body.String(), "tollgate_session_cache_healthy") {
		t.Fatal("the session cache's metrics are not on the ops registry")
	}
}
