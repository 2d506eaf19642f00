package audit

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Sink types.
const (
	SinkFile   = "file"
	SinkStdout = "stdout"
	SinkSyslog = "syslog"
	SinkHTTP   = "http"
	SinkRedis  = "redis"
)

// HTTP sink body formats.
const (
	FormatNDJSON            = "ndjson"
	FormatLoki              = "loki"
	FormatSplunkHEC         = "splunk_hec"
	FormatElasticsearchBulk = "elasticsearch_bulk"
)

// SinkConfig is one entry of `audit.sinks`. Type selects which of the other keys apply;
// a key that does not apply to the type is an error.
type SinkConfig struct {
	Type string `yaml:"type"` // file | stdout | syslog | http | redis
	// Name labels the sink's metrics and keys its delivery cursor in the spool, so renaming a
	// sink delivers the whole spool to it again. Default: the type, or type-INDEX when several
	// sinks share a type (name them yourself then).
	Name string `yaml:"name"`

	// file: JSON lines appended to Path (0600), reopened by Pipeline.Reopen (SIGHUP) after
	// logrotate moved it away; each batch is fsynced before it counts as delivered.
	Path string `yaml:"path"`

	// syslog: RFC 5424 messages, octet-counted (RFC 6587), over TCP or TLS (tls.enabled).
	Address  string `yaml:"address"`  // host:port
	Facility string `yaml:"facility"` // default authpriv
	Hostname string `yaml:"hostname"` // default the machine's host name
	AppName  string `yaml:"app_name"` // default tollgate

	// http: batches POSTed to URL in Format (default ndjson), gzip-compressed when Gzip.
	URL    string `yaml:"url"`
	Format string `yaml:"format"`
	Gzip   bool   `yaml:"gzip"`
	// AuthorizationFile or AuthorizationEnv holds the whole Authorization header value, e.g.
	// "Bearer …", "Basic …", "Splunk <HEC token>", "ApiKey …". Never in the file itself.
	AuthorizationFile string            `yaml:"authorization_file"`
	AuthorizationEnv  string            `yaml:"authorization_env"`
	Headers           map[string]string `yaml:"headers"`     // extra, non-secret headers
	Index             string            `yaml:"index"`       // elasticsearch_bulk (default tollgate-audit), splunk_hec
	Labels            map[string]string `yaml:"labels"`      // loki stream labels; default {job: tollgate}
	SourceType        string            `yaml:"source_type"` // splunk_hec; default _json

	// syslog and http: TLS settings (http uses TLS when the URL is https).
	TLS TLSConfig `yaml:"tls"`

	// redis: XADD Stream MAXLEN ~ MaxLen * id <event.id> json <record>.
	Redis  RedisConfig `yaml:"redis"`
	Stream string      `yaml:"stream"`  // default tollgate:audit
	MaxLen int64       `yaml:"max_len"` // default 1000000

	// Every type.
	Timeout time.Duration `yaml:"timeout"` // one delivery attempt; default 10s
	Batch   BatchConfig   `yaml:"batch"`
	Retry   RetryConfig   `yaml:"retry"`
}

// BatchConfig bounds what one delivery attempt carries.
type BatchConfig struct {
	MaxRecords int      `yaml:"max_records"` // default 500
	MaxBytes   ByteSize `yaml:"max_bytes"`   // default 1MiB (before compression)
	// Linger is how long to wait for a batch to fill before sending it; default 100ms for
	// http (fewer requests), 0 for the others.
	Linger time.Duration `yaml:"linger"`
}

// RetryConfig is the backoff after a failed attempt: it doubles from Initial up to Max, with
// jitter, and a sink is retried until it takes the batch.
type RetryConfig struct {
	Initial time.Duration `yaml:"initial"` // default 250ms
	Max     time.Duration `yaml:"max"`     // default 30s
}

func (s *SinkConfig) defaults() {
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	if s.Batch.MaxRecords == 0 {
		s.Batch.MaxRecords = 500
	}
	if s.Batch.MaxBytes == 0 {
		s.Batch.MaxBytes = 1 << 20
	}
	if s.Retry.Initial == 0 {
		s.Retry.Initial = 250 * time.Millisecond
	}
	if s.Retry.Max == 0 {
		s.Retry.Max = 30 * time.Second
	}
	switch s.Type {
	case SinkSyslog:
		if s.Facility == "" {
			s.Facility = "authpriv"
		}
		if s.AppName == "" {
			s.AppName = "tollgate"
		}
	case SinkHTTP:
		if s.Format == "" {
			s.Format = FormatNDJSON
		}
		if s.Batch.Linger == 0 {
			s.Batch.Linger = 100 * time.Millisecond
		}
		if s.Format == FormatElasticsearchBulk && s.Index == "" {
			s.Index = "tollgate-audit"
		}
		if s.Format == FormatSplunkHEC && s.SourceType == "" {
			s.SourceType = "_json"
		}
		if s.Format == FormatLoki && len(s.Labels) == 0 {
			s.Labels = map[string]string{"job": "tollgate"}
		}
	case SinkRedis:
		if s.Stream == "" {
			s.Stream = "tollgate:audit"
		}
		if s.MaxLen == 0 {
			s.MaxLen = 1_000_000
		}
	}
}

var (
	sinkNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	lokiLabelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	facilities  = map[string]int{"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10, "audit": 13,
		"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}
)

// typeKeys lists, per type, the type-specific keys it accepts.
var typeKeys = map[string][]string{
	SinkFile:   {"path"},
	SinkStdout: {},
	SinkSyslog: {"address", "facility", "hostname", "app_name", "tls"},
	SinkHTTP:   {"url", "format", "gzip", "authorization_file", "authorization_env", "headers", "index", "labels", "source_type", "tls"},
	SinkRedis:  {"redis", "stream", "max_len"},
}

// setKeys names the type-specific keys that hold a value.
func (s SinkConfig) setKeys() []string {
	var out []string
	for _, kv := range []struct {
		key string
		set bool
	}{
		{"path", s.Path != ""}, {"address", s.Address != ""}, {"facility", s.Facility != ""},
		{"hostname", s.Hostname != ""}, {"app_name", s.AppName != ""}, {"url", s.URL != ""},
		{"format", s.Format != ""}, {"gzip", s.Gzip}, {"authorization_file", s.AuthorizationFile != ""},
		{"authorization_env", s.AuthorizationEnv != ""}, {"headers", len(s.Headers) > 0}, {"index", s.Index != ""},
		{"labels", len(s.Labels) > 0}, {"source_type", s.SourceType != ""}, {"tls", s.TLS != (TLSConfig{})},
		{"redis", s.Redis.Mode != "" || len(s.Redis.Addrs) > 0}, {"stream", s.Stream != ""}, {"max_len", s.MaxLen != 0},
	} {
		if kv.set {
			out = append(out, kv.key)
		}
	}
	return out
}

// validate checks one defaulted sink; key is "sinks[i]".
func (s SinkConfig) validate(key string) []error {
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+key+"."+k+": "+format, args...))
	}
	allowed, ok := typeKeys[s.Type]
	if !ok {
		bad("type", "%q is not a sink type; use file, stdout, syslog, http or redis", s.Type)
		return errs
	}
	if !sinkNameRE.MatchString(s.Name) || s.Name == "spool" {
		bad("name", "%q: use 1 to 64 lower-case letters, digits, - and _ (and not \"spool\")", s.Name)
	}
	for _, k := range s.setKeys() {
		if !slices.Contains(allowed, k) {
			bad(k, "is not used by a %s sink; remove it", s.Type)
		}
	}
	if s.Timeout < 0 || s.Batch.Linger < 0 || s.Retry.Initial < 0 {
		bad("timeout", "timeout, batch.linger and retry.initial must not be negative")
	}
	if s.Batch.MaxRecords < 1 || s.Batch.MaxBytes < 1 {
		bad("batch", "max_records and max_bytes must be at least 1")
	}
	if s.Batch.Linger > 10*time.Second {
		bad("batch.linger", "%s is too long; use at most 10s", s.Batch.Linger)
	}
	if s.Retry.Max < s.Retry.Initial {
		bad("retry.max", "%s is shorter than retry.initial %s", s.Retry.Max, s.Retry.Initial)
	}
	switch s.Type {
	case SinkFile:
		if s.Path == "" {
			bad("path", "required: the file to append JSON lines to, e.g. /var/log/tollgate/audit.jsonl")
		}
	case SinkSyslog:
		if err := checkHostPort(s.Address); err != nil {
			bad("address", "%q: %v (want host:port of the syslog server, e.g. logs.example.com:6514)", s.Address, err)
		}
		if _, ok := facilities[s.Facility]; !ok {
			bad("facility", "%q is not a facility; use authpriv, auth, audit, user, daemon or local0…local7", s.Facility)
		}
		if !printASCII(s.AppName, 48) {
			bad("app_name", "%q: use 1 to 48 printable ASCII characters without spaces", s.AppName)
		}
		if s.Hostname != "" && !printASCII(s.Hostname, 255) {
			bad("hostname", "%q: use printable ASCII without spaces", s.Hostname)
		}
		errs = append(errs, s.TLS.validate(prefix+key+".tls.", true)...)
	case SinkHTTP:
		errs = append(errs, s.validateHTTP(key)...)
	case SinkRedis:
		errs = append(errs, s.Redis.validate(prefix+key+".redis.")...)
		if s.MaxLen < 0 {
			bad("max_len", "must not be negative")
		}
	}
	return errs
}

func (s SinkConfig) validateHTTP(key string) []error {
	var errs []error
	bad := func(k, format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+key+"."+k+": "+format, args...))
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		bad("url", "required: where batches are POSTed, e.g. https://loki.example.com/loki/api/v1/push")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad("url", "%q is not an absolute http(s) URL", s.URL)
	case u.User != nil:
		bad("url", "must not carry credentials; use authorization_file or authorization_env")
	case u.Scheme == "http" && (s.AuthorizationFile != "" || s.AuthorizationEnv != "") && !isLoopback(u.Hostname()):
		bad("url", "%q is plain http: the Authorization header would cross the network in clear; use https", s.URL)
	}
	switch s.Format {
	case FormatNDJSON, FormatLoki, FormatSplunkHEC, FormatElasticsearchBulk:
	default:
		bad("format", "%q is not a format; use ndjson, loki, splunk_hec or elasticsearch_bulk", s.Format)
	}
	if s.AuthorizationFile != "" && s.AuthorizationEnv != "" {
		bad("authorization_file", "set either authorization_file or authorization_env, not both")
	}
	for h := range s.Headers {
		switch http.CanonicalHeaderKey(h) {
		case "Authorization":
			bad("headers", "put the Authorization header in authorization_file or authorization_env, not in the configuration")
		case "Content-Type", "Content-Encoding", "Content-Length", "Host":
			bad("headers", "%s is set by the sink", h)
		}
	}
	if s.Index != "" && s.Format != FormatElasticsearchBulk && s.Format != FormatSplunkHEC {
		bad("index", "is only used by the elasticsearch_bulk and splunk_hec formats")
	}
	if len(s.Labels) > 0 && s.Format != FormatLoki {
		bad("labels", "are only used by the loki format")
	}
	for l := range s.Labels {
		if !lokiLabelRE.MatchString(l) {
			bad("labels", "%q is not a Loki label name", l)
		}
	}
	if s.SourceType != "" && s.Format != FormatSplunkHEC {
		bad("source_type", "is only used by the splunk_hec format")
	}
	if s.TLS.Enabled {
		bad("tls.enabled", "is not used by an http sink: an https URL turns TLS on")
	}
	return append(errs, s.TLS.validate(prefix+key+".tls.", false)...)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// printASCII reports whether s is 1..max characters of RFC 5424 PRINTUSASCII.
func printASCII(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}
