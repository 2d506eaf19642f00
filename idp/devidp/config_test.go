package devidp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/idp/devidp"
)

func validConfig() devidp.Config {
	return devidp.Config{
		Issuer:     "http://127.0.0.1:9",
		Users:      devidp.DemoUsers(),
		Clients:    []devidp.Client{{ID: "c", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:8/cb"}}},
		SigningKey: testKey(),
	}
}

func TestNewValidatesConfig(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*devidp.Config)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*devidp.Config) {}, nil},
		{"issuer with a path", func(c *devidp.Config) { c.Issuer += "/idp" }, nil},
		{"no issuer", func(c *devidp.Config) { c.Issuer = "" }, []string{"issuer: required"}},
		{"issuer with trailing slash", func(c *devidp.Config) { c.Issuer += "/" }, []string{"slash"}},
		{"issuer with query", func(c *devidp.Config) { c.Issuer += "?x=1" }, []string{"query"}},
		{"issuer not http", func(c *devidp.Config) { c.Issuer = "ftp://h" }, []string{"scheme"}},
		{"issuer relative", func(c *devidp.Config) { c.Issuer = "/idp" }, []string{"scheme"}},
		{"no clients", func(c *devidp.Config) { c.Clients = nil }, []string{"at least one client"}},
		{"client without secret", func(c *devidp.Config) { c.Clients[0].Secret = "" }, []string{"secret required"}},
		{"client without redirect", func(c *devidp.Config) { c.Clients[0].RedirectURIs = nil }, []string{"redirect URI is required"}},
		{"relative redirect", func(c *devidp.Config) { c.Clients[0].RedirectURIs = []string{"/cb"} }, []string{"absolute"}},
		{"redirect with fragment", func(c *devidp.Config) { c.Clients[0].RedirectURIs[0] += "#f" }, []string{"fragment"}},
		{"bad logout URI", func(c *devidp.Config) { c.Clients[0].PostLogoutRedirectURIs = []string{"x"} }, []string{"absolute"}},
		{"duplicate client", func(c *devidp.Config) { c.Clients = append(c.Clients, c.Clients[0]) }, []string{"duplicate id"}},
		{"duplicate username in another case", func(c *devidp.Config) {
			c.Users = append(c.Users, devidp.User{Username: "ADMIN", Password: "x", Subject: "other"})
		}, []string{"duplicate username"}},
		{"duplicate subject", func(c *devidp.Config) {
			c.Users = append(c.Users, devidp.User{Username: "ada", Password: "x", Subject: devidp.DefaultSubject("admin")})
		}, []string{"duplicate subject"}},
		{"user without password", func(c *devidp.Config) { c.Users[0].Password = "" }, []string{"password required"}},
		{"weak key", func(c *devidp.Config) { c.SigningKey = weak }, []string{"2048"}},
		{"every problem at once", func(c *devidp.Config) {
			c.Issuer = ""
			c.Clients[0].Secret = ""
		}, []string{"issuer: required", "secret required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.change(&cfg)
			p, err := devidp.New(cfg)
			if tc.want == nil {
				if err != nil || p == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted the config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewGeneratesAKeyWhenNoneIsGiven(t *testing.T) {
	cfg := validConfig()
	cfg.SigningKey = nil
	if _, err := devidp.New(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestDemoUsers(t *testing.T) {
	type demo struct {
		Username, Password, Email, Name string
		Groups, AMR                     []string
	}
	var got []demo
	subjects := map[string]bool{}
	for _, u := range devidp.DemoUsers() {
		got = append(got, demo{u.Username, u.Password, u.Email, u.Name, u.Groups, u.AMR})
		subjects[u.Subject] = true
		if u.Subject != devidp.DefaultSubject(u.Username) || u.ACR != "" {
			t.Errorf("%s: subject %q acr %q", u.Username, u.Subject, u.ACR)
		}
	}
	mfa := []string{"pwd", "mfa"}
	want := []demo{
		{"admin", "demo", "admin@example.com", "Ada Admin", []string{"billing-administrator"}, mfa},
		{"manager", "demo", "manager@example.com", "Mona Manager", []string{"billing-billing_manager"}, mfa},
		{"sales", "demo", "sales@example.com", "Sam Sales", []string{"billing-sales_rep"}, mfa},
		{"accountant", "demo", "accountant@example.com", "Alan Accountant", []string{"billing-accountant"}, mfa},
		{"support", "demo", "support@example.com", "Sue Support", []string{"billing-support"}, mfa},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DemoUsers (-want +got):\n%s", diff)
	}
	if len(subjects) != len(want) {
		t.Errorf("subjects are not distinct: %v", subjects)
	}
	a := devidp.DemoUsers()
	a[0].Groups[0] = "changed"
	if devidp.DemoUsers()[0].Groups[0] != "billing-administrator" {
		t.Error("DemoUsers shares state between calls")
	}
}

func TestDiscovery(t *testing.T) {
	for _, path := range []string{"", "/idp"} {
		h := newHarness(t, func(c *devidp.Config) { c.Issuer += path })
		resp, body := get(t, newBrowser(), h.issuer+"/.well-known/openid-configuration")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var doc struct {
			Issuer           string   `json:"issuer"`
			Authorization    string   `json:"authorization_endpoint"`
			Token            string   `json:"token_endpoint"`
			Userinfo         string   `json:"userinfo_endpoint"`
			JWKS             string   `json:"jwks_uri"`
			EndSession       string   `json:"end_session_endpoint"`
			ResponseTypes    []string `json:"response_types_supported"`
			SubjectTypes     []string `json:"subject_types_supported"`
			SigningAlgs      []string `json:"id_token_signing_alg_values_supported"`
			PKCEMethods      []string `json:"code_challenge_methods_supported"`
			GrantTypes       []string `json:"grant_types_supported"`
			TokenAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
			RequestURIParam  bool     `json:"request_uri_parameter_supported"`
			IssParameter     bool     `json:"authorization_response_iss_parameter_supported"`
			ScopesHaveOpenID bool     `json:"-"`
			Scopes           []string `json:"scopes_supported"`
			ClaimsHaveGroups bool     `json:"-"`
			Claims           []string `json:"claims_supported"`
		}
		if err := json.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatal(err)
		}
		doc.ScopesHaveOpenID = slices.Contains(doc.Scopes, "openid")
		doc.ClaimsHaveGroups = slices.Contains(doc.Claims, "groups") && slices.Contains(doc.Claims, "amr")
		doc.Scopes, doc.Claims = nil, nil
		want := doc
		want.Issuer = h.issuer
		want.Authorization, want.Token = h.issuer+"/authorize", h.issuer+"/token"
		want.Userinfo, want.JWKS, want.EndSession = h.issuer+"/userinfo", h.issuer+"/jwks", h.issuer+"/logout"
		want.ResponseTypes, want.SubjectTypes, want.SigningAlgs = []string{"code"}, []string{"public"}, []string{"RS256"}
		want.PKCEMethods = []string{"S256"}
		want.GrantTypes = []string{"authorization_code", "refresh_token"}
		want.TokenAuthMethods = []string{"client_secret_basic", "client_secret_post"}
		want.RequestURIParam, want.IssParameter = false, true
		want.ScopesHaveOpenID, want.ClaimsHaveGroups = true, true
		if diff := cmp.Diff(want, doc); diff != "" {
			t.Errorf("issuer path %q: discovery (-want +got):\n%s", path, diff)
		}
		// The whole flow works below the issuer's path, and nothing is served outside it.
		a := newAuthRequest()
		q := h.login(t, a, "admin", "demo")
		h.exchange(t, t.Context(), q.Get("code"), a.verifier)
		if path != "" {
			if resp, _ := get(t, newBrowser(), strings.TrimSuffix(h.issuer, path)+"/jwks"); resp.StatusCode != http.StatusNotFound {
				t.Errorf("JWKS outside the issuer path: %d", resp.StatusCode)
			}
		}
	}
}
