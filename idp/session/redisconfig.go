package session

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts used when RedisConfig leaves them unset. They are short on purpose: a request
// waits on Redis for its session, and a slow Redis must turn into a quick 503, not a pile-up.
const (
	DefaultRedisDialTimeout  = time.Second
	DefaultRedisReadTimeout  = 500 * time.Millisecond
	DefaultRedisWriteTimeout = 500 * time.Millisecond
)

// RedisConfig is the `session.redis` section of the configuration file.
type RedisConfig struct {
	// Mode is "single" (the default), "sentinel" or "cluster".
	Mode string `yaml:"mode"`
	// Addrs are host:port pairs: the server (single), the sentinels, or cluster seed nodes.
	Addrs []string `yaml:"addrs"`
	// MasterName names the monitored master (sentinel only).
	MasterName string `yaml:"master_name"`
	Username   string `yaml:"username"`
	// Password, or PasswordFile to keep it out of the configuration file; not both.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// DB is the database number; Redis Cluster only has 0.
	DB           int           `yaml:"db"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	TLS          RedisTLS      `yaml:"tls"`
}

// RedisTLS turns on TLS to Redis. Certificate verification cannot be switched off; point
// CAFile at the CA that signed the server's certificate instead.
type RedisTLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName is checked against the certificate instead of the host in Addrs.
	ServerName string `yaml:"server_name"`
}

const cfgPrefix = "session.redis."

// Validate reports every problem at once, each naming its key. It reads no files: Client
// does that.
func (c RedisConfig) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(cfgPrefix+key+": "+format, args...))
	}
	mode := c.mode()
	switch mode {
	case "single", "sentinel", "cluster":
	default:
		bad("mode", "%q is not one of single, sentinel, cluster", c.Mode)
	}
	if len(c.Addrs) == 0 {
		bad("addrs", "at least one address is required (e.g. 127.0.0.1:6379)")
	}
	if mode == "single" && len(c.Addrs) > 1 {
		bad("addrs", "single mode takes one address, got %d (use mode sentinel or cluster for several)", len(c.Addrs))
	}
	for i, a := range c.Addrs {
		if err := checkHostPort(a); err != nil {
			bad(fmt.Sprintf("addrs[%d]", i), "%q: %v (want host:port, e.g. 127.0.0.1:6379)", a, err)
		}
	}
	switch {
	case mode == "sentinel" && c.MasterName == "":
		bad("master_name", "is required in sentinel mode (the name the sentinels monitor, e.g. mymaster)")
	case mode != "sentinel" && c.MasterName != "":
		bad("master_name", "is only used in sentinel mode")
	}
	if c.Password != "" && c.PasswordFile != "" {
		bad("password_file", "set either password or password_file, not both")
	}
	if c.DB < 0 {
		bad("db", "must not be negative, got %d", c.DB)
	}
	if mode == "cluster" && c.DB != 0 {
		bad("db", "Redis Cluster only has database 0, got %d", c.DB)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}} {
		if d.v < 0 {
			bad(d.key, "must not be negative, got %s", d.v)
		}
	}
	if !c.TLS.Enabled && c.TLS.CAFile != "" {
		bad("tls.ca_file", "is set but tls.enabled is false")
	}
	if !c.TLS.Enabled && c.TLS.ServerName != "" {
		bad("tls.server_name", "is set but tls.enabled is false")
	}
	return errors.Join(errs...)
}

func (c RedisConfig) mode() string {
	if c.Mode == "" {
		return "single"
	}
	return c.Mode
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// Client builds the client for the configured mode. It validates first and reads the
// password and CA files, so a mistake fails at start-up. Commands are retried once at most:
// the gate would rather answer 503 than keep a request waiting.
func (c RedisConfig) Client() (redis.UniversalClient, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	password, err := c.password()
	if err != nil {
		return nil, err
	}
	tlsConfig, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	dial := cmp.Or(c.DialTimeout, DefaultRedisDialTimeout)
	read := cmp.Or(c.ReadTimeout, DefaultRedisReadTimeout)
	write := cmp.Or(c.WriteTimeout, DefaultRedisWriteTimeout)
	const retries, dialAttempts = 1, 1
	switch c.mode() {
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: c.MasterName, SentinelAddrs: slices.Clone(c.Addrs),
			Username: c.Username, Password: password, DB: c.DB,
			DialTimeout: dial, ReadTimeout: read, WriteTimeout: write,
			MaxRetries: retries, DialerRetries: dialAttempts, TLSConfig: tlsConfig,
		}), nil
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:    slices.Clone(c.Addrs),
			Username: c.Username, Password: password,
			DialTimeout: dial, ReadTimeout: read, WriteTimeout: write,
			MaxRetries: retries, DialerRetries: dialAttempts, TLSConfig: tlsConfig,
			// The slot map is reloaded on a MOVED reply or once it is this old. A dead primary
			// answers nothing, so its slots would stay pointed at it for the default minute
			// after a replica has taken over; a reload is one CLUSTER SLOTS, run in the
			// background, at most this often.
			ClusterStateReloadInterval: time.Second,
		}), nil
	default:
		return redis.NewClient(&redis.Options{
			Addr:     c.Addrs[0],
			Username: c.Username, Password: password, DB: c.DB,
			DialTimeout: dial, ReadTimeout: read, WriteTimeout: write,
			MaxRetries: retries, DialerRetries: dialAttempts, TLSConfig: tlsConfig,
		}), nil
	}
}

func (c RedisConfig) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf(cfgPrefix+"password_file: %w", err)
	}
	// Editors and `echo` add a final newline that is not part of the password.
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf(cfgPrefix+"password_file: %s is empty", c.PasswordFile)
	}
	return p, nil
}

func (c RedisConfig) tlsConfig() (*tls.Config, error) {
	if !c.TLS.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf(cfgPrefix+"tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf(cfgPrefix+"tls.ca_file: %s holds no PEM certificate", c.TLS.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
