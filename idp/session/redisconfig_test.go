package session

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/internal/redistest"
)

func TestRedisConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  RedisConfig
		want []string // each must appear in the error; none means valid
	}{
		{name: "single", cfg: RedisConfig{Addrs: []string{"127.0.0.1:6379"}}},
		{name: "sentinel", cfg: RedisConfig{Mode: "sentinel", MasterName: "mymaster", Addrs: []string{"s1:26379", "s2:26379"}}},
		{name: "cluster", cfg: RedisConfig{Mode: "cluster", Addrs: []string{"c1:6379", "[::1]:6380"}}},
		{name: "tls", cfg: RedisConfig{Addrs: []string{"r:6380"}, TLS: RedisTLS{Enabled: true, CAFile: "/ca.pem", ServerName: "redis"}}},
		{name: "no addrs", cfg: RedisConfig{},
			want: []string{"session.redis.addrs: at least one address is required (e.g. 127.0.0.1:6379)"}},
		{name: "every problem at once", cfg: RedisConfig{
			Mode: "ring", Addrs: []string{"nohost", ":6379", "h:0", "h:port"}, DB: -1,
			Password: "p", PasswordFile: "/f", DialTimeout: -time.Second,
			ReadTimeout: -1, WriteTimeout: -1, MasterName: "m",
			TLS: RedisTLS{CAFile: "/ca.pem", ServerName: "x"},
		}, want: []string{
			`session.redis.mode: "ring"`, "session.redis.addrs[0]", "session.redis.addrs[1]",
			"session.redis.addrs[2]", "session.redis.addrs[3]", "session.redis.db: must not be negative",
			"session.redis.password_file: set either", "session.redis.dial_timeout",
			"session.redis.read_timeout", "session.redis.write_timeout", "session.redis.master_name: is only used",
			"session.redis.tls.ca_file", "session.redis.tls.server_name",
		}},
		{name: "single with several addrs", cfg: RedisConfig{Addrs: []string{"a:1", "b:2"}},
			want: []string{"session.redis.addrs: single mode takes one address"}},
		{name: "sentinel without master", cfg: RedisConfig{Mode: "sentinel", Addrs: []string{"s:26379"}},
			want: []string{"session.redis.master_name: is required"}},
		{name: "cluster with db", cfg: RedisConfig{Mode: "cluster", Addrs: []string{"c:6379"}, DB: 2},
			want: []string{"session.redis.db: Redis Cluster only has database 0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil, want errors")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestRedisConfigYAML(t *testing.T) {
	src := `
mode: sentinel
addrs: [s1:26379, s2:26379]
master_name: mymaster
username: gate
password_file: /run/secrets/redis
db: 3
dial_timeout: 2s
read_timeout: 250ms
write_timeout: 300ms
tls:
  enabled: true
  ca_file: /etc/redis/ca.pem
  server_name: redis.internal
`
	var got RedisConfig
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := RedisConfig{
		Mode: "sentinel", Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster",
		Username: "gate", PasswordFile: "/run/secrets/redis", DB: 3,
		DialTimeout: 2 * time.Second, ReadTimeout: 250 * time.Millisecond, WriteTimeout: 300 * time.Millisecond,
		TLS: RedisTLS{Enabled: true, CAFile: "/etc/redis/ca.pem", ServerName: "redis.internal"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	// There is no way to turn certificate checks off.
	dec = yaml.NewDecoder(strings.NewReader("addrs: [r:6379]\ntls:\n  enabled: true\n  insecure_skip_verify: true\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&RedisConfig{}); err == nil {
		t.Error("insecure_skip_verify was accepted")
	}
}

func TestRedisConfigClient(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "redis-password")
	if err := os.WriteFile(pwFile, []byte("s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t, "--requirepass", "s3cret-pw")

	ping := func(cfg RedisConfig) error {
		t.Helper()
		c, err := cfg.Client()
		if err != nil {
			t.Fatalf("Client: %v", err)
		}
		defer c.Close()
		return c.Ping(t.Context()).Err()
	}
	if err := ping(RedisConfig{Addrs: []string{srv.Addr()}, PasswordFile: pwFile}); err != nil {
		t.Errorf("with password_file: %v", err)
	}
	if err := ping(RedisConfig{Addrs: []string{srv.Addr()}, Password: "wrong"}); err == nil {
		t.Error("control: a wrong password was accepted")
	}

	c, err := RedisConfig{Addrs: []string{srv.Addr()}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opt := c.(*redis.Client).Options()
	if opt.DialTimeout != time.Second || opt.ReadTimeout != 500*time.Millisecond ||
		opt.WriteTimeout != 500*time.Millisecond || opt.MaxRetries != 1 {
		t.Errorf("defaults: dial %v read %v write %v retries %d", opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries)
	}

	cluster, err := RedisConfig{Mode: "cluster", Addrs: []string{"127.0.0.1:1"}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	if _, ok := cluster.(*redis.ClusterClient); !ok {
		t.Errorf("cluster mode built %T", cluster)
	}
	failover, err := RedisConfig{Mode: "sentinel", MasterName: "m", Addrs: []string{"127.0.0.1:1"}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer failover.Close()
	if _, ok := failover.(*redis.Client); !ok {
		t.Errorf("sentinel mode built %T", failover)
	}
}

func TestRedisConfigClientFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "ca.pem")
	for _, f := range []struct {
		path string
		data []byte
	}{{empty, []byte("\n")}, {notPEM, bytes.Repeat([]byte("x"), 10)}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addrs := []string{"127.0.0.1:6379"}
	for _, c := range []struct {
		name string
		cfg  RedisConfig
		want string
	}{
		{"invalid config", RedisConfig{}, "session.redis.addrs"},
		{"missing password file", RedisConfig{Addrs: addrs, PasswordFile: filepath.Join(dir, "nope")}, "session.redis.password_file"},
		{"empty password file", RedisConfig{Addrs: addrs, PasswordFile: empty}, "is empty"},
		{"CA file without certificates", RedisConfig{Addrs: addrs, TLS: RedisTLS{Enabled: true, CAFile: notPEM}}, "no PEM certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			client, err := c.cfg.Client()
			if err == nil {
				_ = client.Close()
				t.Fatal("Client succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v lacks %q", err, c.want)
			}
		})
	}
}
