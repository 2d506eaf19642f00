package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/proxy"
)

// ServeTLSConfig is listen.tls: the gate serves https itself. Without it the gate serves plain
// http and a proxy in front of it terminates TLS.
type ServeTLSConfig struct {
	// CertFile (the certificate, then its intermediates) and KeyFile are PEM files, read again
	// when they change, so that a renewed certificate needs no restart.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, makes every client show a certificate from these CAs: for a
	// front proxy that authenticates itself to the gate (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
	// MinVersion is "1.2" (the default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

func (t ServeTLSConfig) set() bool { return t != ServeTLSConfig{} }

// tlsDefaults fills listen.tls.min_version. The TLS files are resolved with every other path,
// by resolvePaths.
func (c *Config) tlsDefaults() {
	if c.Listen.TLS.set() && c.Listen.TLS.MinVersion == "" {
		c.Listen.TLS.MinVersion = "1.2"
	}
}

// validateTLS checks listen.tls. The files themselves are read at start-up, by loadTLS.
func (c *Config) validateTLS() error {
	t := c.Listen.TLS
	if !t.set() {
		return nil
	}
	var errs []error
	if t.CertFile == "" {
		errs = append(errs, errors.New("listen.tls.cert_file: required when listen.tls is set: the server certificate in PEM, followed by its intermediates"))
	}
	if t.KeyFile == "" {
		errs = append(errs, errors.New("listen.tls.key_file: required when listen.tls is set: the certificate's private key in PEM"))
	}
	if _, ok := tlsVersions[t.MinVersion]; !ok {
		errs = append(errs, fmt.Errorf("listen.tls.min_version: %q is not offered; use \"1.2\" or \"1.3\"", t.MinVersion))
	}
	if strings.HasPrefix(c.Gate.PublicURL, "http://") {
		errs = append(errs, fmt.Errorf("gate.public_url: %q is plain http but listen.tls serves https; use the https URL browsers reach the gate at", c.Gate.PublicURL))
	}
	return errors.Join(errs...)
}

// gateTLS is what the listener and the upstream need of the TLS settings.
type gateTLS struct {
	serve    *tls.Config // nil: plain http, behind a proxy that terminates TLS
	upstream http.RoundTripper
}

// listener wraps the gate's listener in TLS when listen.tls is set.
func (g gateTLS) listener(ln net.Listener) net.Listener {
	if g.serve == nil {
		return ln
	}
	return tls.NewListener(ln, g.serve)
}

// loadTLS reads the certificates the configuration names, builds the upstream transport and
// registers the certificates' expiry gauges. A file that cannot be read and a key that does not
// belong to its certificate stop the start here.
func loadTLS(cfg *Config, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) (gateTLS, error) {
	var out gateTLS
	tr, clientCert, err := proxy.NewTransport(cfg.Gate.Upstream, log)
	if err != nil {
		return out, cfg.located(err)
	}
	out.upstream = tr
	if clientCert != nil {
		if err := registerExpiry(reg, "upstream_client", clientCert, now); err != nil {
			return out, err
		}
	}
	t := cfg.Listen.TLS
	if !t.set() {
		return out, nil
	}
	kp, err := proxy.LoadKeyPair(t.CertFile, t.KeyFile, log)
	if err != nil {
		return out, cfg.located(fmt.Errorf("listen.tls.cert_file: %w; give readable PEM files, listen.tls.key_file holding this certificate's own key", err))
	}
	if out.serve, err = serverTLS(t, kp); err != nil {
		return out, cfg.located(err)
	}
	return out, registerExpiry(reg, "serve", kp, now)
}

// serverTLS is the gate's listener configuration. The certificate is looked up on every
// handshake, which is what picks up a renewed one.
func serverTLS(t ServeTLSConfig, kp *proxy.KeyPair) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:     tlsVersions[t.MinVersion],
		GetCertificate: kp.GetCertificate,
		// HTTP/2 for browsers. WebSockets still come over HTTP/1.1: Go's server does not
		// advertise extended CONNECT, so browsers open a separate connection for them.
		NextProtos: []string{"h2", "http/1.1"},
	}
	if t.ClientCAFile != "" {
		pool, err := proxy.LoadCertPool(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("listen.tls.client_ca_file: %w", err)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// registerExpiry exports how long the certificate in use has left, read at each scrape, so that
// an alert fires while there is time to renew (and clears once a renewed file is picked up).
func registerExpiry(reg prometheus.Registerer, name string, kp *proxy.KeyPair, now func() time.Time) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "tollgate_tls_cert_expiry_seconds",
		Help:        "Seconds until the certificate in use expires (negative once it has): serve is the gate's own, upstream_client the one shown to the upstream.",
		ConstLabels: prometheus.Labels{"name": name},
	}, func() float64 { return kp.NotAfter().Sub(now()).Seconds() }))
}
