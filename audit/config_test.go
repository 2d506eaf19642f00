package audit

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// exampleYAML is the configuration shown in README.md.
const exampleYAML = `
spool:
  dir: /var/lib/tollgate/audit-spool
  max_bytes: 256MiB
  segment_bytes: 16MiB
  fsync: always
  on_full: block
checkpoint:
  every_records: 1000
  every: 1m
  key_file: /etc/tollgate/audit-signing.pem
sinks:
  - type: file
    path: /var/log/tollgate/audit.jsonl
  - type: syslog
    address: logs.example.com:6514
    tls: {enabled: true, ca_file: /etc/tollgate/syslog-ca.pem}
  - type: http
    name: loki
    url: https://loki.example.com/loki/api/v1/push
    format: loki
    labels: {job: tollgate, env: prod}
    authorization_file: /etc/tollgate/loki-auth
    gzip: true
  - type: http
    name: splunk
    url: https://splunk.example.com:8088/services/collector/event
    format: splunk_hec
    authorization_env: TOLLGATE_SPLUNK_HEC
    index: security
  - type: http
    name: elasticsearch
    url: https://es.example.com:9200/_bulk
    format: elasticsearch_bulk
    index: logs-tollgate.audit-default
    authorization_file: /etc/tollgate/es-apikey
    batch: {max_records: 1000, max_bytes: 4MiB, linger: 500ms}
    retry: {initial: 1s, max: 1m}
  - type: redis
    redis: {addrs: ["redis.example.com:6379"], password_file: /etc/tollgate/redis-password}
    stream: tollgate:audit
    max_len: 1000000
`

func decodeStrict(t *testing.T, doc string) (Config, error) {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	return c, err
}

func TestExampleConfigIsValid(t *testing.T) {
	c, err := decodeStrict(t, exampleYAML)
	if err != nil {
		t.Fatal(err)
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.Spool.MaxBytes != 256<<20 || c.Checkpoint.Every != time.Minute || c.Sinks[4].Batch.MaxBytes != 4<<20 || c.Sinks[4].Batch.Linger != 500*time.Millisecond {
		t.Errorf("decoded %+v", c)
	}
	var names []string
	for _, s := range c.Sinks {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"file", "syslog", "loki", "splunk", "elasticsearch", "redis"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if _, err := decodeStrict(t, "spool:\n  dri: x\n"); err == nil {
		t.Error("an unknown key was accepted")
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"spool", "spool: {max_bytes: 1KiB, fsync: sometimes, on_full: panic}\ncheckpoint: {every_records: -1}",
			[]string{"audit.spool.max_bytes:", "audit.spool.fsync: \"sometimes\"", "audit.spool.on_full: \"panic\"", "audit.checkpoint.every_records:"}},
		{"segment larger than a quarter", "spool: {max_bytes: 1MiB, segment_bytes: 512KiB}", []string{"audit.spool.segment_bytes:"}},
		{"sinks", `sinks:
  - type: file
  - type: http
    url: ftp://x
    format: csv
    headers: {Authorization: "Bearer x"}
  - type: syslog
    address: nohost
    facility: mail
    url: https://x
  - type: kafka
  - type: redis
    redis: {mode: sentinel, addrs: ["r:6379"]}`,
			[]string{"audit.sinks[0].path: required", "audit.sinks[1].url: \"ftp://x\"", "audit.sinks[1].format: \"csv\"",
				"audit.sinks[1].headers:", "audit.sinks[2].address:", "audit.sinks[2].facility: \"mail\"",
				"audit.sinks[2].url: is not used by a syslog sink", "audit.sinks[3].type: \"kafka\"", "audit.sinks[4].redis.master_name:"}},
		{"duplicate names", "sinks: [{type: stdout, name: a}, {type: stdout, name: a}]", []string{"audit.sinks[1].name: \"a\" is also the name of sinks[0]"}},
		{"secret over plain http", "sinks: [{type: http, url: 'http://logs.example.com/in', authorization_env: T}]", []string{"audit.sinks[0].url: \"http://logs.example.com/in\" is plain http"}},
		{"output and sinks", "output: stdout\nsinks: [{type: stdout}]", []string{"audit.output: set either output"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := decodeStrict(t, tc.yaml)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "audit.") {
					t.Errorf("problem %q does not start with its key", line)
				}
			}
		})
	}
	// Positive controls for the plain-http rule: loopback, or no secret.
	for _, doc := range []string{
		"sinks: [{type: http, url: 'http://127.0.0.1:3100/loki/api/v1/push', authorization_env: T}]",
		"sinks: [{type: http, url: 'http://loki:3100/loki/api/v1/push'}]",
	} {
		c, _ := decodeStrict(t, doc)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

func TestOlderOutputKeyIsOneSink(t *testing.T) {
	for _, tc := range []struct {
		output string
		want   SinkConfig
	}{
		{"", SinkConfig{Type: SinkStdout, Name: "stdout"}},
		{"stdout", SinkConfig{Type: SinkStdout, Name: "stdout"}},
		{"/var/log/tollgate/audit.jsonl", SinkConfig{Type: SinkFile, Name: "file", Path: "/var/log/tollgate/audit.jsonl"}},
	} {
		c := Config{Output: tc.output}
		c.Defaults()
		if len(c.Sinks) != 1 || c.Sinks[0].Type != tc.want.Type || c.Sinks[0].Name != tc.want.Name || c.Sinks[0].Path != tc.want.Path || c.Output != "" {
			t.Errorf("output %q became %+v", tc.output, c.Sinks)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("output %q: %v", tc.output, err)
		}
	}
}

func TestResolvePaths(t *testing.T) {
	c, err := decodeStrict(t, "spool: {dir: spool}\nsinks: [{type: file, path: audit.jsonl}, {type: http, url: 'https://x', authorization_file: tok, tls: {ca_file: /abs/ca.pem}}]")
	if err != nil {
		t.Fatal(err)
	}
	c.ResolvePaths(func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join("/etc/tollgate", p)
	})
	got := []string{c.Spool.Dir, c.Sinks[0].Path, c.Sinks[1].AuthorizationFile, c.Sinks[1].TLS.CAFile, c.Checkpoint.KeyFile}
	want := []string{"/etc/tollgate/spool", "/etc/tollgate/audit.jsonl", "/etc/tollgate/tok", "/abs/ca.pem", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"256MiB", 256 << 20, true}, {"16 MB", 16e6, true}, {"4096", 4096, true}, {"1GiB", 1 << 30, true},
		{"10KiB", 10 << 10, true}, {"12B", 12, true}, {"-1", 0, false}, {"lots", 0, false}, {"1.5MiB", 0, false},
	} {
		var b ByteSize
		err := b.UnmarshalText([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && b != tc.want) {
			t.Errorf("%q = %d, %v", tc.in, b, err)
		}
	}
	if s := ByteSize(256 << 20).String(); s != "256MiB" {
		t.Errorf("String = %q", s)
	}
}
