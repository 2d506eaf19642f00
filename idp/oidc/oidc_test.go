package oidc

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/idp"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, []string{"oidc.issuer: required", "oidc.client_id: required", "oidc.client_secret: required"}},
		{"plain http off loopback", Config{Issuer: "http://idp.example", ClientID: "c", ClientSecret: "s"}, []string{"uses plain http"}},
		{"two secrets", Config{Issuer: "https://idp.example", ClientID: "c", ClientSecret: "s", ClientSecretEnv: "X"}, []string{"set only one"}},
		{"not a URL", Config{Issuer: "idp.example", ClientID: "c", ClientSecret: "s"}, []string{"not an absolute http(s) URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
	for _, ok := range []Config{
		{Issuer: "https://idp.example/realms/acme", ClientID: "c", ClientSecret: "s"},
		{Issuer: "http://127.0.0.1:9000", ClientID: "c", ClientSecretEnv: "X"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", ok, err)
		}
	}
}

func TestSecretSources(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_TEST_SECRET", "from-env")
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ClientSecretFile: f}, "from-file"},
		{Config{ClientSecretEnv: "TOLLGATE_TEST_SECRET"}, "from-env"},
		{Config{ClientSecret: "inline"}, "inline"},
	} {
		got, err := tc.cfg.Secret()
		if err != nil || got != tc.want {
			t.Errorf("Secret() = %q, %v; want %q", got, err, tc.want)
		}
	}
	if _, err := (Config{ClientSecretEnv: "TOLLGATE_TEST_UNSET_VAR"}).Secret(); err == nil {
		t.Error("an unset environment variable gave no error")
	}
}

func TestSecondFactor(t *testing.T) {
	cfg := Config{MFA: MFAConfig{ACR: []string{"urn:acme:loa:2"}}}
	cfg.Defaults()
	rp := &RelyingParty{cfg: cfg}
	for _, tc := range []struct {
		id   idp.Identity
		want bool
	}{
		{idp.Identity{AMR: []string{"pwd", "mfa"}}, true},
		{idp.Identity{AMR: []string{"hwk"}}, true},
		{idp.Identity{ACR: "urn:acme:loa:2"}, true},
		{idp.Identity{AMR: []string{"pwd"}}, false},
		{idp.Identity{AMR: []string{"MFA"}}, false}, // values compare exactly
		{idp.Identity{ACR: "urn:acme:loa:1"}, false},
		{idp.Identity{}, false},
	} {
		if got := rp.secondFactor(tc.id); got != tc.want {
			t.Errorf("secondFactor(%+v) = %v, want %v", tc.id, got, tc.want)
		}
	}
	// An explicitly empty amr list accepts acr values only.
	acrOnly := Config{MFA: MFAConfig{AMR: []string{}, ACR: []string{"urn:acme:loa:2"}}}
	acrOnly.Defaults()
	rp = &RelyingParty{cfg: acrOnly}
	if rp.secondFactor(idp.Identity{AMR: []string{"mfa"}}) || !rp.secondFactor(idp.Identity{ACR: "urn:acme:loa:2"}) {
		t.Error("amr: [] should accept acr values only")
	}
}

func TestClassifySeparatesRefusalFromOutage(t *testing.T) {
	grant := &oauth2.RetrieveError{ErrorCode: "invalid_grant", Response: &http.Response{StatusCode: 400}}
	if err := classify("refresh", grant); !errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrUnavailable) {
		t.Errorf("invalid_grant: %v", err)
	}
	down := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 503}}
	if err := classify("refresh", down); !errors.Is(err, ErrUnavailable) {
		t.Errorf("503: %v", err)
	}
	if err := classify("refresh", errors.New("dial tcp: connection refused")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("network error: %v", err)
	}
	other := &oauth2.RetrieveError{ErrorCode: "invalid_client", Response: &http.Response{StatusCode: 401}}
	if err := classify("exchange", other); errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidGrant) {
		t.Errorf("invalid_client: %v", err)
	}
}
