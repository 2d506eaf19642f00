package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/idp/devidp"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/internal/testca"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	*testca.CA
	pem []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	ca := testca.New(t, name)
	return &testCA{CA: ca, pem: ca.PEM}
}

// issue signs a certificate for 127.0.0.1 and localhost, usable by servers and clients.
func (ca *testCA) issue(t *testing.T, cn string, serial int64, notAfter time.Time) (certPEM, keyPEM []byte) {
	return ca.Issue(t, testca.Leaf{CN: cn, Serial: serial, NotAfter: notAfter})
}

func (ca *testCA) pair(t *testing.T, cn string, serial int64) tls.Certificate {
	return ca.Pair(t, testca.Leaf{CN: cn, Serial: serial})
}

func (ca *testCA) pool() *x509.CertPool { return ca.Pool() }

// writeFileLater writes data and moves the modification time past the previous one, so that a
// rewrite is a change even where timestamps are coarse.
func writeFileLater(t *testing.T, path string, data []byte) {
	t.Helper()
	prev := time.Now()
	if fi, err := os.Stat(path); err == nil {
		prev = fi.ModTime()
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	next := prev.Add(time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

func isUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// peerSerial opens a new connection to an https URL and returns the serial of the certificate
// the server showed.
func peerSerial(base *tls.Config, u string) (int64, error) {
	tr := &http.Transport{TLSClientConfig: base.Clone(), DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(u)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
}

// tlsGate serves a trivial handler through the listener loadTLS configures for cfg.
func tlsGate(t *testing.T, cfg *Config, reg prometheus.Registerer, now func() time.Time, log *slog.Logger) string {
	t.Helper()
	gt, err := loadTLS(cfg, reg, log, now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), slog.New(slog.DiscardHandler))
	go srv.Serve(gt.listener(ln))
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

func TestServedCertificateIsReloadedWhenItsFilesChange(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, "gate CA"), newTestCA(t, "other CA")
	now := time.Now().Truncate(time.Second)
	c, k := ca.issue(t, "gate", 1, now.Add(10*time.Hour))
	writeFileLater(t, filepath.Join(dir, "gate.crt"), c)
	writeFileLater(t, filepath.Join(dir, "gate.key"), k)
	cfg := &Config{path: filepath.Join(dir, "tollgate.yaml")}
	cfg.Listen.TLS = ServeTLSConfig{CertFile: "gate.crt", KeyFile: "gate.key"} // relative to the config file
	cfg.Gate.Upstream.URL = "http://127.0.0.1:1"
	cfg.resolvePaths()
	cfg.tlsDefaults()
	reg := prometheus.NewRegistry()
	var logs lockedBuffer
	gateURL := tlsGate(t, cfg, reg, func() time.Time { return now }, slog.New(slog.NewTextHandler(&logs, nil)))
	trusting := &tls.Config{RootCAs: ca.pool()}
	expiry := func() float64 {
		t.Helper()
		return gaugeValue(t, reg, "tollgate_tls_cert_expiry_seconds", "serve")
	}

	if serial, err := peerSerial(trusting, gateURL); err != nil || serial != 1 {
		t.Fatalf("a client trusting the gate's CA: serial %d, %v; want 1", serial, err)
	}
	if _, err := peerSerial(&tls.Config{RootCAs: other.pool()}, gateURL); !isUnknownAuthority(err) {
		t.Fatalf("a client trusting another CA: %v, want an unknown authority error", err)
	}
	if got := expiry(); got != (10 * time.Hour).Seconds() {
		t.Fatalf("tollgate_tls_cert_expiry_seconds{name=serve} = %v, want %v", got, (10 * time.Hour).Seconds())
	}

	c, k = ca.issue(t, "gate", 2, now.Add(30*24*time.Hour))
	writeFileLater(t, filepath.Join(dir, "gate.crt"), c)
	writeFileLater(t, filepath.Join(dir, "gate.key"), k)
	if serial, err := peerSerial(trusting, gateURL); err != nil || serial != 2 {
		t.Fatalf("after renewal: serial %d, %v; want 2 without a restart", serial, err)
	}
	if got := expiry(); got != (30 * 24 * time.Hour).Seconds() {
		t.Fatalf("after renewal the gauge says %v, want %v", got, (30 * 24 * time.Hour).Seconds())
	}

	for _, bad := range []struct {
		name string
		cert []byte
	}{
		{"half written", c[:len(c)/2]},
		{"a certificate without its key", func() []byte { c, _ := ca.issue(t, "gate", 3, now.Add(time.Hour)); return c }()},
	} {
		writeFileLater(t, filepath.Join(dir, "gate.crt"), bad.cert)
		for range 2 {
			if serial, err := peerSerial(trusting, gateURL); err != nil || serial != 2 {
				t.Fatalf("%s: serial %d, %v; want the renewed certificate (2) kept", bad.name, serial, err)
			}
		}
		if got := expiry(); got != (30 * 24 * time.Hour).Seconds() {
			t.Fatalf("%s: the gauge moved to %v", bad.name, got)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 2 {
		t.Fatalf("two broken renewals were logged %d times, want once each:\n%s", n, logs.String())
	}
}

// gaugeValue reads the gauge with the given name and name label from what reg gathers.
func gaugeValue(t *testing.T, reg *prometheus.Registry, metric, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.GetName() == metric && l.GetName() == "name" && l.GetValue() == name {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{name=%q} among the metrics", metric, name)
	return 0
}

func TestServeTLSVersionsAndClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, proxies := newTestCA(t, "gate CA"), newTestCA(t, "front proxy CA")
	c, k := ca.issue(t, "gate", 1, time.Now().Add(time.Hour))
	writeFileLater(t, filepath.Join(dir, "gate.crt"), c)
	writeFileLater(t, filepath.Join(dir, "gate.key"), k)
	writeFileLater(t, filepath.Join(dir, "proxies.pem"), proxies.pem)
	frontProxy := proxies.pair(t, "front proxy", 7)
	stranger := ca.pair(t, "someone", 8)
	for _, tc := range []struct {
		name   string
		listen ServeTLSConfig
		client *tls.Config
		ok     bool
	}{
		{"TLS 1.2 by default", ServeTLSConfig{}, &tls.Config{MaxVersion: tls.VersionTLS12}, true},
		{"min_version 1.3 refuses 1.2", ServeTLSConfig{MinVersion: "1.3"}, &tls.Config{MaxVersion: tls.VersionTLS12}, false},
		{"min_version 1.3 serves 1.3", ServeTLSConfig{MinVersion: "1.3"}, &tls.Config{}, true},
		{"client_ca_file refuses a client without a certificate", ServeTLSConfig{ClientCAFile: "proxies.pem"}, &tls.Config{}, false},
		{"client_ca_file refuses a certificate from another CA", ServeTLSConfig{ClientCAFile: "proxies.pem"}, &tls.Config{Certificates: []tls.Certificate{stranger}}, false},
		{"client_ca_file serves the front proxy", ServeTLSConfig{ClientCAFile: "proxies.pem"}, &tls.Config{Certificates: []tls.Certificate{frontProxy}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{path: filepath.Join(dir, "tollgate.yaml")}
			cfg.Listen.TLS = tc.listen
			cfg.Listen.TLS.CertFile, cfg.Listen.TLS.KeyFile = "gate.crt", "gate.key"
			cfg.Gate.Upstream.URL = "http://127.0.0.1:1"
			cfg.resolvePaths()
			cfg.tlsDefaults()
			gateURL := tlsGate(t, cfg, prometheus.NewRegistry(), time.Now, slog.New(slog.DiscardHandler))
			client := tc.client.Clone()
			client.RootCAs = ca.pool()
			_, err := peerSerial(client, gateURL)
			if (err == nil) != tc.ok {
				t.Fatalf("request: %v, want success %v", err, tc.ok)
			}
		})
	}
}

func TestIdPBehindAPrivateCA(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, "IdP CA"), newTestCA(t, "other CA")
	caFile, otherFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other.pem")
	writeFileLater(t, caFile, ca.pem)
	writeFileLater(t, otherFile, other.pem)
	var idpH http.Handler
	idpSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { idpH.ServeHTTP(w, r) }))
	idpSrv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.pair(t, "idp", 5)}}
	idpSrv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	idpSrv.StartTLS()
	defer idpSrv.Close()
	provider, err := devidp.New(devidp.Config{Issuer: idpSrv.URL, Users: devidp.DemoUsers(),
		Clients: []devidp.Client{{ID: "tollgate", Secret: "s3cret", RedirectURIs: []string{"https://gate.example/_tollgate/callback"}}}})
	if err != nil {
		t.Fatal(err)
	}
	idpH = provider
	for _, tc := range []struct {
		name   string
		caFile string
		ok     bool
	}{
		{"oidc.ca_file names the IdP's CA", caFile, true},
		{"no ca_file: the system roots", "", false},
		{"oidc.ca_file names another CA", otherFile, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp, err := oidc.New(oidc.Config{Issuer: idpSrv.URL, ClientID: "tollgate", ClientSecret: "s3cret", CAFile: tc.caFile},
				"https://gate.example/_tollgate/callback", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = rp.Ping(context.Background())
			if tc.ok && err != nil {
				t.Fatalf("discovery through ca_file: %v", err)
			}
			if !tc.ok && !isUnknownAuthority(err) {
				t.Fatalf("discovery: %v, want an unknown authority error", err)
			}
		})
	}
	if _, err := oidc.New(oidc.Config{Issuer: idpSrv.URL, ClientID: "tollgate", ClientSecret: "s3cret", CAFile: filepath.Join(dir, "nope.pem")},
		"https://gate.example/_tollgate/callback", nil, nil); err == nil || !strings.HasPrefix(err.Error(), "oidc.ca_file: ") {
		t.Fatalf("an unreadable oidc.ca_file: %v, want an error naming the key", err)
	}
}
