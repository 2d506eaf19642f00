package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors of Write. ErrSpoolFull means the gate must refuse the request (503): the trail
// cannot take its record.
var (
	ErrSpoolFull      = errors.New("audit: spool full")
	ErrClosed         = errors.New("audit: pipeline closed")
	ErrRecordTooLarge = errors.New("audit: record too large")
)

// Deps are the pipeline's collaborators; every one is optional.
type Deps struct {
	Registerer prometheus.Registerer // default: a private registry (metrics not exported)
	Log        *slog.Logger          // default: discard
	Now        func() time.Time      // default: time.Now
	// SigningKey signs checkpoints. Default: checkpoint.key_file, or a key generated on first
	// start and kept in the spool directory.
	SigningKey ed25519.PrivateKey
	Stdout     io.Writer           // for stdout sinks; default os.Stdout
	Getenv     func(string) string // for authorization_env; default os.Getenv
}

// Pipeline is the durable, tamper-evident audit trail: Write puts a record in the local
// spool, chained to the one before; one goroutine per sink delivers the spool in order.
type Pipeline struct {
	cfg        Config
	log        *slog.Logger
	now        func() time.Time
	key        ed25519.PrivateKey
	spool      *spool
	metrics    *metrics
	sinks      []Sink
	deliverers []*deliverer

	checkpointMu   sync.Mutex
	lastCheckpoint atomic.Uint64 // seq of the last checkpoint record

	cancel    context.CancelFunc // stops deliveries at once
	drain     chan struct{}      // closed: deliver what is left, then stop
	stop      chan struct{}      // closed: stop the timers
	running   sync.WaitGroup     // deliverers
	timers    sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open validates cfg, recovers the spool (cutting off what a crash left half-written),
// loads or creates the signing key, builds the sinks and starts delivering.
func Open(cfg Config, deps Deps) (*Pipeline, error) {
	cfg.Sinks = append([]SinkConfig(nil), cfg.Sinks...)
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Stdout == nil {
		deps.Stdout = os.Stdout
	}
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	p := &Pipeline{cfg: cfg, log: deps.Log, now: deps.Now, drain: make(chan struct{}), stop: make(chan struct{})}
	names := make([]string, len(cfg.Sinks))
	for i, s := range cfg.Sinks {
		names[i] = s.Name
	}
	m := newMetrics(names, p.oldestUndelivered)
	p.metrics = m
	var err error
	if p.spool, err = openSpool(cfg.Spool, p.log, m, NewID); err != nil {
		return nil, fmt.Errorf(prefix+"spool.dir: %w", err)
	}
	p.lastCheckpoint.Store(p.spool.checkpoint)
	ok := false
	defer func() {
		if !ok {
			for _, s := range p.sinks {
				s.Close()
			}
			p.spool.close()
		}
	}()
	switch {
	case deps.SigningKey != nil:
		p.key = deps.SigningKey
	case cfg.Checkpoint.KeyFile != "":
		if p.key, err = LoadSigningKey(cfg.Checkpoint.KeyFile); err != nil {
			return nil, fmt.Errorf(prefix+"checkpoint.key_file: %w", err)
		}
	default:
		if p.key, err = loadOrCreateKey(cfg.keyFile()); err != nil {
			return nil, fmt.Errorf(prefix+"checkpoint.key_file: %w", err)
		}
	}
	for i, sc := range cfg.Sinks {
		s, err := newSink(sc, deps)
		if err != nil {
			return nil, fmt.Errorf(prefix+"sinks[%d].%w", i, err)
		}
		p.sinks = append(p.sinks, s)
		d, err := newDeliverer(sc, s, p.spool, p.log, m, p.collect)
		if err != nil {
			return nil, fmt.Errorf(prefix+"spool.dir: %w", err)
		}
		p.deliverers = append(p.deliverers, d)
	}
	// Registered last: a scrape reads the deliverers.
	if err := m.register(deps.Registerer); err != nil {
		return nil, err
	}
	ok = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, d := range p.deliverers {
		p.running.Go(func() { d.run(ctx, p.drain) })
	}
	p.timers.Go(func() { p.tick(p.cfg.Checkpoint.Every, func() { p.checkpoint(false, true) }) })
	if cfg.Spool.Fsync == FsyncInterval {
		p.timers.Go(func() { p.tick(cfg.Spool.FsyncInterval, func() { _ = p.spool.flush() }) })
	}
	return p, nil
}

func newSink(c SinkConfig, deps Deps) (Sink, error) {
	switch c.Type {
	case SinkFile:
		s, err := newFileSink(c.Path)
		if err != nil {
			return nil, fmt.Errorf("path: %w", err)
		}
		return s, nil
	case SinkStdout:
		return writerSink{w: deps.Stdout}, nil
	case SinkSyslog:
		return newSyslogSink(c)
	case SinkHTTP:
		return newHTTPSink(c, deps.Getenv, deps.Now)
	case SinkRedis:
		return newRedisSink(c)
	}
	return nil, fmt.Errorf("type: %q is not a sink type", c.Type)
}

// Write appends r to the spool and returns once it is as durable as spool.fsync promises:
// with "always", on disk. It fills in event.id, @timestamp and event.kind when empty, and
// sets the chain fields. It returns ErrSpoolFull when the spool has no room for the record
// (with on_full drop-allowed, records of allowed accesses are dropped instead: nil).
func (p *Pipeline) Write(r Record) error {
	if r.Event.Action == EventCheckpoint {
		return fmt.Errorf("audit: event.action %q is reserved for the pipeline's own checkpoints", EventCheckpoint)
	}
	if r.Event.ID == "" {
		r.Event.ID = NewID()
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = p.now().UTC()
	}
	if r.Event.Kind == "" {
		r.Event.Kind = "event"
	}
	r.Chain, r.Checkpoint = nil, nil
	buf := getEncodeBuffer()
	rec, err := encodeRecord(&r, *buf)
	if err != nil {
		encodeBuffers.Put(buf)
		return err
	}
	// link copies the record into the line it appends, so the buffer is free again after.
	seq, err := p.spool.appendRecord(func(chainHead) (*prepared, error) { return &rec, nil }, r.Event.Type == EventTypeAllowed, false)
	putEncodeBuffer(buf, rec)
	if errors.Is(err, errDropped) {
		return nil
	}
	if err != nil {
		return err
	}
	if seq >= p.lastCheckpoint.Load()+uint64(p.cfg.Checkpoint.EveryRecords) {
		if cs := p.checkpoint(false, false); cs > seq {
			seq = cs
		}
	}
	if p.cfg.Spool.Fsync == FsyncAlways {
		return p.spool.sync(seq)
	}
	return nil
}

// checkpoint appends a signed checkpoint of the chain head, when records were written since
// the last one and (unless due) enough of them. It returns the checkpoint's seq, or 0.
func (p *Pipeline) checkpoint(closing, due bool) uint64 {
	if closing {
		p.checkpointMu.Lock()
	} else if !p.checkpointMu.TryLock() {
		return 0 // another writer is writing it
	}
	defer p.checkpointMu.Unlock()
	seq, err := p.spool.appendRecord(func(head chainHead) (*prepared, error) {
		last := p.lastCheckpoint.Load()
		if head.Seq <= last || (!due && head.Seq < last+uint64(p.cfg.Checkpoint.EveryRecords)) {
			return nil, nil
		}
		obj, err := recordObject(Record{
			Timestamp: p.now().UTC(),
			Event: Event{ID: NewID(), Kind: "event", Category: "configuration", Type: "info",
				Action: EventCheckpoint, Outcome: OutcomeSuccess},
			Checkpoint: signCheckpoint(p.key, head),
		})
		if err != nil {
			return nil, err
		}
		return prepare(obj)
	}, false, closing)
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			p.log.Warn("audit checkpoint not written; the next one will cover these records", "err", err)
		}
		return 0
	}
	if seq > 0 {
		p.lastCheckpoint.Store(seq)
		if due && p.cfg.Spool.Fsync == FsyncAlways {
			_ = p.spool.sync(seq) // make it visible to the sinks now, not with the next record
		}
	}
	return seq
}

func (p *Pipeline) tick(every time.Duration, f func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f()
		case <-p.stop:
			return
		}
	}
}

// Accepts tells, before a request is served, whether its record will be taken: it returns
// ErrSpoolFull when a record of this event.type would be refused now. With on_full
// drop-allowed, allowed accesses are always accepted (their records may be dropped).
func (p *Pipeline) Accepts(eventType string) error {
	if eventType == EventTypeAllowed && p.cfg.Spool.OnFull == OnFullDropAllowed {
		return nil
	}
	return p.spool.full()
}

// Ping is a readiness check: it fails while the spool is full or broken.
func (p *Pipeline) Ping(context.Context) error {
	return p.spool.full()
}

// Reopen reopens the files of file sinks, after logrotate moved them (SIGHUP).
func (p *Pipeline) Reopen() error {
	var errs []error
	for _, s := range p.sinks {
		if r, ok := s.(interface{ Reopen() error }); ok {
			errs = append(errs, r.Reopen())
		}
	}
	return errors.Join(errs...)
}

// Close stops taking records, signs the chain head, and delivers what is left until ctx
// ends; what is not delivered by then stays in the spool for the next start.
func (p *Pipeline) Close(ctx context.Context) error {
	p.closeOnce.Do(func() { p.closeErr = p.close(ctx) })
	return p.closeErr
}

func (p *Pipeline) close(ctx context.Context) error {
	p.spool.stopAccepting()
	close(p.stop)
	p.timers.Wait()
	p.checkpoint(true, true)
	errs := []error{p.spool.flush()}
	close(p.drain)
	done := make(chan struct{})
	go func() {
		p.running.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.cancel()
		<-done
		errs = append(errs, fmt.Errorf("audit: stopped before every record was delivered; the rest stays in the spool for the next start: %w", ctx.Err()))
	}
	p.cancel()
	for _, s := range p.sinks {
		errs = append(errs, s.Close())
	}
	errs = append(errs, p.spool.close())
	return errors.Join(errs...)
}

// collect deletes the segments every sink has passed.
func (p *Pipeline) collect() {
	keep := uint64(0)
	for i, d := range p.deliverers {
		if s := d.segment.Load(); i == 0 || s < keep {
			keep = s
		}
	}
	p.spool.collect(keep)
}

// oldestUndelivered is the age of the oldest record a sink still holds back.
func (p *Pipeline) oldestUndelivered() time.Duration {
	var oldest int64
	for _, d := range p.deliverers {
		if t := d.oldest.Load(); t != 0 && (oldest == 0 || t < oldest) {
			oldest = t
		}
	}
	if oldest == 0 {
		return 0
	}
	return max(0, p.now().Sub(time.Unix(0, oldest)))
}
