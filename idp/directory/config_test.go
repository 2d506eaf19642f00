package directory

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/internal/pgtest"
)

func TestStoreConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  StoreConfig
		want []string // substrings, one per expected problem; none means valid
	}{
		{"sqlite", StoreConfig{Driver: "sqlite", Path: "/var/lib/tollgate/d.db"}, nil},
		{"postgres dsn", StoreConfig{Driver: "postgres", DSN: "postgres://db/tollgate"}, nil},
		{"postgres dsn_file", StoreConfig{Driver: "postgres", DSNFile: "/run/secrets/dsn"}, nil},
		{"postgres dsn_env", StoreConfig{Driver: "postgres", DSNEnv: "TOLLGATE_DSN"}, nil},
		{"no driver", StoreConfig{}, []string{"store.driver: required"}},
		{"unknown driver", StoreConfig{Driver: "mysql"}, []string{`store.driver: unknown driver "mysql"`}},
		{"sqlite without path", StoreConfig{Driver: "sqlite"}, []string{"store.path: required"}},
		{"sqlite with dsn keys", StoreConfig{Driver: "sqlite", Path: "d.db", DSN: "x", DSNEnv: "Y"},
			[]string{"store.dsn: only for driver postgres", "store.dsn_env: only for driver postgres"}},
		{"postgres without dsn", StoreConfig{Driver: "postgres"}, []string{"set one of store.dsn_file, store.dsn_env or store.dsn"}},
		{"postgres with two dsns and a path", StoreConfig{Driver: "postgres", DSN: "x", DSNFile: "f", Path: "p"},
			[]string{"store.path: only for driver sqlite", "set only one of"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed; want %q", c.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(c.want) {
				t.Errorf("%d problems reported, want %d:\n%v", len(lines), len(c.want), err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestStoreConfigYAML(t *testing.T) {
	var cfg StoreConfig
	src := "driver: postgres\ndsn_file: /run/secrets/dsn\ndsn_env: X\npath: p\ndsn: d\n"
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg != (StoreConfig{Driver: "postgres", DSNFile: "/run/secrets/dsn", DSNEnv: "X", Path: "p", DSN: "d"}) {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestOpenFromConfig(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	dsn := pgtest.Open(t)
	dsnFile := filepath.Join(dir, "dsn")
	if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_TEST_DIRECTORY_DSN", dsn)
	for name, cfg := range map[string]StoreConfig{
		"sqlite":   {Driver: "sqlite", Path: filepath.Join(dir, "d.db")},
		"dsn":      {Driver: "postgres", DSN: dsn},
		"dsn_file": {Driver: "postgres", DSNFile: dsnFile},
		"dsn_env":  {Driver: "postgres", DSNEnv: "TOLLGATE_TEST_DIRECTORY_DSN"},
	} {
		st, err := Open(ctx, cfg, StoreOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := st.Ping(ctx); err != nil {
			t.Errorf("%s: Ping: %v", name, err)
		}
		if st.d.name != cfg.Driver {
			t.Errorf("%s: opened %s", name, st.d.name)
		}
		_ = st.Close()
	}
	for name, c := range map[string]struct {
		cfg  StoreConfig
		want string
	}{
		"invalid":         {StoreConfig{Driver: "sqlite"}, "store.path"},
		"missing file":    {StoreConfig{Driver: "postgres", DSNFile: filepath.Join(dir, "nope")}, "store.dsn_file"},
		"empty file":      {StoreConfig{Driver: "postgres", DSNFile: os.DevNull}, "is empty"},
		"unset variable":  {StoreConfig{Driver: "postgres", DSNEnv: "TOLLGATE_TEST_UNSET_VARIABLE"}, "TOLLGATE_TEST_UNSET_VARIABLE is empty or unset"},
		"unreachable":     {StoreConfig{Driver: "postgres", DSN: "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2"}, "connect to PostgreSQL"},
		"unparseable dsn": {StoreConfig{Driver: "postgres", DSN: "postgres://u:hunter2@[::1"}, "DSN"},
	} {
		st, err := Open(ctx, c.cfg, StoreOptions{})
		if err == nil {
			_ = st.Close()
			t.Errorf("%s: opened", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want it to mention %q", name, err, c.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
}

func TestCheckSelfChange(t *testing.T) {
	me := User{ID: "usr_me", Roles: []string{"admin", "support"}, Status: StatusActive}
	for _, c := range []struct {
		name   string
		actor  string
		change func(*User)
		want   error
	}{
		{"own roles", "usr_me", func(u *User) { u.Roles = []string{"admin"} }, ErrSelfChange},
		{"own status", "usr_me", func(u *User) { u.Status = StatusDisabled }, ErrSelfChange},
		{"own name", "usr_me", func(u *User) { u.Name = "New" }, nil},
		{"own roles reordered", "usr_me", func(u *User) { u.Roles = []string{"support", "admin", "admin"} }, nil},
		{"someone else's roles", "usr_other", func(u *User) { u.Roles = nil }, nil},
	} {
		after := me.clone()
		c.change(&after)
		if err := CheckSelfChange(c.actor, me, after); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
