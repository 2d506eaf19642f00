package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/admin"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/mfa"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/proxy"
)

// Config is the whole configuration file. Each section belongs to the package that uses it.
type Config struct {
	Listen    ListenConfig           `yaml:"listen"`
	Gate      proxy.Config           `yaml:"gate"`
	OIDC      oidc.Config            `yaml:"oidc"`
	Session   SessionConfig          `yaml:"session"`
	Policy    PolicyConfig           `yaml:"policy"`
	Directory directory.Config       `yaml:"directory"`
	Store     *directory.StoreConfig `yaml:"store"`
	Audit     audit.Config           `yaml:"audit"`
	Admin     admin.Config           `yaml:"admin"`
	MFA       mfa.Config             `yaml:"mfa"`
	Log       LogConfig              `yaml:"log"`

	path string    // the file it came from, for messages and relative paths
	root yaml.Node // kept to find the line of a key in messages
}

// ListenConfig says where the gate and its operations endpoints listen.
type ListenConfig struct {
	Addr    string `yaml:"addr"`     // default ":8080"
	OpsAddr string `yaml:"ops_addr"` // default "127.0.0.1:9090"; metrics and health, never public
	// TLS makes the gate serve https itself; without it, a proxy in front terminates TLS.
	TLS ServeTLSConfig `yaml:"tls"`
}

// SessionConfig selects and tunes the session store.
type SessionConfig struct {
	Backend         string              `yaml:"backend"` // embedded (default) | redis
	Path            string              `yaml:"path"`    // embedded: the bbolt file
	IdleTimeout     time.Duration       `yaml:"idle_timeout"`
	AbsoluteTimeout time.Duration       `yaml:"absolute_timeout"`
	Redis           session.RedisConfig `yaml:"redis"`
	Cache           SessionCacheConfig  `yaml:"cache"`
}

// SessionCacheConfig keeps sessions in memory on each replica, invalidated through Redis
// pub/sub, so that a request needs no Redis round trip.
type SessionCacheConfig struct {
	Enabled    bool          `yaml:"enabled"`
	MaxEntries int           `yaml:"max_entries"` // default 10000
	TTL        time.Duration `yaml:"ttl"`         // longest an entry is kept; default 10s
}

// PolicyConfig names the policy file.
type PolicyConfig struct {
	File string `yaml:"file"`
	// ShadowFile is a candidate policy evaluated beside the live one on every request: the
	// requests it would decide differently are logged and counted, and nothing is enforced.
	ShadowFile string `yaml:"shadow_file"`
}

// LogConfig sets the operational log.
type LogConfig struct {
	Level string `yaml:"level"` // debug | info (default) | warn | error
}

// loadConfig reads, strictly decodes, defaults and validates a configuration file. The error
// lists every problem, each with file, line, key and fix.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := &Config{path: path}
	if err := yaml.Unmarshal(data, &cfg.root); err != nil {
		return nil, yamlError(path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return nil, yamlError(path, err)
	}
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) defaults() {
	if c.Listen.Addr == "" {
		c.Listen.Addr = ":8080"
	}
	if c.Listen.OpsAddr == "" {
		c.Listen.OpsAddr = "127.0.0.1:9090"
	}
	c.tlsDefaults()
	if c.Session.Backend == "" {
		c.Session.Backend = "embedded"
	}
	if c.Session.IdleTimeout == 0 {
		c.Session.IdleTimeout = 30 * time.Minute
	}
	if c.Session.AbsoluteTimeout == 0 {
		c.Session.AbsoluteTimeout = 12 * time.Hour
	}
	c.Audit.Defaults()
	c.Admin.Defaults()
	c.Admin.PublicURL = c.Gate.PublicURL
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	// Without an mfa section only the IdP's factor counts; the gate's own is opted into.
	if c.MFA.Mode == "" {
		c.MFA.Mode = mfa.ModeIdP
	}
	c.MFA.Defaults()
	c.MFA.PublicURL = c.Gate.PublicURL
	if c.MFA.Mode != mfa.ModeIdP {
		// The gate asks for its own factor when the IdP asserted none: the login itself must
		// not be refused for lacking one.
		off := false
		c.OIDC.MFA.Required = &off
	}
	c.OIDC.Defaults()
	c.Gate.Defaults()
	c.Gate.MFAMode = c.MFA.Mode
	c.Gate.RequireMFA = c.MFA.Mode != mfa.ModeIdP || c.OIDC.MFA.RequiresMFA()
	// Last, so that defaulted paths (audit.spool.dir) are resolved too.
	c.resolvePaths()
}

// resolvePaths makes every file and folder the configuration names relative to the
// configuration file's own folder, not to the working directory: that is whatever systemd
// (WorkingDirectory), a container runtime or the operator's shell happened to set, so a relative
// path would otherwise mean a different file depending on how the gate was started. Absolute
// paths stay as written. This list and audit's ResolvePaths are the only lists of such keys;
// TestEveryFileKeyIsResolved fails when a new one is missing from either. URLs, addresses and the *_env keys (names of environment
// variables, not paths) are not paths and are left alone.
func (c *Config) resolvePaths() {
	paths := []*string{
		&c.Listen.TLS.CertFile, &c.Listen.TLS.KeyFile, &c.Listen.TLS.ClientCAFile,
		&c.Gate.Upstream.TLS.CAFile, &c.Gate.Upstream.TLS.CertFile, &c.Gate.Upstream.TLS.KeyFile,
		&c.OIDC.ClientSecretFile, &c.OIDC.CAFile,
		&c.Session.Path, &c.Session.Redis.PasswordFile, &c.Session.Redis.TLS.CAFile,
		&c.Policy.File, &c.Policy.ShadowFile,
		&c.Admin.SMTP.PasswordFile, &c.Admin.SMTP.CAFile,
		&c.MFA.KeyFile,
	}
	for i := range c.Gate.Assertion.KeyFiles {
		paths = append(paths, &c.Gate.Assertion.KeyFiles[i])
	}
	for i := range c.MFA.OldKeyFiles {
		paths = append(paths, &c.MFA.OldKeyFiles[i])
	}
	if c.Store != nil {
		paths = append(paths, &c.Store.Path, &c.Store.DSNFile)
	}
	for _, p := range paths {
		*p = c.rel(*p)
	}
	// The audit section knows its own sinks' files.
	c.Audit.ResolvePaths(c.rel)
}

// rel resolves a path from the config relative to the config file's folder. The result is
// absolute, so that resolving it again changes nothing, even when the configuration was named
// by a relative path.
func (c *Config) rel(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	p = filepath.Join(filepath.Dir(c.path), p)
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// validate checks every section and reports all problems at once.
func (c *Config) validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(c.Gate.Validate())
	add(c.OIDC.Validate())
	add(c.validateTLS())
	switch c.Session.Backend {
	case "embedded":
		if c.Session.Path == "" {
			add(errors.New("session.path: required for the embedded store: a file on a persistent volume, e.g. /var/lib/tollgate/sessions.db"))
		}
	case "redis":
		add(c.Session.Redis.Validate())
		if c.Session.Cache.MaxEntries < 0 || c.Session.Cache.TTL < 0 {
			add(errors.New("session.cache.max_entries, session.cache.ttl: must not be negative"))
		}
	default:
		add(fmt.Errorf("session.backend: %q is not a store; use embedded or redis", c.Session.Backend))
	}
	if c.Session.Cache.Enabled && c.Session.Backend != "redis" {
		add(errors.New("session.cache.enabled: the cache is for the redis backend (it is invalidated through Redis); remove it or set session.backend: redis"))
	}
	if c.Session.IdleTimeout < 0 || c.Session.AbsoluteTimeout < 0 {
		add(errors.New("session.idle_timeout, session.absolute_timeout: must be positive durations, e.g. 30m and 12h"))
	}
	if c.Session.IdleTimeout > c.Session.AbsoluteTimeout {
		add(fmt.Errorf("session.idle_timeout: %s is longer than session.absolute_timeout %s; make it shorter", c.Session.IdleTimeout, c.Session.AbsoluteTimeout))
	}
	if c.Store != nil {
		add(c.Store.Validate())
	}
	add(c.Audit.Validate())
	add(c.MFA.Validate())
	if c.MFA.Mode != mfa.ModeIdP && c.Store == nil {
		add(fmt.Errorf("mfa.mode: %q needs the durable directory for its secrets: add a store section, or use mfa.mode: idp", c.MFA.Mode))
	}
	if c.Policy.File == "" {
		add(errors.New("policy.file: required: the policy file, e.g. policy.yaml (see examples/policy.yaml)"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(fmt.Errorf("log.level: %q is not a level; use debug, info, warn or error", c.Log.Level))
	}
	return c.located(errors.Join(errs...))
}

// located prefixes each problem with "file:line: " using the key it names.
func (c *Config) located(err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, line := range strings.Split(err.Error(), "\n") {
		key, _, _ := strings.Cut(line, ": ")
		// Validate messages may name several keys ("a, b: …"); locate the first.
		key, _, _ = strings.Cut(key, ",")
		if n := lineOf(&c.root, key); n > 0 {
			out = append(out, fmt.Errorf("%s:%d: %s", c.path, n, line))
		} else {
			out = append(out, fmt.Errorf("%s: %s", c.path, line))
		}
	}
	return errors.Join(out...)
}

var indexRE = regexp.MustCompile(`^(.*)\[(\d+)\]$`)

// lineOf finds the line of a dotted key such as "gate.upstream.url" or "directory.users[2].email";
// for a missing key it returns the line of its nearest present parent.
func lineOf(root *yaml.Node, key string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(key, ".") {
		idx := -1
		if m := indexRE.FindStringSubmatch(part); m != nil {
			part = m[1]
			idx, _ = strconv.Atoi(m[2])
		}
		next := mapValue(n, part)
		if next == nil {
			return line
		}
		line, n = next.Line, next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var yamlFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)
var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// yamlError rewrites the YAML decoder's messages into "file:line: what and how to fix it".
func yamlError(path string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("%s:%s: %s", path, m[1], m[2])
		}
		return fmt.Errorf("%s: %s", path, msg)
	}
	var out []error
	for _, e := range te.Errors {
		if m := yamlFieldRE.FindStringSubmatch(e); m != nil {
			out = append(out, fmt.Errorf("%s:%s: unknown key %q: check its spelling and section against the configuration reference in README.md", path, m[1], m[2]))
			continue
		}
		if m := yamlLineRE.FindStringSubmatch(e); m != nil {
			out = append(out, fmt.Errorf("%s:%s: %s", path, m[1], m[2]))
			continue
		}
		out = append(out, fmt.Errorf("%s: %s", path, e))
	}
	return errors.Join(out...)
}
