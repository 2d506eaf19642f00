package oidc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is the `oidc` section of the configuration file.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as it appears in its discovery document.
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecret may instead come from ClientSecretFile or the environment variable named by
	// ClientSecretEnv, so that the secret need not sit in the config file.
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// Scopes beyond "openid"; default ["email", "profile"].
	Scopes []string `yaml:"scopes"`
	// GroupsClaim is the ID-token claim that lists the user's groups; default "groups".
	GroupsClaim string `yaml:"groups_claim"`
	// MFA says which IdP assertions count as a second factor.
	MFA MFAConfig `yaml:"mfa"`
	// DiscoveryTimeout bounds each call to the provider; default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile is a PEM bundle trusted instead of the system roots for every call to the
	// provider (discovery, token endpoint, keys): an IdP with a certificate from a private CA.
	CAFile string `yaml:"ca_file"`
}

// MFAConfig lists the amr and acr values that prove a second factor at the IdP.
type MFAConfig struct {
	// Required refuses to complete a login without one of the values below. Default true.
	Required *bool `yaml:"required"`
	// AMR values (RFC 8176) that count; default ["mfa", "hwk", "otp", "swk"].
	AMR []string `yaml:"amr"`
	// ACR values that count; default none.
	ACR []string `yaml:"acr"`
}

// RequiresMFA reports whether a login must carry a second factor.
func (c MFAConfig) RequiresMFA() bool { return c.Required == nil || *c.Required }

// Defaults fills the values a config may leave out.
func (c *Config) Defaults() {
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"email", "profile"}
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	// Only an absent list gets the default: `amr: []` means "accept acr values only".
	if c.MFA.AMR == nil {
		c.MFA.AMR = []string{"mfa", "hwk", "otp", "swk"}
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports every problem at once; keys are named as in the file.
func (c Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		errs = append(errs, errors.New("oidc.issuer: required: the provider's issuer URL, e.g. https://login.example.com/realms/acme"))
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, fmt.Errorf("oidc.issuer: %q is not an absolute http(s) URL", c.Issuer))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		errs = append(errs, fmt.Errorf("oidc.issuer: %q uses plain http; use https (plain http is allowed only for loopback providers)", c.Issuer))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("oidc.client_id: required: the client id registered at the provider"))
	}
	n := 0
	for _, s := range []string{c.ClientSecret, c.ClientSecretFile, c.ClientSecretEnv} {
		if s != "" {
			n++
		}
	}
	if n == 0 {
		errs = append(errs, errors.New("oidc.client_secret: required: set client_secret_file (recommended), client_secret_env or client_secret"))
	} else if n > 1 {
		errs = append(errs, errors.New("oidc.client_secret: set only one of client_secret, client_secret_file, client_secret_env"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("oidc.timeout: must be positive, e.g. 10s"))
	}
	if c.CAFile != "" && u != nil && u.Scheme == "http" {
		errs = append(errs, errors.New("oidc.ca_file: is set but oidc.issuer is plain http; use the provider's https issuer URL or remove ca_file"))
	}
	return errors.Join(errs...)
}

// httpClient reaches the provider, trusting CAFile instead of the system roots when it is set.
func (c Config) httpClient() (*http.Client, error) {
	if c.CAFile == "" {
		return &http.Client{Timeout: c.Timeout}, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("oidc.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("oidc.ca_file: %s holds no PEM certificate: give the CA certificate(s) in PEM form", c.CAFile)
	}
	// A clone keeps the default transport's proxy-from-environment: an IdP outside the network
	// may have to be reached through the egress proxy.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return &http.Client{Timeout: c.Timeout, Transport: tr}, nil
}

// Secret resolves the client secret from wherever the config says it lives.
func (c Config) Secret() (string, error) {
	switch {
	case c.ClientSecretFile != "":
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("oidc.client_secret_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case c.ClientSecretEnv != "":
		v, ok := os.LookupEnv(c.ClientSecretEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("oidc.client_secret_env: environment variable %s is not set", c.ClientSecretEnv)
		}
		return v, nil
	}
	return c.ClientSecret, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}
