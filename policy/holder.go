package policy

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Holder serves decisions from the current version of a policy file and swaps in a new version
// when the file changes. A file that does not load (or that Validate refuses) never replaces
// the version being served: requests keep being decided by the last good one.
type Holder struct {
	path     string
	opts     Options
	validate func(*Engine) error
	onReload func(old, new *Engine, err error)

	cur atomic.Pointer[Engine]

	mu      sync.Mutex // serialises reloads
	seen    fileStamp  // the file as last read, whether it loaded or not
	refused string     // the version of the bytes last refused, "" after a load

	reloads *prometheus.CounterVec
	version *prometheus.GaugeVec
}

// HolderConfig configures a Holder.
type HolderConfig struct {
	Path    string // the policy file
	Options Options
	// Validate, when set, must accept a loaded engine before it is served: the caller's own
	// checks, such as every role the directory hands out still being defined.
	Validate func(*Engine) error
	// OnReload, when set, is told about every reload that found the file changed: new is the
	// engine now served, or nil with err saying why the file was refused and old kept. It is
	// where the caller logs and audits. It must not call Reload.
	OnReload func(old, new *Engine, err error)
	// Registerer receives tollgate_policy_reloads_total{result} (success, failure, unchanged)
	// and tollgate_policy_version_info{version}, 1 for the version being served.
	Registerer prometheus.Registerer
}

// Result label values of tollgate_policy_reloads_total.
const (
	ReloadSuccess   = "success"
	ReloadFailure   = "failure"
	ReloadUnchanged = "unchanged"
)

var _ Decider = (*Holder)(nil)

// NewHolder loads the file; it fails when that first load does, since there is then no policy
// to fall back on.
func NewHolder(cfg HolderConfig) (*Holder, error) {
	h := &Holder{
		path: cfg.Path, opts: cfg.Options, validate: cfg.Validate, onReload: cfg.OnReload,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_policy_reloads_total",
			Help: "Policy reload attempts by result: success, failure (the previous policy was kept) or unchanged.",
		}, []string{"result"}),
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tollgate_policy_version_info",
			Help: "The version of the policy being served (always 1).",
		}, []string{"version"}),
	}
	h.seen, _ = stamp(cfg.Path)
	e, err := LoadWith(cfg.Path, cfg.Options)
	if err == nil && h.validate != nil {
		err = h.validate(e)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{h.reloads, h.version} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("policy: register metrics: %w", err)
			}
		}
	}
	for _, r := range []string{ReloadSuccess, ReloadFailure, ReloadUnchanged} {
		h.reloads.WithLabelValues(r)
	}
	h.cur.Store(e)
	h.version.WithLabelValues(e.Version()).Set(1)
	return h, nil
}

// Decide decides with the engine being served.
func (h *Holder) Decide(ctx context.Context, r Request) (Decision, error) {
	return h.cur.Load().Decide(ctx, r)
}

// Engine returns the engine being served.
func (h *Holder) Engine() *Engine { return h.cur.Load() }

// Reload reads the file again and serves it if it changed and loads. It returns nil when the
// new version is served or the file is unchanged, and the reason otherwise, the previous
// version staying in service. Call it on SIGHUP.
func (h *Holder) Reload() error {
	old, e, err := h.reload()
	if h.onReload != nil && (e != nil || err != nil) {
		h.onReload(old, e, err)
	}
	return err
}

func (h *Holder) reload() (old, e *Engine, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old = h.cur.Load()
	// Stamped before reading, so that a write during the read shows as a change next time.
	h.seen, _ = stamp(h.path)
	data, err := os.ReadFile(h.path)
	if err == nil && fileVersion(data) == old.Version() {
		h.refused = ""
		h.reloads.WithLabelValues(ReloadUnchanged).Inc()
		return old, nil, nil
	}
	if err == nil {
		e, err = ParseWith(h.path, data, h.opts)
	}
	if err == nil && h.validate != nil {
		err = h.validate(e)
	}
	if err != nil {
		h.refused = ""
		if data != nil {
			h.refused = fileVersion(data)
		}
		h.reloads.WithLabelValues(ReloadFailure).Inc()
		return old, nil, fmt.Errorf("policy: reload refused, version %s kept: %w", old.Version(), err)
	}
	h.refused = ""
	h.cur.Store(e)
	h.reloads.WithLabelValues(ReloadSuccess).Inc()
	h.version.DeleteLabelValues(old.Version())
	h.version.WithLabelValues(e.Version()).Set(1)
	return old, e, nil
}

// Watch checks the file every interval and reloads it when its size or modification time
// changed, until ctx ends. A file that stays broken is reported once, not on every tick, and
// not again when only its time changes (an editor or a deploy tool that writes, then touches):
// bytes once refused are not retried by the watch. Reload, as SIGHUP calls it, always retries.
func (h *Holder) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, _ := stamp(h.path)
		h.mu.Lock()
		changed, refused := st != h.seen, h.refused
		h.mu.Unlock()
		if !changed {
			continue
		}
		if data, err := os.ReadFile(h.path); err == nil && refused != "" && fileVersion(data) == refused {
			h.mu.Lock()
			h.seen = st
			h.mu.Unlock()
			continue
		}
		_ = h.Reload() // reported through OnReload and the metrics
	}
}

// fileStamp is what Watch compares between ticks. The contents decide in the end: a stamp
// change with the same bytes counts as unchanged.
type fileStamp struct {
	mod  time.Time
	size int64
	err  string
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{err: err.Error()}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}
