package audit

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSConfig is a sink's TLS client setup. Certificate verification cannot be turned off;
// point CAFile at the CA that signed the server's certificate instead.
type TLSConfig struct {
	Enabled    bool   `yaml:"enabled"` // syslog and redis; http decides by the URL scheme
	CAFile     string `yaml:"ca_file"` // PEM bundle trusted instead of the system roots
	ServerName string `yaml:"server_name"`
	CertFile   string `yaml:"cert_file"` // client certificate for mutual TLS, with KeyFile
	KeyFile    string `yaml:"key_file"`
}

func (t TLSConfig) validate(p string, needEnabled bool) []error {
	var errs []error
	if needEnabled && !t.Enabled && (t.CAFile != "" || t.ServerName != "" || t.CertFile != "" || t.KeyFile != "") {
		errs = append(errs, fmt.Errorf("%senabled: is false, but other tls keys are set; set enabled: true", p))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%scert_file: cert_file and key_file go together", p))
	}
	return errs
}

// clientTLS builds a verifying TLS client configuration: the system roots or CAFile, an
// optional client certificate, TLS 1.2 or later.
func clientTLS(c TLSConfig, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if c.ServerName != "" {
		cfg.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
