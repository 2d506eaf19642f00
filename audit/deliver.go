package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Sink delivers batches of records to one destination. The pipeline calls Deliver from one
// goroutine per sink, in spool order, and retries the same batch until Deliver returns nil:
// Deliver returns nil only when the destination holds every record of the batch.
type Sink interface {
	Deliver(ctx context.Context, batch []Entry) error
	Close() error
}

// Entry is one spooled record as a sink sees it.
type Entry struct {
	Line    []byte // the record, canonical JSON without a newline
	ID      string // event.id, for deduplication at the destination
	Action  string
	Outcome string
	Time    time.Time // @timestamp
	Seq     uint64    // tollgate.chain.seq
}

// PermanentError is a sink's answer that retrying cannot help (an HTTP 400, say). The records
// are parked in the spool's dead-letter file for that sink, counted as failed, and delivery
// moves on: a poison batch must not stop the trail, and nothing is dropped silently.
type PermanentError struct {
	Err error
	// Rejected holds the indexes of the refused entries; nil means the whole batch.
	Rejected []int
}

func (e *PermanentError) Error() string { return "rejected for good: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// retryAfterError asks for a pause before the next attempt (an HTTP Retry-After).
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// cursor is how far a sink has been delivered: a segment and the offset after the last
// delivered line. It is persisted after each acknowledged batch, so a restart redelivers at
// most the batch that was in flight.
type cursor struct {
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
}

// deliverer moves records from the spool to one sink.
type deliverer struct {
	name    string
	cfg     SinkConfig
	sink    Sink
	spool   *spool
	log     *slog.Logger
	metrics *metrics
	path    string // cursor file
	collect func()

	cur     cursor
	saved   cursor // as last written to the cursor file
	savedAt time.Time
	segment atomic.Uint64 // cur.Segment, read by collect
	oldest  atomic.Int64  // @timestamp (unix ns) of the oldest record held back, 0 when caught up
	file    *os.File
	fileIx  uint64
}

func newDeliverer(cfg SinkConfig, sink Sink, sp *spool, log *slog.Logger, m *metrics, collect func()) (*deliverer, error) {
	d := &deliverer{name: cfg.Name, cfg: cfg, sink: sink, spool: sp, log: log.With("sink", cfg.Name), metrics: m,
		path: filepath.Join(sp.dir, "cursor-"+cfg.Name+".json"), collect: collect}
	b, err := os.ReadFile(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A new sink gets everything the spool still holds.
		d.cur = cursor{Segment: sp.oldest()}
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &d.cur); err != nil {
			// The cursor is not fsynced (see advance): after a machine crash it may be
			// empty. Delivering the spool again is the at-least-once answer.
			d.log.Warn("audit delivery cursor unreadable; delivering the whole spool again", "file", d.path, "err", err)
			d.cur = cursor{Segment: sp.oldest()}
		}
	}
	if oldest := sp.oldest(); d.cur.Segment < oldest {
		d.cur = cursor{Segment: oldest}
	}
	if limit, sealed, ok, _ := sp.readable(d.cur.Segment); ok && d.cur.Offset > limit {
		// Only when a damaged tail was cut off at start-up.
		d.cur.Offset = limit
		if sealed {
			d.cur = cursor{Segment: d.cur.Segment + 1}
		}
	}
	d.segment.Store(d.cur.Segment)
	d.saved = d.cur
	return d, nil
}

// run delivers until ctx ends, or until drain is closed and everything durable is delivered.
func (d *deliverer) run(ctx context.Context, drain <-chan struct{}) {
	defer d.closeFile()
	defer func() {
		if err := d.saveCursor(); err != nil {
			d.log.Error("audit spool: save delivery cursor (records will be delivered again after a restart)", "err", err)
		}
	}()
	for ctx.Err() == nil {
		batch, next, changed, err := d.read()
		if err == nil && len(batch) > 0 && len(batch) < d.cfg.Batch.MaxRecords && d.cfg.Batch.Linger > 0 && !isClosed(drain) {
			// Let the batch fill: fewer, larger requests.
			d.oldest.Store(batch[0].Time.UnixNano())
			sleep(ctx, drain, d.cfg.Batch.Linger)
			batch, next, changed, err = d.read()
		}
		if err != nil {
			d.log.Error("audit spool: read for delivery", "err", err)
			sleep(ctx, nil, backoff(d.cfg.Retry, 4))
			continue
		}
		if len(batch) == 0 {
			d.oldest.Store(0)
			if isClosed(drain) {
				return
			}
			select {
			case <-changed:
			case <-drain:
			case <-ctx.Done():
			}
			continue
		}
		d.oldest.Store(batch[0].Time.UnixNano())
		if err := d.deliver(ctx, batch); err != nil {
			return // ctx ended: the batch stays in the spool for the next start
		}
		if err := d.advance(next); err != nil {
			d.log.Error("audit spool: save delivery cursor (the batch will be delivered again after a restart)", "err", err)
		}
	}
}

// read returns the next batch from the cursor, the cursor after it, and a channel closed when
// more records become durable.
func (d *deliverer) read() ([]Entry, cursor, <-chan struct{}, error) {
	for {
		limit, sealed, ok, changed := d.spool.readable(d.cur.Segment)
		if !ok {
			if oldest := d.spool.oldest(); oldest > d.cur.Segment {
				d.cur = cursor{Segment: oldest} // the segment was delivered and deleted
				continue
			}
			return nil, d.cur, changed, nil
		}
		if d.cur.Offset >= limit {
			if !sealed {
				return nil, d.cur, changed, nil
			}
			if err := d.advance(cursor{Segment: d.cur.Segment + 1}); err != nil {
				return nil, d.cur, changed, err
			}
			continue
		}
		f, err := d.openSegment(d.cur.Segment)
		if err != nil {
			return nil, d.cur, changed, err
		}
		lines, off, err := readLines(f, d.cur.Offset, limit, d.cfg.Batch.MaxRecords, int64(d.cfg.Batch.MaxBytes))
		if err != nil {
			return nil, d.cur, changed, err
		}
		batch := make([]Entry, len(lines))
		for i, l := range lines {
			batch[i] = entryOf(l)
		}
		return batch, cursor{Segment: d.cur.Segment, Offset: off}, changed, nil
	}
}

// entryOf reads what sinks need from a spooled line. Every record passes through here once per
// sink, so the line is scanned rather than decoded; a line it cannot read gets zero fields.
func entryOf(line []byte) Entry {
	e := Entry{Line: line}
	s := lineScanner{b: line}
	s.object(func(key []byte) {
		switch string(key) {
		case "@timestamp":
			e.Time, _ = time.Parse(time.RFC3339Nano, s.str())
		case "event":
			s.object(func(key []byte) {
				switch string(key) {
				case "id":
					e.ID = s.str()
				case "action":
					e.Action = s.str()
				case "outcome":
					e.Outcome = s.str()
				default:
					s.skip()
				}
			})
		case chainKey:
			s.object(func(key []byte) {
				if string(key) == "seq" {
					e.Seq = s.uint()
				} else {
					s.skip()
				}
			})
		default:
			s.skip()
		}
	})
	if s.bad {
		return Entry{Line: line}
	}
	return e
}

// deliver retries the batch until the sink takes it or refuses it for good. It fails only
// when ctx ends.
func (d *deliverer) deliver(ctx context.Context, batch []Entry) error {
	n := float64(len(batch))
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		err := d.sink.Deliver(actx, batch)
		cancel()
		if err == nil {
			d.metrics.records.WithLabelValues(d.name, "delivered").Add(n)
			if attempt > 0 {
				d.log.Info("audit sink delivers again", "attempts", attempt+1)
			}
			return nil
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			perr := d.park(batch, perm)
			if perr == nil {
				return nil
			}
			err = perr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.metrics.records.WithLabelValues(d.name, "retried").Add(n)
		wait := backoff(d.cfg.Retry, attempt)
		if ra := (*retryAfterError)(nil); errors.As(err, &ra) {
			wait = max(wait, min(ra.after, d.cfg.Retry.Max))
		}
		d.log.Warn("audit sink delivery failed; retrying", "records", len(batch), "attempt", attempt+1, "retry_in", wait, "err", err)
		if !sleep(ctx, nil, wait) {
			return ctx.Err()
		}
	}
}

// park appends the refused records to the sink's dead-letter file in the spool directory.
func (d *deliverer) park(batch []Entry, perm *PermanentError) error {
	rejected := perm.Rejected
	if rejected == nil {
		for i := range batch {
			rejected = append(rejected, i)
		}
	}
	var buf []byte
	for _, i := range rejected {
		if i >= 0 && i < len(batch) {
			buf = append(append(buf, batch[i].Line...), '\n')
		}
	}
	path := filepath.Join(d.spool.dir, "deadletter-"+d.name+".jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("park refused records: %w", err)
	}
	_, err = f.Write(buf)
	err = errors.Join(err, f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("park refused records: %w", err)
	}
	d.metrics.records.WithLabelValues(d.name, "failed").Add(float64(len(rejected)))
	d.metrics.records.WithLabelValues(d.name, "delivered").Add(float64(len(batch) - len(rejected)))
	d.log.Error("audit sink refused records for good; they are kept in the dead-letter file", "records", len(rejected),
		"first_id", batch[rejected[0]].ID, "file", path, "err", perm.Err)
	return nil
}

// cursorSaveEvery bounds how often a cursor is written while records flow: a crash then
// redelivers at most this much, and the spool's fsyncs do not queue behind cursor writes.
const cursorSaveEvery = 100 * time.Millisecond

// advance moves the cursor, lets the spool delete what every sink has passed, and persists
// the cursor when it entered another segment or cursorSaveEvery has passed. The file is
// replaced but not fsynced: a cursor lost in a machine crash only means records delivered
// again.
func (d *deliverer) advance(next cursor) error {
	d.cur = next
	d.segment.Store(next.Segment)
	d.collect()
	if next.Segment == d.saved.Segment && time.Since(d.savedAt) < cursorSaveEvery {
		return nil
	}
	return d.saveCursor()
}

func (d *deliverer) saveCursor() error {
	if d.cur == d.saved {
		return nil
	}
	b, err := json.Marshal(d.cur)
	if err != nil {
		return err
	}
	if err := replaceFile(d.path, b, 0o600); err != nil {
		return err
	}
	d.saved, d.savedAt = d.cur, time.Now()
	return nil
}

func (d *deliverer) openSegment(ix uint64) (*os.File, error) {
	if d.file != nil && d.fileIx == ix {
		return d.file, nil
	}
	d.closeFile()
	f, err := os.Open(segmentPath(d.spool.dir, ix))
	if err != nil {
		return nil, err
	}
	d.file, d.fileIx = f, ix
	return f, nil
}

func (d *deliverer) closeFile() {
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
}

// backoff doubles from Initial up to Max, with jitter over the upper half so that many gates
// do not retry in step.
func backoff(r RetryConfig, attempt int) time.Duration {
	d := r.Max
	if attempt < 30 {
		d = min(r.Initial<<attempt, r.Max)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits for d, or until ctx ends or stop is closed; it reports whether d elapsed.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
