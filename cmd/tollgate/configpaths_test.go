package main

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pathsConfigs are valid configurations that between them set every file key, each value
// written as {P}name so that the same file can be tried with relative and absolute paths. Two
// are needed because some keys exclude each other (embedded or redis sessions, sqlite or
// postgres store).
var pathsConfigs = map[string]string{
	"embedded and sqlite": `
listen:
  tls:
    cert_file: {P}tls/gate.crt
    key_file: {P}tls/gate.key
    client_ca_file: {P}tls/proxies.pem
gate:
  public_url: https://gate.example
  upstream:
    url: https://app.internal
    tls:
      ca_file: {P}up/ca.pem
      cert_file: {P}up/client.crt
      key_file: {P}up/client.key
  assertion:
    key_files: [{P}keys/a1.pem, {P}keys/a0.pem]
oidc:
  issuer: https://idp.example
  client_id: tollgate
  client_secret_file: {P}secrets/oidc
  ca_file: {P}idp-ca.pem
session:
  path: {P}data/sessions.db
policy:
  file: {P}policy.yaml
  shadow_file: {P}candidate.yaml
store:
  driver: sqlite
  path: {P}data/directory.db
audit:
  spool:
    dir: {P}data/spool
  checkpoint:
    key_file: {P}keys/checkpoint.key
  sinks:
    - type: file
      path: {P}logs/audit.jsonl
    - type: http
      url: https://siem.example/in
      authorization_file: {P}secrets/siem
      tls:
        ca_file: {P}siem/ca.pem
        cert_file: {P}siem/client.crt
        key_file: {P}siem/client.key
    - type: redis
      redis:
        addrs: [redis.internal:6379]
        password_file: {P}secrets/audit-redis
        tls:
          enabled: true
          ca_file: {P}audit-redis/ca.pem
          cert_file: {P}audit-redis/client.crt
          key_file: {P}audit-redis/client.key
admin:
  smtp:
    host: mail.example
    from: gate@example.com
    starttls: true
    password_file: {P}secrets/smtp
    ca_file: {P}mail-ca.pem
mfa:
  mode: either
  key_file: {P}keys/mfa.key
  old_key_files: [{P}keys/mfa-old.key]
`,
	"redis and postgres": `
gate:
  public_url: https://gate.example
  upstream:
    url: http://app.internal
oidc:
  issuer: https://idp.example
  client_id: tollgate
  client_secret_env: TOLLGATE_OIDC_SECRET
session:
  backend: redis
  redis:
    addrs: [redis.internal:6379]
    password_file: {P}secrets/redis
    tls:
      enabled: true
      ca_file: {P}redis-ca.pem
policy:
  file: {P}policy.yaml
store:
  driver: postgres
  dsn_file: {P}secrets/pg
mfa:
  mode: gate
  key_env: TOLLGATE_MFA_KEY
audit:
  output: {P}logs/audit.jsonl
  spool:
    dir: {P}data/spool
`,
}

func TestRelativePathsResolveAgainstTheConfigFile(t *testing.T) {
	t.Parallel()
	for name, tmpl := range pathsConfigs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The test runs in the package folder: A is elsewhere, so a path left relative
			// would name a file under the working directory, not under A.
			a := t.TempDir()
			elsewhere := t.TempDir()
			rel := loadPathsConfig(t, a, tmpl, "")
			abs := loadPathsConfig(t, a, tmpl, elsewhere+"/")
			relPaths, absPaths := stringsByKey(rel), stringsByKey(abs)

			var checked []string
			for _, key := range slices.Sorted(maps.Keys(relPaths)) {
				got := relPaths[key]
				if !isFileKey(key) || got == "" {
					continue
				}
				checked = append(checked, key)
				written := absPaths[key]
				if !strings.HasPrefix(written, elsewhere+"/") {
					t.Errorf("%s = %q with an absolute path written; want it unchanged under %s", key, written, elsewhere)
					continue
				}
				want := filepath.Join(a, strings.TrimPrefix(written, elsewhere+"/"))
				if got != want {
					t.Errorf("%s = %q, want %q (relative to the config file's folder)", key, got, want)
				}
			}
			// Every {P} in the template is a file key that was checked, so that a key written
			// but left unresolved, or missed by stringsByKey, shows.
			if want := strings.Count(tmpl, "{P}"); len(checked) < want {
				t.Errorf("checked %d keys %v; the template writes %d paths", len(checked), checked, want)
			}
		})
	}
}

func TestUnsetPathsStayEmpty(t *testing.T) {
	t.Parallel()
	a := t.TempDir()
	cfg := loadPathsConfig(t, a, `
gate:
  public_url: https://gate.example
  upstream:
    url: http://app.internal
oidc:
  issuer: https://idp.example
  client_id: tollgate
  client_secret: s
session:
  path: {P}sessions.db
policy:
  file: {P}policy.yaml
`, "")
	for key, v := range stringsByKey(cfg) {
		if !isFileKey(key) {
			continue
		}
		want := ""
		switch key {
		case "session.path":
			want = filepath.Join(a, "sessions.db")
		case "policy.file":
			want = filepath.Join(a, "policy.yaml")
		case "audit.spool.dir": // the default is a relative path: it lives next to the config file
			want = filepath.Join(a, "audit-spool")
		}
		if v != want {
			t.Errorf("%s = %q, want %q", key, v, want)
		}
	}
	if cfg.Listen.TLS.set() {
		t.Errorf("listen.tls = %+v: resolving must not make an unset section set", cfg.Listen.TLS)
	}
}

// TestRelativeConfigPath names the configuration by a path relative to the working directory,
// as "tollgate serve --config etc/tollgate.yaml" does: the paths in it still come out absolute,
// so that resolving them again (the wiring passes some through rel) leaves them alone.
func TestRelativeConfigPath(t *testing.T) {
	t.Parallel()
	a := t.TempDir()
	writeFile(t, filepath.Join(a, "tollgate.yaml"), strings.ReplaceAll(pathsConfigs["embedded and sqlite"], "{P}", ""))
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relCfg, err := filepath.Rel(wd, filepath.Join(a, "tollgate.yaml"))
	if err != nil || filepath.IsAbs(relCfg) {
		t.Fatalf("no relative path from %s to %s: %v", wd, a, err)
	}
	cfg, err := loadConfig(relCfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(a, "policy.yaml"); cfg.Policy.File != want {
		t.Errorf("policy.file = %q, want %q", cfg.Policy.File, want)
	}
	if got := cfg.rel(cfg.Policy.File); got != cfg.Policy.File {
		t.Errorf("rel(policy.file) = %q, want it unchanged %q", got, cfg.Policy.File)
	}

	// Reload compares two loaded configurations: the same file named either way is no change.
	again, err := loadConfig(filepath.Join(a, "tollgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if keys := changedKeys(cfg, again); len(keys) != 0 {
		t.Errorf("the same file loaded by a relative and an absolute name: changed %v, want none", keys)
	}
}

// TestReloadSeesAMovedFile is the positive control of the comparison above: pointing a key at
// another file (written relative, here) is a change.
func TestReloadSeesAMovedFile(t *testing.T) {
	t.Parallel()
	a := t.TempDir()
	tmpl := strings.ReplaceAll(pathsConfigs["embedded and sqlite"], "{P}", "")
	before := loadPathsConfig(t, a, tmpl, "")
	after := loadPathsConfig(t, a, strings.Replace(tmpl, "mfa-old.key", "mfa-older.key", 1), "")
	if keys := changedKeys(before, after); !slices.Equal(keys, []string{"mfa.old_key_files"}) {
		t.Errorf("changed %v, want [mfa.old_key_files]", keys)
	}
}

// TestEveryFileKeyIsResolved sets every string the decoder fills in the whole Config tree to a
// relative value and checks that resolvePaths changes exactly the keys named like files and
// folders (…file, …files, …dir, …path), so that a file key added to any section later and not
// listed in resolvePaths fails here, as does a non-path key (a URL, an *_env name) touched.
func TestEveryFileKeyIsResolved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := &Config{path: filepath.Join(dir, "tollgate.yaml")}
	walkStrings("", reflect.ValueOf(cfg).Elem(), true, func(key string, v reflect.Value) {
		v.SetString("rel/" + key)
	})
	before := stringsByKey(cfg)
	cfg.resolvePaths()
	after := stringsByKey(cfg)

	files := 0
	for _, key := range slices.Sorted(maps.Keys(before)) {
		want := before[key]
		if isFileKey(key) {
			files++
			want = filepath.Join(dir, before[key])
		}
		if after[key] != want {
			t.Errorf("%s = %q after resolvePaths, want %q", key, after[key], want)
		}
	}
	// The walk must reach the nested sections (sinks, the store pointer, lists), or this
	// test proves nothing.
	for _, key := range []string{"audit.sinks[0].redis.tls.key_file", "store.dsn_file", "gate.assertion.key_files[0]",
		"mfa.old_key_files[0]", "gate.upstream.url", "oidc.client_secret_env", "session.redis.addrs[0]"} {
		if _, ok := before[key]; !ok {
			t.Errorf("the walk did not reach %s", key)
		}
	}
	if files < 30 {
		t.Errorf("found %d file keys, want at least 30: is the walk missing sections?", files)
	}
}

// isFileKey tells, by its name, whether a key holds a file or folder path. audit.output is the
// one path whose name does not say so ("stdout" or a file).
func isFileKey(key string) bool {
	if key == "audit.output" {
		return true
	}
	name := key[strings.LastIndex(key, ".")+1:]
	name, _, _ = strings.Cut(name, "[")
	switch name {
	case "file", "files", "path", "dir":
		return true
	}
	for _, suffix := range []string{"_file", "_files", "_path", "_dir"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// walkStrings calls visit with every string (and every item of a list of strings) the YAML
// decoder fills, keyed as configdiff keys them. With grow, nil sections and empty lists get one
// zero item first, so that every key in the tree is reached.
func walkStrings(key string, v reflect.Value, grow bool, visit func(string, reflect.Value)) {
	t := v.Type()
	switch {
	case t.Kind() == reflect.String:
		visit(key, v)
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			name, inline, ok := yamlKey(t.Field(i))
			if !ok {
				continue
			}
			k := key
			if !inline {
				k = joinKey(key, name)
			}
			walkStrings(k, v.Field(i), grow, visit)
		}
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		if v.IsNil() {
			if !grow {
				return
			}
			v.Set(reflect.New(t.Elem()))
		}
		walkStrings(key, v.Elem(), grow, visit)
	case t.Kind() == reflect.Slice && (t.Elem().Kind() == reflect.String || t.Elem().Kind() == reflect.Struct):
		if grow && v.Len() == 0 {
			v.Set(reflect.MakeSlice(t, 1, 1))
		}
		for i := range v.Len() {
			walkStrings(key+"["+strconv.Itoa(i)+"]", v.Index(i), grow, visit)
		}
	}
}

// stringsByKey collects every string value in the tree by key.
func stringsByKey(cfg *Config) map[string]string {
	out := map[string]string{}
	walkStrings("", reflect.ValueOf(cfg).Elem(), false, func(key string, v reflect.Value) {
		out[key] = v.String()
	})
	return out
}

// loadPathsConfig writes tmpl, with {P} replaced by prefix, to dir/tollgate.yaml and loads it.
func loadPathsConfig(t *testing.T, dir, tmpl, prefix string) *Config {
	t.Helper()
	path := filepath.Join(dir, "tollgate.yaml")
	writeFile(t, path, strings.ReplaceAll(tmpl, "{P}", prefix))
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
