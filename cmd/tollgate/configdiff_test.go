package main

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/idp/directory"
)

func TestChangedKeys(t *testing.T) {
	base := func() *Config {
		c := &Config{}
		c.Gate.PublicURL = "https://b.example"
		secure := true
		c.Gate.Cookie.Secure = &secure
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"nothing", func(*Config) {}, nil},
		{"nested scalar", func(c *Config) { c.Session.Redis.TLS.ServerName = "r" }, []string{"session.redis.tls.server_name"}},
		{"inline section", func(c *Config) { c.Directory.GroupRoles = map[string][]string{"g": {"r"}} }, []string{"directory.group_roles"}},
		{"pointer to a value", func(c *Config) { f := false; c.Gate.Cookie.Secure = &f }, []string{"gate.cookie.secure"}},
		{"optional section", func(c *Config) { c.Store = &directory.StoreConfig{Driver: "sqlite"} }, []string{"store"}},
		{"derived value", func(c *Config) { c.Admin.PublicURL = "https://other.example" }, nil},
		{"custom decoder", func(c *Config) { c.Admin.MFAWithin = 5 }, []string{"admin.mfa_within"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := base(), base()
			tc.change(b)
			got := changedKeys(a, b)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("changedKeys = %v, want %v", got, tc.want)
			}
		})
	}
	// Every section of the example, loaded twice, compares equal.
	if keys := changedKeys(mustLoad(t, "../../examples/tollgate.yaml"), mustLoad(t, "../../examples/tollgate.yaml")); len(keys) != 0 {
		t.Errorf("the example loaded twice differs in %v", keys)
	}
	// Items of lists of the same length are compared one by one; a list that grew is one key.
	a, b := base(), base()
	a.Directory.Users = []directory.FileUser{{Email: "a@example.com"}, {Email: "b@example.com"}}
	b.Directory.Users = []directory.FileUser{{Email: "a@example.com"}, {Email: "b@example.com", Roles: []string{"x"}}}
	if got := changedKeys(a, b); strings.Join(got, " ") != "directory.users[1].roles" {
		t.Errorf("changedKeys = %v, want directory.users[1].roles", got)
	}
	b.Directory.Users = append(b.Directory.Users, directory.FileUser{Email: "c@example.com"})
	if got := changedKeys(a, b); strings.Join(got, " ") != "directory.users" {
		t.Errorf("changedKeys = %v, want directory.users", got)
	}
}

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		key, section string
		want         bool
	}{
		{"gate", "gate", true},
		{"gate.headers.email", "gate", true},
		{"gateway", "gate", false},
		{"directory.users[0].roles", "directory", true},
		{"directory.users[0].roles", "directory.users", true},
		{"log.levels", "log.level", false},
	} {
		if got := under(tc.key, tc.section); got != tc.want {
			t.Errorf("under(%q, %q) = %v", tc.key, tc.section, got)
		}
	}
}
