package proxy_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testca"
	"github.com/tollgate/tollgate/proxy"
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

// issue signs a certificate for servers and clients, valid for the given DNS names or, without
// any, for 127.0.0.1 and localhost.
func (ca *testCA) issue(t *testing.T, cn string, serial int64, names ...string) (certPEM, keyPEM []byte) {
	return ca.Issue(t, testca.Leaf{CN: cn, Serial: serial, DNSNames: names})
}

func (ca *testCA) pair(t *testing.T, cn string, serial int64, names ...string) tls.Certificate {
	return ca.Pair(t, testca.Leaf{CN: cn, Serial: serial, DNSNames: names})
}

func (ca *testCA) pool() *x509.CertPool { return ca.Pool() }

// writeFile writes data and moves the modification time forward, so that a rewrite is seen as
// a change even on a file system with coarse timestamps.
func writeFile(t *testing.T, path string, data []byte) {
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

// tlsApp is an upstream over https that records the client certificate and protocol of every
// request it serves.
type tlsApp struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []string // "CN serial proto" per request; "-" for no client certificate
}

func startTLSApp(t *testing.T, cert tls.Certificate, clientCAs *x509.CertPool, http2 bool) *tlsApp {
	t.Helper()
	a := &tlsApp{}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "-"
		if len(r.TLS.PeerCertificates) > 0 {
			c := r.TLS.PeerCertificates[0]
			who = c.Subject.CommonName + " " + c.SerialNumber.String()
		}
		a.mu.Lock()
		a.hits = append(a.hits, who+" "+r.Proto)
		a.mu.Unlock()
		io.WriteString(w, "hello from the app")
	}))
	a.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCAs != nil {
		a.srv.TLS.ClientCAs, a.srv.TLS.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	a.srv.EnableHTTP2 = http2
	a.srv.Config.ErrorLog = slogDiscard() // refused handshakes are the point of some tests
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *tlsApp) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.hits...)
}

func slogDiscard() *log.Logger { return slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) }

// writeCerts writes a CA bundle or key pair into dir and returns the paths.
func writePair(t *testing.T, dir, name string, certPEM, keyPEM []byte) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	return certFile, keyFile
}

func TestUpstreamOverTLSIsVerified(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, "upstream CA"), newTestCA(t, "another CA")
	caFile, otherFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other.pem")
	writeFile(t, caFile, ca.pem)
	writeFile(t, otherFile, other.pem)
	byIP := startTLSApp(t, ca.pair(t, "app", 10), nil, false)
	// A certificate for a name only, reached by address: the name comes from server_name.
	byName := startTLSApp(t, ca.pair(t, "app", 11, "billing.internal"), nil, false)
	for _, tc := range []struct {
		name string
		app  *tlsApp
		tls  proxy.UpstreamTLSConfig
		want int
	}{
		{"the upstream's CA in ca_file", byIP, proxy.UpstreamTLSConfig{CAFile: caFile}, http.StatusOK},
		{"another CA in ca_file", byIP, proxy.UpstreamTLSConfig{CAFile: otherFile}, http.StatusBadGateway},
		{"system roots", byIP, proxy.UpstreamTLSConfig{}, http.StatusBadGateway},
		{"server_name names the certificate", byName, proxy.UpstreamTLSConfig{CAFile: caFile, ServerName: "billing.internal"}, http.StatusOK},
		{"address not in the certificate", byName, proxy.UpstreamTLSConfig{CAFile: caFile}, http.StatusBadGateway},
		{"server_name not in the certificate", byName, proxy.UpstreamTLSConfig{CAFile: caFile, ServerName: "evil.internal"}, http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{gate: func(c *proxy.Config) {
				c.Upstream.URL = tc.app.srv.URL
				c.Upstream.TLS = tc.tls
			}})
			before := len(tc.app.seen())
			_, resp := e.login(t, "admin", "/whoami")
			if resp.StatusCode != tc.want {
				t.Fatalf("GET /whoami through the gate: %d, want %d: %s", resp.StatusCode, tc.want, readBody(t, resp))
			}
			reached := len(tc.app.seen()) - before
			if tc.want == http.StatusOK && (reached != 1 || readBody(t, resp) != "hello from the app") {
				t.Fatalf("the app served %d requests and the gate answered %q", reached, readBody(t, resp))
			}
			if tc.want != http.StatusOK && reached != 0 {
				t.Fatalf("an unverified upstream received %d requests", reached)
			}
		})
	}
}

func TestUpstreamMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, clients, stranger := newTestCA(t, "upstream CA"), newTestCA(t, "gate clients CA"), newTestCA(t, "stranger CA")
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, ca.pem)
	app := startTLSApp(t, ca.pair(t, "app", 10), clients.pool(), false)
	c, k := clients.issue(t, "tollgate", 42)
	certFile, keyFile := writePair(t, dir, "client", c, k)
	c, k = stranger.issue(t, "tollgate", 43)
	strangerCert, strangerKey := writePair(t, dir, "stranger", c, k)
	for _, tc := range []struct {
		name          string
		cert, key     string
		want          int
		wantPresented string
	}{
		{"no client certificate", "", "", http.StatusBadGateway, ""},
		{"a certificate the upstream does not trust", strangerCert, strangerKey, http.StatusBadGateway, ""},
		{"the gate's client certificate", certFile, keyFile, http.StatusOK, "tollgate 42 HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{gate: func(cfg *proxy.Config) {
				cfg.Upstream.URL = app.srv.URL
				cfg.Upstream.TLS = proxy.UpstreamTLSConfig{CAFile: caFile, CertFile: tc.cert, KeyFile: tc.key}
			}})
			before := len(app.seen())
			_, resp := e.login(t, "admin", "/whoami")
			if resp.StatusCode != tc.want {
				t.Fatalf("GET /whoami: %d, want %d", resp.StatusCode, tc.want)
			}
			got := app.seen()[before:]
			switch {
			case tc.want == http.StatusOK && (len(got) != 1 || got[0] != tc.wantPresented):
				t.Fatalf("the app saw %q, want [%q]", got, tc.wantPresented)
			case tc.want != http.StatusOK && len(got) != 0:
				t.Fatalf("the app served %q without a trusted client certificate", got)
			}
		})
	}
}

func TestUpstreamClientCertificateIsReloaded(t *testing.T) {
	dir := t.TempDir()
	ca, clients := newTestCA(t, "upstream CA"), newTestCA(t, "gate clients CA")
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, ca.pem)
	app := startTLSApp(t, ca.pair(t, "app", 10), clients.pool(), false)
	c, k := clients.issue(t, "tollgate", 1)
	certFile, keyFile := writePair(t, dir, "client", c, k)
	var logs bytes.Buffer
	tr, kp, err := proxy.NewTransport(proxy.UpstreamConfig{URL: app.srv.URL,
		TLS: proxy.UpstreamTLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	presented := func() string {
		t.Helper()
		tr.CloseIdleConnections() // a client certificate is shown once per connection
		resp, err := client.Get(app.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		seen := app.seen()
		return seen[len(seen)-1]
	}
	if got := presented(); got != "tollgate 1 HTTP/1.1" {
		t.Fatalf("first connection presented %q", got)
	}
	c, k = clients.issue(t, "tollgate", 2)
	writePair(t, dir, "client", c, k)
	if got := presented(); got != "tollgate 2 HTTP/1.1" {
		t.Fatalf("after renewal the gate presented %q, want serial 2", got)
	}
	notAfter := kp.NotAfter()
	// A broken renewal: a new certificate next to the old key. The renewed pair stays in use.
	c, _ = clients.issue(t, "tollgate", 3)
	writeFile(t, certFile, c)
	for range 3 {
		if got := presented(); got != "tollgate 2 HTTP/1.1" {
			t.Fatalf("after a mismatched renewal the gate presented %q, want serial 2 kept", got)
		}
	}
	if !kp.NotAfter().Equal(notAfter) {
		t.Fatalf("NotAfter moved to %v with a pair that does not load", kp.NotAfter())
	}
	// Files removed in the middle of a rotation: the pair in use stays too.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := presented(); got != "tollgate 2 HTTP/1.1" {
			t.Fatalf("with the key file gone the gate presented %q, want serial 2 kept", got)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 2 {
		t.Fatalf("two broken states were logged %d times, want once each:\n%s", n, logs.String())
	}
}

func TestUpstreamHTTP2IsOptIn(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "upstream CA")
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, ca.pem)
	app := startTLSApp(t, ca.pair(t, "app", 10), nil, true)
	for _, tc := range []struct {
		http2 bool
		want  string
	}{{false, "- HTTP/1.1"}, {true, "- HTTP/2.0"}} {
		tr, _, err := proxy.NewTransport(proxy.UpstreamConfig{URL: app.srv.URL, HTTP2: tc.http2,
			TLS: proxy.UpstreamTLSConfig{CAFile: caFile}}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(app.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		if seen := app.seen(); seen[len(seen)-1] != tc.want {
			t.Errorf("http2: %v: the app saw %q, want %q", tc.http2, seen[len(seen)-1], tc.want)
		}
	}
}

func TestUpstreamKeyPairErrorsStopTheStart(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "CA")
	c1, k1 := ca.issue(t, "one", 1)
	c2, _ := ca.issue(t, "two", 2)
	cert1, key1 := writePair(t, dir, "one", c1, k1)
	cert2 := filepath.Join(dir, "two.crt")
	writeFile(t, cert2, c2)
	notPEM := filepath.Join(dir, "ca.txt")
	writeFile(t, notPEM, []byte("not a certificate"))
	for _, tc := range []struct {
		name string
		tls  proxy.UpstreamTLSConfig
		want string
	}{
		{"key of another certificate", proxy.UpstreamTLSConfig{CertFile: cert2, KeyFile: key1}, "gate.upstream.tls.cert_file: "},
		{"missing key file", proxy.UpstreamTLSConfig{CertFile: cert1, KeyFile: filepath.Join(dir, "nope.key")}, "gate.upstream.tls.cert_file: "},
		{"CA file without certificates", proxy.UpstreamTLSConfig{CAFile: notPEM}, "gate.upstream.tls.ca_file: "},
		{"missing CA file", proxy.UpstreamTLSConfig{CAFile: filepath.Join(dir, "nope.pem")}, "gate.upstream.tls.ca_file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := proxy.NewTransport(proxy.UpstreamConfig{URL: "https://127.0.0.1:1", TLS: tc.tls}, slog.New(slog.DiscardHandler))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("NewTransport: %v, want an error starting %q", err, tc.want)
			}
		})
	}
	// Positive control: the matching pair loads.
	if _, kp, err := proxy.NewTransport(proxy.UpstreamConfig{URL: "https://127.0.0.1:1",
		TLS: proxy.UpstreamTLSConfig{CertFile: cert1, KeyFile: key1}}, slog.New(slog.DiscardHandler)); err != nil || kp == nil {
		t.Fatalf("matching pair: %v", err)
	}
}

func TestUpstreamTLSConfigValidate(t *testing.T) {
	yes := true
	base := func(f func(*proxy.Config)) proxy.Config {
		c := proxy.Config{PublicURL: "https://billing.example.com"}
		c.Upstream.URL = "https://app.internal:8443"
		f(&c)
		c.Defaults()
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  proxy.Config
		want string // "" means valid
	}{
		{"https with every key", base(func(c *proxy.Config) {
			c.Upstream.TLS = proxy.UpstreamTLSConfig{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "app"}
			c.Upstream.HTTP2 = true
		}), ""},
		{"insecure_skip_verify", base(func(c *proxy.Config) { c.Upstream.TLS.InsecureSkipVerify = &yes }),
			"gate.upstream.tls.insecure_skip_verify: certificate verification cannot be turned off"},
		{"tls for plain http", base(func(c *proxy.Config) { c.Upstream.URL = "http://app:8080"; c.Upstream.TLS.CAFile = "ca.pem" }),
			"gate.upstream.tls: is set but gate.upstream.url \"http://app:8080\" is plain http"},
		{"cert without key", base(func(c *proxy.Config) { c.Upstream.TLS.CertFile = "c.pem" }),
			"gate.upstream.tls.cert_file: cert_file and key_file go together"},
		{"key without cert", base(func(c *proxy.Config) { c.Upstream.TLS.KeyFile = "k.pem" }),
			"gate.upstream.tls.cert_file: cert_file and key_file go together"},
		{"http2 over plain http", base(func(c *proxy.Config) { c.Upstream.URL = "http://app:8080"; c.Upstream.HTTP2 = true }),
			"gate.upstream.http2: needs an https upstream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestHSTSOnGatePagesBehindHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name, public string // public "" keeps the test server's own http:// URL
		want         string
	}{
		{"https public URL", "https://billing.example.com", "max-age=31536000"},
		{"http public URL", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{gate: func(c *proxy.Config) {
				if tc.public != "" {
					c.PublicURL, c.Cookie.Secure, c.Cookie.Name = tc.public, nil, ""
				}
			}})
			c := e.client(t)
			for _, r := range []struct {
				path   string
				hdr    http.Header
				status int
			}{
				{"/_tollgate/nothing-here", nil, http.StatusNotFound},                                   // a page
				{"/_tollgate/me", http.Header{"Accept": {"application/json"}}, http.StatusUnauthorized}, // problem details
				{"/_tollgate/logout", nil, http.StatusOK},
			} {
				resp := do(t, c, http.MethodGet, e.gateURL+r.path, r.hdr, nil)
				if resp.StatusCode != r.status {
					t.Fatalf("GET %s: %d, want %d", r.path, resp.StatusCode, r.status)
				}
				if got := resp.Header.Get("Strict-Transport-Security"); got != tc.want {
					t.Errorf("GET %s: Strict-Transport-Security %q, want %q", r.path, got, tc.want)
				}
			}
		})
	}
}
