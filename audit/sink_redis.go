package audit

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig has the keys of session.redis: the audit stream may live on the same servers.
type RedisConfig struct {
	Mode         string        `yaml:"mode"` // single (default) | sentinel | cluster
	Addrs        []string      `yaml:"addrs"`
	MasterName   string        `yaml:"master_name"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	DB           int           `yaml:"db"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`  // default 1s
	ReadTimeout  time.Duration `yaml:"read_timeout"`  // default 3s
	WriteTimeout time.Duration `yaml:"write_timeout"` // default 3s
	TLS          TLSConfig     `yaml:"tls"`
}

func (r RedisConfig) validate(p string) []error {
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf(p+k+": "+format, args...))
	}
	mode := r.mode()
	switch mode {
	case "single", "sentinel", "cluster":
	default:
		bad("mode", "%q is not one of single, sentinel, cluster", r.Mode)
	}
	if len(r.Addrs) == 0 {
		bad("addrs", "at least one address is required (e.g. 127.0.0.1:6379)")
	}
	if mode == "single" && len(r.Addrs) > 1 {
		bad("addrs", "single mode takes one address, got %d (use mode sentinel or cluster for several)", len(r.Addrs))
	}
	for i, a := range r.Addrs {
		if err := checkHostPort(a); err != nil {
			bad(fmt.Sprintf("addrs[%d]", i), "%q: %v (want host:port)", a, err)
		}
	}
	if (mode == "sentinel") != (r.MasterName != "") {
		bad("master_name", "is required in sentinel mode and used only there")
	}
	if r.Password != "" && r.PasswordFile != "" {
		bad("password_file", "set either password or password_file, not both")
	}
	if r.DB < 0 || (mode == "cluster" && r.DB != 0) {
		bad("db", "must be 0 or more (and 0 in cluster mode), got %d", r.DB)
	}
	if r.DialTimeout < 0 || r.ReadTimeout < 0 || r.WriteTimeout < 0 {
		bad("dial_timeout", "dial_timeout, read_timeout and write_timeout must not be negative")
	}
	return append(errs, r.TLS.validate(p+"tls.", true)...)
}

func (r RedisConfig) mode() string {
	if r.Mode == "" {
		return "single"
	}
	return r.Mode
}

// redisSink appends each record to a Redis stream: XADD <stream> MAXLEN ~ <max_len> * id
// <event.id> json <record>. A batch is one pipeline; a failed batch is sent again whole, so a
// consumer may see a record twice and deduplicates by id.
type redisSink struct {
	client redis.UniversalClient
	stream string
	maxLen int64
}

func newRedisSink(cfg SinkConfig) (*redisSink, error) {
	client, err := cfg.Redis.client()
	if err != nil {
		return nil, err
	}
	return &redisSink{client: client, stream: cfg.Stream, maxLen: cfg.MaxLen}, nil
}

func (s *redisSink) Deliver(ctx context.Context, batch []Entry) error {
	pipe := s.client.Pipeline()
	for _, e := range batch {
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: s.stream, MaxLen: s.maxLen, Approx: s.maxLen > 0, ID: "*",
			Values: []any{"id", e.ID, "json", e.Line},
		})
	}
	_, err := pipe.Exec(ctx)
	return err
}

func (s *redisSink) Close() error { return s.client.Close() }

// client builds the go-redis client for the configured mode. Timeouts are longer than the
// session store's: nobody waits on a delivery, and a slow Redis only delays the stream.
func (r RedisConfig) client() (redis.UniversalClient, error) {
	password := r.Password
	if r.PasswordFile != "" {
		b, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis.password_file: %w", err)
		}
		if password = strings.TrimRight(string(b), "\r\n"); password == "" {
			return nil, fmt.Errorf("redis.password_file: %s is empty", r.PasswordFile)
		}
	}
	var tlsConfig *tls.Config
	if r.TLS.Enabled {
		t, err := clientTLS(r.TLS, "")
		if err != nil {
			return nil, fmt.Errorf("redis.%w", err)
		}
		tlsConfig = t
	}
	dial := cmp.Or(r.DialTimeout, time.Second)
	read := cmp.Or(r.ReadTimeout, 3*time.Second)
	write := cmp.Or(r.WriteTimeout, 3*time.Second)
	switch r.mode() {
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: r.MasterName, SentinelAddrs: slices.Clone(r.Addrs), Username: r.Username, Password: password,
			DB: r.DB, DialTimeout: dial, ReadTimeout: read, WriteTimeout: write, MaxRetries: -1, TLSConfig: tlsConfig,
		}), nil
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: slices.Clone(r.Addrs), Username: r.Username, Password: password,
			DialTimeout: dial, ReadTimeout: read, WriteTimeout: write, MaxRetries: -1, TLSConfig: tlsConfig,
		}), nil
	default:
		return redis.NewClient(&redis.Options{
			Addr: r.Addrs[0], Username: r.Username, Password: password, DB: r.DB,
			DialTimeout: dial, ReadTimeout: read, WriteTimeout: write, MaxRetries: -1, TLSConfig: tlsConfig,
		}), nil
	}
}
