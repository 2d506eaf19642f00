package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// UpstreamTLSConfig is gate.upstream.tls: how the gate verifies an https upstream and which
// client certificate it shows one that asks for it (mutual TLS).
type UpstreamTLSConfig struct {
	// CAFile is a PEM bundle trusted instead of the system roots, for an upstream whose
	// certificate comes from a private CA.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and its key; both files are read again
	// when they change.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name expected in the upstream's certificate when it is not the URL's
	// host (an upstream addressed by IP).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify exists only to be refused with an explanation: an unverified upstream
	// would receive every identity header from whoever sits on the path.
	InsecureSkipVerify *bool `yaml:"insecure_skip_verify"`
}

func (t UpstreamTLSConfig) set() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify != nil
}

// validateTLS checks gate.upstream.tls and gate.upstream.http2 against the upstream's scheme.
func (c UpstreamConfig) validateTLS() []error {
	var errs []error
	u, err := url.Parse(c.URL)
	plain := err == nil && u.Scheme == "http" // a bad URL is reported by Validate already
	if c.TLS.InsecureSkipVerify != nil {
		errs = append(errs, errors.New("gate.upstream.tls.insecure_skip_verify: certificate verification cannot be turned off; remove the key and point gate.upstream.tls.ca_file at the CA that signed the upstream's certificate"))
	}
	if c.TLS.set() && plain {
		errs = append(errs, fmt.Errorf("gate.upstream.tls: is set but gate.upstream.url %q is plain http; use an https URL or remove gate.upstream.tls", c.URL))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("gate.upstream.tls.cert_file: cert_file and key_file go together: set both (the client certificate and its private key) or neither"))
	}
	if c.HTTP2 && plain {
		errs = append(errs, errors.New("gate.upstream.http2: needs an https upstream (HTTP/2 without TLS is not offered); set gate.upstream.url to https or remove http2"))
	}
	return errs
}

// NewTransport builds the transport to the upstream with the TLS settings of c.TLS when the
// upstream is https. It returns the client certificate it presents, so that its expiry can be
// watched, or nil when there is none. Unreadable files and mismatched key pairs are errors here,
// at start-up.
func NewTransport(c UpstreamConfig, log *slog.Logger) (*http.Transport, *KeyPair, error) {
	var clientCert *KeyPair
	if c.TLS.CertFile != "" {
		var err error
		if clientCert, err = LoadKeyPair(c.TLS.CertFile, c.TLS.KeyFile, log); err != nil {
			return nil, nil, fmt.Errorf("gate.upstream.tls.cert_file: %w; give readable PEM files, gate.upstream.tls.key_file holding this certificate's own key", err)
		}
	}
	tr, err := newTransport(c, clientCert)
	if err != nil {
		return nil, nil, err
	}
	return tr, clientCert, nil
}

// upstreamTLS is the client TLS configuration for an https upstream, or nil for plain http.
func (c UpstreamConfig) upstreamTLS(clientCert *KeyPair) (*tls.Config, error) {
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "https" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName}
	if c.TLS.CAFile != "" {
		pool, err := LoadCertPool(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("gate.upstream.tls.ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	if clientCert != nil {
		cfg.GetClientCertificate = clientCert.GetClientCertificate
	}
	return cfg, nil
}

// LoadCertPool reads a PEM bundle of CA certificates.
func LoadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate: give the CA certificate(s) in PEM form (-----BEGIN CERTIFICATE-----)", file)
	}
	return pool, nil
}

// KeyPair is a certificate and its private key read from two PEM files, and read again when
// either file changes (modification time or size), so that a renewed certificate is used
// without a restart. A new pair that does not load — half written, not PEM, a key that does not
// match — is logged once and the previous pair stays in use.
type KeyPair struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  fileStamp // the files as they were when cert was read
	failed  fileStamp // the files as they were when they last failed to load
	failing bool
}

// fileStamp tells whether two files changed: what a rotation changes.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func stampOf(certFile, keyFile string) (fileStamp, error) {
	c, err := os.Stat(certFile)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// LoadKeyPair reads the pair; an error names what is wrong with it.
func LoadKeyPair(certFile, keyFile string, log *slog.Logger) (*KeyPair, error) {
	st, err := stampOf(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := readKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &KeyPair{certFile: certFile, keyFile: keyFile, log: log, cert: cert, loaded: st}, nil
}

func readKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s with key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", certFile, err)
		}
	}
	return &cert, nil
}

// Certificate returns the pair in use, after reading the files again if they changed.
func (k *KeyPair) Certificate() *tls.Certificate {
	st, err := stampOf(k.certFile, k.keyFile)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err == nil && st == k.loaded {
		return k.cert
	}
	if k.failing && st == k.failed {
		return k.cert // already refused and logged; wait for the next change
	}
	var cert *tls.Certificate
	if err == nil {
		cert, err = readKeyPair(k.certFile, k.keyFile)
	}
	if err != nil {
		k.log.Error("certificate files changed but do not load; the previous certificate stays in use",
			"cert_file", k.certFile, "key_file", k.keyFile, "not_after", k.cert.Leaf.NotAfter, "err", err)
		k.failed, k.failing = st, true
		return k.cert
	}
	k.log.Info("certificate reloaded", "cert_file", k.certFile, "serial", cert.Leaf.SerialNumber.String(),
		"not_after", cert.Leaf.NotAfter)
	k.cert, k.loaded, k.failing = cert, st, false
	return k.cert
}

// NotAfter is when the certificate in use expires.
func (k *KeyPair) NotAfter() time.Time { return k.Certificate().Leaf.NotAfter }

// GetCertificate serves the pair to TLS clients (tls.Config.GetCertificate).
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}

// GetClientCertificate presents the pair to a TLS server that asks for a client certificate
// (tls.Config.GetClientCertificate).
func (k *KeyPair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.Certificate(), nil
}
