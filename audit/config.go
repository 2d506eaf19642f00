package audit

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the `audit` section of the configuration file. Decode it strictly (unknown keys
// are errors), call Defaults, then Validate; Open does both again.
type Config struct {
	// Output is the older one-line form: "stdout" or a file path. It stands for one sink of
	// type stdout or file and cannot be combined with Sinks.
	Output     string           `yaml:"output"`
	Spool      SpoolConfig      `yaml:"spool"`
	Checkpoint CheckpointConfig `yaml:"checkpoint"`
	Sinks      []SinkConfig     `yaml:"sinks"`
}

// SpoolConfig is `audit.spool`: the local, durable queue every record enters first.
type SpoolConfig struct {
	// Dir holds the segments, delivery cursors, chain state, dead letters and (unless
	// checkpoint.key_file is set) the signing key. Default "audit-spool", next to the
	// configuration file. One gate instance per directory: it is locked while open.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the segments on disk; default 256MiB. When it is reached, OnFull applies.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// SegmentBytes is the size at which a new segment file is started; default 16MiB, at most
	// a quarter of MaxBytes. Space returns a segment at a time, once every sink has passed it.
	SegmentBytes ByteSize `yaml:"segment_bytes"`
	// Fsync is "always" (default: Write returns once the record is on disk; concurrent writers
	// share one fsync) or "interval" (Write returns at once; fsync every FsyncInterval, so a
	// machine crash loses at most that much; a process crash loses nothing).
	Fsync         string        `yaml:"fsync"`
	FsyncInterval time.Duration `yaml:"fsync_interval"` // default 10ms
	// OnFull is "block" (default: Write returns ErrSpoolFull and the gate answers 503 until
	// space returns) or "drop-allowed" (records of allowed accesses are dropped, counted and
	// logged once the spool is within 1/16 of full; every other record is still refused with
	// ErrSpoolFull when there is no room).
	OnFull string `yaml:"on_full"`
}

// CheckpointConfig is `audit.checkpoint`: how often the chain is signed.
type CheckpointConfig struct {
	EveryRecords int           `yaml:"every_records"` // default 1000
	Every        time.Duration `yaml:"every"`         // default 1m; only when records were written
	// KeyFile is an Ed25519 private key (PEM, PKCS #8). When empty, the key is
	// <spool.dir>/checkpoint.key, created on first start, with checkpoint.pub next to it.
	KeyFile string `yaml:"key_file"`
}

// Spool policies and defaults.
const (
	FsyncAlways       = "always"
	FsyncInterval     = "interval"
	OnFullBlock       = "block"
	OnFullDropAllowed = "drop-allowed"

	defaultSpoolDir      = "audit-spool"
	defaultMaxBytes      = 256 << 20
	defaultSegmentBytes  = 16 << 20
	minSegmentBytes      = 4 << 10
	defaultFsyncInterval = 10 * time.Millisecond
	defaultEveryRecords  = 1000
	defaultEvery         = time.Minute
	// maxRecordBytes bounds one record so that a runaway field cannot fill the spool at once.
	maxRecordBytes = 1 << 20
)

const prefix = "audit."

// Defaults fills every unset key. The older Output form becomes its one sink here.
func (c *Config) Defaults() {
	s := &c.Spool
	if s.Dir == "" {
		s.Dir = defaultSpoolDir
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = defaultMaxBytes
	}
	if s.SegmentBytes == 0 {
		s.SegmentBytes = min(defaultSegmentBytes, s.MaxBytes/4)
	}
	if s.Fsync == "" {
		s.Fsync = FsyncAlways
	}
	if s.FsyncInterval == 0 {
		s.FsyncInterval = defaultFsyncInterval
	}
	if s.OnFull == "" {
		s.OnFull = OnFullBlock
	}
	if c.Checkpoint.EveryRecords == 0 {
		c.Checkpoint.EveryRecords = defaultEveryRecords
	}
	if c.Checkpoint.Every == 0 {
		c.Checkpoint.Every = defaultEvery
	}
	if len(c.Sinks) == 0 {
		switch c.Output {
		case "", "stdout":
			c.Sinks = []SinkConfig{{Type: SinkStdout}}
		default:
			c.Sinks = []SinkConfig{{Type: SinkFile, Path: c.Output}}
		}
		c.Output = ""
	}
	count := map[string]int{}
	for _, sk := range c.Sinks {
		count[sk.Type]++
	}
	for i := range c.Sinks {
		sk := &c.Sinks[i]
		if sk.Name == "" {
			sk.Name = sk.Type
			if count[sk.Type] > 1 {
				sk.Name = fmt.Sprintf("%s-%d", sk.Type, i)
			}
		}
		sk.defaults()
	}
}

// Validate reports every problem at once, each naming its key (audit.sinks[1].url: …). It
// checks a copy with defaults applied and reads no files: Open does that.
func (c Config) Validate() error {
	legacy := c.Output != "" && len(c.Sinks) > 0
	c.Sinks = append([]SinkConfig(nil), c.Sinks...)
	c.Defaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf(prefix+key+": "+format, args...))
	}
	if legacy {
		bad("output", "set either output (shorthand for one sink) or sinks, not both; move it into sinks as {type: file, path: …} or {type: stdout}")
	}
	s := c.Spool
	if s.MaxBytes < 4*minSegmentBytes {
		bad("spool.max_bytes", "%s is too small; use at least %s (default 256MiB)", s.MaxBytes, ByteSize(4*minSegmentBytes))
	}
	if s.SegmentBytes < minSegmentBytes || s.SegmentBytes > s.MaxBytes/4 {
		bad("spool.segment_bytes", "%s must be from %s to a quarter of spool.max_bytes (%s)", s.SegmentBytes, ByteSize(minSegmentBytes), s.MaxBytes/4)
	}
	switch s.Fsync {
	case FsyncAlways:
	case FsyncInterval:
		if s.FsyncInterval < time.Millisecond || s.FsyncInterval > 10*time.Second {
			bad("spool.fsync_interval", "%s must be from 1ms to 10s (e.g. 10ms)", s.FsyncInterval)
		}
	default:
		bad("spool.fsync", "%q is not a policy; use always (every acknowledged record is on disk) or interval", s.Fsync)
	}
	switch s.OnFull {
	case OnFullBlock, OnFullDropAllowed:
	default:
		bad("spool.on_full", "%q is not a policy; use block (refuse with 503) or drop-allowed", s.OnFull)
	}
	if c.Checkpoint.EveryRecords < 1 {
		bad("checkpoint.every_records", "must be at least 1, got %d", c.Checkpoint.EveryRecords)
	}
	if c.Checkpoint.Every < 10*time.Millisecond {
		bad("checkpoint.every", "%s is too short; use e.g. 1m", c.Checkpoint.Every)
	}
	names := map[string]int{}
	for i, sk := range c.Sinks {
		key := fmt.Sprintf("sinks[%d]", i)
		if j, dup := names[sk.Name]; dup {
			bad(key+".name", "%q is also the name of sinks[%d]; each sink needs its own name (it keys the delivery cursor)", sk.Name, j)
		}
		names[sk.Name] = i
		errs = append(errs, sk.validate(key)...)
	}
	return errors.Join(errs...)
}

// ResolvePaths rewrites every file path in the section with rel, e.g. to make relative paths
// relative to the configuration file's folder.
func (c *Config) ResolvePaths(rel func(string) string) {
	do := func(p *string) {
		if *p != "" {
			*p = rel(*p)
		}
	}
	if c.Output != "stdout" {
		do(&c.Output)
	}
	do(&c.Spool.Dir)
	do(&c.Checkpoint.KeyFile)
	for i := range c.Sinks {
		sk := &c.Sinks[i]
		for _, p := range []*string{&sk.Path, &sk.AuthorizationFile, &sk.TLS.CAFile, &sk.TLS.CertFile, &sk.TLS.KeyFile,
			&sk.Redis.PasswordFile, &sk.Redis.TLS.CAFile, &sk.Redis.TLS.CertFile, &sk.Redis.TLS.KeyFile} {
			do(p)
		}
	}
}

// keyFile is where the signing key lives.
func (c Config) keyFile() string {
	if c.Checkpoint.KeyFile != "" {
		return c.Checkpoint.KeyFile
	}
	return filepath.Join(c.Spool.Dir, "checkpoint.key")
}

// ByteSize is a size in bytes that reads "256MiB", "16MB", "4096" and the like.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// UnmarshalText reads an integer with an optional unit.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mul := int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mul = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mul {
		return fmt.Errorf("%q is not a size; write e.g. 256MiB, 16MB or 65536", string(text))
	}
	*b = ByteSize(n * mul)
	return nil
}

func (b ByteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
