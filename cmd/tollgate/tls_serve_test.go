package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/examples/billing"
)

func TestTLSConfigProblemsNameTheirKeys(t *testing.T) {
	dir := t.TempDir()
	pol, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), pol, 0o600); err != nil {
		t.Fatal(err)
	}
	const rest = "oidc:\n  issuer: https://idp.example\n  client_id: c\n  client_secret: s\nsession:\n  path: s.db\npolicy:\n  file: policy.yaml\n"
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"key without certificate", "listen:\n  tls:\n    key_file: k.pem\n    min_version: \"1.1\"\ngate:\n  public_url: https://b.example\n  upstream:\n    url: http://127.0.0.1:1\n" + rest,
			[]string{":3: listen.tls.cert_file: required when listen.tls is set", ":4: listen.tls.min_version: \"1.1\" is not offered; use \"1.2\" or \"1.3\""}},
		{"unquoted version", "listen:\n  tls:\n    cert_file: c.pem\n    key_file: k.pem\n    min_version: 1.0\ngate:\n  public_url: https://b.example\n  upstream:\n    url: http://127.0.0.1:1\n" + rest,
			[]string{":5: listen.tls.min_version: \"1.0\" is not offered"}},
		{"plain http public URL", "listen:\n  tls:\n    cert_file: c.pem\n    key_file: k.pem\ngate:\n  public_url: http://127.0.0.1:8080\n  cookie:\n    secure: false\n  upstream:\n    url: http://127.0.0.1:1\n" + rest,
			[]string{":6: gate.public_url: \"http://127.0.0.1:8080\" is plain http but listen.tls serves https"}},
		{"upstream tls over http", "gate:\n  public_url: https://b.example\n  upstream:\n    url: http://127.0.0.1:1\n    http2: true\n    tls:\n      cert_file: c.pem\n      insecure_skip_verify: true\n" + rest,
			[]string{":7: gate.upstream.tls: is set but gate.upstream.url", ":8: gate.upstream.tls.insecure_skip_verify: certificate verification cannot be turned off",
				":7: gate.upstream.tls.cert_file: cert_file and key_file go together", ":5: gate.upstream.http2: needs an https upstream"}},
		{"ca_file for a plain http IdP", "gate:\n  public_url: https://b.example\n  upstream:\n    url: http://127.0.0.1:1\noidc:\n  issuer: http://127.0.0.1:9\n  ca_file: ca.pem\n  client_id: c\n  client_secret: s\nsession:\n  path: s.db\npolicy:\n  file: policy.yaml\n",
			[]string{":7: oidc.ca_file: is set but oidc.issuer is plain http"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"check-config", "--config", p}, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
	// Positive control: every TLS key, well formed, passes.
	p := filepath.Join(dir, "config.yaml")
	body := "listen:\n  tls:\n    cert_file: c.pem\n    key_file: k.pem\n    client_ca_file: p.pem\n    min_version: \"1.3\"\ngate:\n  public_url: https://b.example\n  upstream:\n    url: https://127.0.0.1:1\n    http2: true\n    tls: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, server_name: app.internal}\n" +
		strings.Replace(rest, "  client_id: c\n", "  client_id: c\n  ca_file: ca.pem\n", 1)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", p}, &out, &errb); code != 0 {
		t.Fatalf("a valid TLS configuration: exit %d\n%s", code, errb.String())
	}
}

func TestTLSKeyPairProblemsStopTheStart(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "CA")
	c1, k1 := ca.issue(t, "one", 1, time.Now().Add(time.Hour))
	c2, _ := ca.issue(t, "two", 2, time.Now().Add(time.Hour))
	for name, data := range map[string][]byte{"one.crt": c1, "one.key": k1, "two.crt": c2, "ca.pem": ca.pem} {
		writeFileLater(t, filepath.Join(dir, name), data)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(listenTLS, upstreamTLS string) *Config {
		body := "listen:\n  tls:\n" + listenTLS + "gate:\n  public_url: https://b.example\n  upstream:\n    url: https://127.0.0.1:1\n    tls:\n" + upstreamTLS +
			"oidc:\n  issuer: https://idp.example\n  client_id: c\n  client_secret: s\nsession:\n  path: s.db\npolicy:\n  file: policy.yaml\n"
		p := filepath.Join(dir, "tollgate.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	good := "    cert_file: one.crt\n    key_file: one.key\n"
	goodUp := "      ca_file: ca.pem\n      cert_file: one.crt\n      key_file: one.key\n"
	for _, tc := range []struct {
		name, listen, upstream, want string
	}{
		{"serving key of another certificate", "    cert_file: two.crt\n    key_file: one.key\n", goodUp, "tollgate.yaml:3: listen.tls.cert_file: "},
		{"serving certificate missing", "    cert_file: nope.crt\n    key_file: one.key\n", goodUp, "tollgate.yaml:3: listen.tls.cert_file: "},
		{"client CA not PEM", good + "    client_ca_file: one.key\n", goodUp, "tollgate.yaml:5: listen.tls.client_ca_file: "},
		{"upstream key of another certificate", good, "      cert_file: two.crt\n      key_file: one.key\n", "tollgate.yaml:10: gate.upstream.tls.cert_file: "},
		{"upstream CA missing", good, "      ca_file: nope.pem\n", "tollgate.yaml:10: gate.upstream.tls.ca_file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadTLS(config(tc.listen, tc.upstream), prometheus.NewRegistry(), slog.New(slog.DiscardHandler), time.Now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("loadTLS: %v, want %q", err, tc.want)
			}
		})
	}
	// Positive control: the matching pairs load, and both certificates are watched.
	reg := prometheus.NewRegistry()
	if _, err := loadTLS(config(good, goodUp), reg, slog.New(slog.DiscardHandler), time.Now); err != nil {
		t.Fatalf("matching pairs: %v", err)
	}
	for _, name := range []string{"serve", "upstream_client"} {
		if v := gaugeValue(t, reg, "tollgate_tls_cert_expiry_seconds", name); v <= 0 || v > time.Hour.Seconds() {
			t.Errorf("tollgate_tls_cert_expiry_seconds{name=%q} = %v, want the hour the certificate has left", name, v)
		}
	}
}

// TestServeTLSEverywhere runs `tollgate serve` with TLS on every hop: browsers to the gate, the
// gate to the IdP (private CA) and to the app (mutual TLS).
func TestServeTLSEverywhere(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, "private CA"), newTestCA(t, "other CA")
	gateAddr, opsAddr := freeAddr(t), freeAddr(t)
	gateURL := "https://" + gateAddr

	idpCert := ca.pair(t, "idp", 2)
	idpSrv := startTestIdP(t, gateURL, &idpCert)

	var mu sync.Mutex
	var presented []string
	billingApp := billing.New(billing.Config{})
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		c := r.TLS.PeerCertificates[0]
		presented = append(presented, fmt.Sprintf("%s %d", c.Subject.CommonName, c.SerialNumber))
		mu.Unlock()
		billingApp.ServeHTTP(w, r)
	}))
	app.TLS = &tls.Config{Certificates: []tls.Certificate{ca.pair(t, "app", 3)}, ClientCAs: ca.pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	app.StartTLS()
	defer app.Close()

	for name, data := range map[string][]byte{"ca.pem": ca.pem} {
		writeFileLater(t, filepath.Join(dir, name), data)
	}
	c, k := ca.issue(t, "gate", 100, time.Now().Add(24*time.Hour))
	writeFileLater(t, filepath.Join(dir, "gate.crt"), c)
	writeFileLater(t, filepath.Join(dir, "gate.key"), k)
	c, k = ca.issue(t, "tollgate", 200, time.Now().Add(24*time.Hour))
	writeFileLater(t, filepath.Join(dir, "client.crt"), c)
	writeFileLater(t, filepath.Join(dir, "client.key"), k)
	policyPath, _ := filepath.Abs("../../examples/policy.yaml")
	cfg := fmt.Sprintf(`listen:
  addr: %q
  ops_addr: %q
  tls:
    cert_file: gate.crt
    key_file: gate.key
gate:
  public_url: %s
  upstream:
    url: %s
    tls:
      ca_file: ca.pem
      cert_file: client.crt
      key_file: client.key
oidc:
  issuer: %s
  ca_file: ca.pem
  client_id: tollgate
  client_secret: s3cret
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
`, gateAddr, opsAddr, gateURL, app.URL, idpSrv.URL, policyPath)
	cfgPath := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stderr lockedBuffer
	go func() { done <- run(ctx, []string{"serve", "--config", cfgPath}, io.Discard, &stderr) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d:\n%s", code, stderr.String())
		}
	}()
	// Ready means the IdP's discovery document was fetched, which needs oidc.ca_file.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + opsAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not become ready:\n%s", stderr.String())
		}
	}

	if _, err := peerSerial(&tls.Config{RootCAs: other.pool()}, gateURL+"/_tollgate/logout"); !isUnknownAuthority(err) {
		t.Fatalf("a client trusting another CA: %v, want an unknown authority error", err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool()}}}
	resp, _ := signIn(t, browser, gateURL+"/reports", "accountant", "demo")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != gateURL+"/reports" {
		t.Fatalf("after login: %d at %s\n%s", resp.StatusCode, resp.Request.URL, stderr.String())
	}
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 100 {
		t.Fatalf("the gate served /reports without its certificate: %+v", resp.TLS)
	}
	mu.Lock()
	got := presented
	mu.Unlock()
	if diff := cmp.Diff([]string{"tollgate 200"}, got); diff != "" {
		t.Fatalf("client certificates the app saw (-want +got):\n%s", diff)
	}

	resp, err := browser.Get(gateURL + "/_tollgate/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Fatalf("a gate page over https: %d, Strict-Transport-Security %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	resp, err = http.Get("http://" + opsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"serve", "upstream_client"} {
		m := regexp.MustCompile(`(?m)^tollgate_tls_cert_expiry_seconds\{name="` + name + `"\} (\S+)$`).FindSubmatch(metrics)
		var v float64
		if m != nil {
			fmt.Sscan(string(m[1]), &v)
		}
		if v < (23*time.Hour).Seconds() || v > (24*time.Hour).Seconds() {
			t.Errorf("tollgate_tls_cert_expiry_seconds{name=%q}: %q, want about a day", name, m)
		}
	}
}
