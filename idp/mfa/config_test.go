package mfa

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{PublicURL: "https://billing.example.com:8443"}
	c.Defaults()
	want := Config{Mode: ModeEither, Issuer: "Tollgate", MaxAttempts: 5, Lockout: 15 * time.Minute,
		PublicURL: "https://billing.example.com:8443",
		WebAuthn:  WebAuthnConfig{RPID: "billing.example.com", Origins: []string{"https://billing.example.com:8443"}}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Defaults (-want +got):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{KeyFile: "/etc/tollgate/mfa.key", PublicURL: "https://billing.example.com"}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error; none means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"key from env", func(c *Config) { c.KeyFile, c.KeyEnv = "", "TOLLGATE_MFA_KEY" }, nil},
		{"idp mode needs no key", func(c *Config) { c.Mode, c.KeyFile, c.PublicURL = ModeIdP, "", "" }, nil},
		{"webauthn on a parent domain", func(c *Config) {
			c.PublicURL = "https://billing.example.com"
			c.WebAuthn = WebAuthnConfig{Enabled: true, RPID: "example.com"}
		}, nil},
		{"webauthn on localhost", func(c *Config) {
			c.PublicURL = "http://localhost:8080"
			c.WebAuthn.Enabled = true
		}, nil},
		{"unknown mode", func(c *Config) { c.Mode = "sometimes" }, []string{`mode "sometimes"`}},
		{"no key", func(c *Config) { c.KeyFile = "" }, []string{"exactly one of key_file and key_env"}},
		{"two keys", func(c *Config) { c.KeyEnv = "K" }, []string{"exactly one of key_file and key_env"}},
		{"attempts", func(c *Config) { c.MaxAttempts = -1 }, []string{"max_attempts -1"}},
		{"lockout", func(c *Config) { c.Lockout = time.Second }, []string{"lockout 1s"}},
		{"issuer with colon", func(c *Config) { c.Issuer = "Acme: billing" }, []string{"issuer"}},
		{"public url with path", func(c *Config) { c.PublicURL = "https://billing.example.com/app" }, []string{"public URL"}},
		{"no public url", func(c *Config) { c.PublicURL = "" }, []string{"public URL"}},
		{"old key empty", func(c *Config) { c.OldKeyFiles = []string{""} }, []string{"old_key_files[0]"}},
		{"webauthn on an IP", func(c *Config) {
			c.PublicURL = "http://127.0.0.1:8080"
			c.WebAuthn.Enabled = true
		}, []string{"IP address"}},
		{"webauthn foreign rp id", func(c *Config) {
			c.WebAuthn = WebAuthnConfig{Enabled: true, RPID: "ample.com"}
		}, []string{`rp_id "ample.com"`}},
		{"webauthn bad origin", func(c *Config) {
			c.WebAuthn = WebAuthnConfig{Enabled: true, Origins: []string{"billing.example.com"}}
		}, []string{"webauthn.origins"}},
		{"webauthn in idp mode", func(c *Config) { c.Mode, c.WebAuthn.Enabled = ModeIdP, true }, []string{"needs mode gate or either"}},
		{"every problem at once", func(c *Config) { c.Mode, c.MaxAttempts, c.KeyFile = "x", 1000, "" },
			[]string{`mode "x"`, "max_attempts 1000"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			err := cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	cur := writeKey(t, dir, "cur.key")
	old := writeKey(t, dir, "old.key")
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("not-a-key-but-a-secret-phrase"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := loadKeys(Config{KeyFile: cur, OldKeyFiles: []string{old}})
	if err != nil || len(keys) != 2 {
		t.Fatalf("loadKeys = %d keys, %v", len(keys), err)
	}
	curBytes, _ := os.ReadFile(cur)
	want, _ := parseKey(string(curBytes))
	if !bytes.Equal(keys[0], want) {
		t.Error("the current key is not first")
	}

	t.Setenv("TOLLGATE_TEST_MFA_KEY", string(curBytes))
	if keys, err := loadKeys(Config{KeyEnv: "TOLLGATE_TEST_MFA_KEY"}); err != nil || !bytes.Equal(keys[0], want) {
		t.Errorf("loadKeys from env = %v", err)
	}
	for name, c := range map[string]Config{
		"missing file": {KeyFile: filepath.Join(dir, "none")},
		"unset env":    {KeyEnv: "TOLLGATE_TEST_MFA_KEY_UNSET"},
		"bad key":      {KeyFile: bad},
		"bad old key":  {KeyFile: cur, OldKeyFiles: []string{bad}},
		"missing old":  {KeyFile: cur, OldKeyFiles: []string{filepath.Join(dir, "none")}},
	} {
		_, err := loadKeys(c)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "secret-phrase") {
			t.Errorf("%s: the error repeats the file's content: %v", name, err)
		}
	}
}
