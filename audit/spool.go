package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// spool is the local, durable, bounded queue of records: segment files appended in chain
// order. Appending and fsyncing are separate steps so that many writers share one fsync
// (group commit): each appends under mu, then waits in sync, where one goroutine at a time
// fsyncs everything appended so far. Readers (the deliverers) only see bytes that are durable,
// so no sink ever holds a record that a crash could take back.
type spool struct {
	dir     string
	cfg     SpoolConfig
	log     *slog.Logger
	metrics *metrics
	lock    *os.File

	// syncMu is held while fsyncing the active segment and while replacing it; it is
	// always taken before mu.
	syncMu sync.Mutex

	mu         sync.Mutex
	accepting  bool
	closed     bool
	broken     error // set when an fsync failed: nothing can be acknowledged after that
	head       chainHead
	checkpoint uint64 // seq of the last checkpoint found at start-up, 0 if unknown
	active     *os.File
	segs       []segmentInfo // oldest first; the last one is active
	total      int64         // bytes of all segments
	durableSeq uint64
	durableOff int64 // durable bytes of the active segment
	notify     chan struct{}
	refusing   bool  // a full-spool episode is under way (logged once)
	refused    bool  // the last record that could not be dropped was refused
	dropped    int64 // allowed records dropped in the current episode
}

type segmentInfo struct {
	ix   uint64
	size int64
}

var errDropped = errors.New("audit: allowed record dropped: spool full")

func openSpool(cfg SpoolConfig, log *slog.Logger, m *metrics, newID func() string) (*spool, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockDir(filepath.Join(cfg.Dir, "spool.lock"))
	if err != nil {
		return nil, err
	}
	s := &spool{dir: cfg.Dir, cfg: cfg, log: log, metrics: m, lock: lock, accepting: true, notify: make(chan struct{})}
	if err := s.recover(newID); err != nil {
		lock.Close()
		return nil, err
	}
	m.spoolBytes.Set(float64(s.total))
	return s, nil
}

// appendRecord links the record that build returns to the chain and appends it. build sees
// the chain head the record will follow; it returns nil to append nothing. Internal records
// (checkpoints) are appended even while the spool no longer accepts records, during Close.
// It returns the record's seq; the record is durable once sync(seq) returned.
func (s *spool) appendRecord(build func(chainHead) (*prepared, error), droppable, internal bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.closed || (!internal && !s.accepting):
			return 0, ErrClosed
		case s.broken != nil:
			return 0, s.broken
		}
		rec, err := build(s.head)
		if err != nil || rec == nil {
			return 0, err
		}
		line, next := rec.link(s.head)
		n := int64(len(line))
		if n > maxRecordBytes {
			return 0, fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, n)
		}
		if err := s.room(n, droppable); err != nil {
			return 0, err
		}
		if s.mustRotate(n) {
			// Rotating fsyncs the full segment, which needs syncMu, taken before mu.
			s.mu.Unlock()
			s.syncMu.Lock()
			s.mu.Lock()
			err := s.rotate(n)
			s.syncMu.Unlock()
			if err != nil {
				return 0, err
			}
			continue // the head may have moved meanwhile: link again
		}
		active := &s.segs[len(s.segs)-1]
		if _, err := s.active.Write(line); err != nil {
			// A short write leaves a torn line that only the next start can cut off.
			s.broken = fmt.Errorf("audit spool: write failed, the spool needs a restart: %w", err)
			return 0, s.broken
		}
		active.size += n
		s.total += n
		s.head = next
		if !internal {
			s.refused = false
		}
		s.metrics.records.WithLabelValues("spool", "written").Inc()
		s.metrics.spoolBytes.Set(float64(s.total))
		return next.Seq, nil
	}
}

// room applies the on_full policy to a record of n bytes. Under drop-allowed, records of
// allowed accesses are dropped once the spool is within 1/16 of full, so that what remains is
// kept for denials, logins and admin changes.
func (s *spool) room(n int64, droppable bool) error {
	limit := int64(s.cfg.MaxBytes)
	dropping := droppable && s.cfg.OnFull == OnFullDropAllowed
	if dropping {
		limit -= limit / 16
	}
	if s.total+n <= limit {
		if s.refusing && s.total+n <= int64(s.cfg.MaxBytes)-int64(s.cfg.MaxBytes)/16 {
			s.refusing = false
			s.log.Info("audit spool has room again", "spool_bytes", s.total, "allowed_records_dropped", s.dropped)
			s.dropped = 0
		}
		return nil
	}
	if !s.refusing {
		s.refusing = true
		s.log.Error("audit spool full: records are refused or dropped until a sink catches up",
			"spool_bytes", s.total, "max_bytes", int64(s.cfg.MaxBytes), "on_full", s.cfg.OnFull)
	}
	if dropping {
		s.dropped++
		s.metrics.records.WithLabelValues("spool", "dropped").Inc()
		return errDropped
	}
	s.refused = true
	s.metrics.records.WithLabelValues("spool", "refused").Inc()
	return ErrSpoolFull
}

// mustRotate reports whether a record of n bytes starts a new segment.
func (s *spool) mustRotate(n int64) bool {
	active := s.segs[len(s.segs)-1]
	return active.size > 0 && active.size+n > int64(s.cfg.SegmentBytes)
}

// rotate seals the active segment and starts the next, unless another writer did while this
// one waited for the locks. Called with syncMu and mu held.
func (s *spool) rotate(n int64) error {
	if !s.mustRotate(n) {
		return nil
	}
	return s.startNext()
}

// startNext fsyncs the active segment and starts the next one. Called with syncMu and mu
// held, or during start-up.
func (s *spool) startNext() error {
	if err := s.active.Sync(); err != nil {
		s.broken = fmt.Errorf("audit spool: fsync failed, no record can be acknowledged any more: %w", err)
		return s.broken
	}
	ix := s.segs[len(s.segs)-1].ix + 1
	f, err := s.createSegment(ix, s.head)
	if err != nil {
		return err
	}
	s.active.Close()
	s.active = f
	s.segs = append(s.segs, segmentInfo{ix: ix})
	s.durableSeq, s.durableOff = s.head.Seq, 0
	s.signal()
	return nil
}

// sync returns once record seq is durable, fsyncing if nobody has yet.
func (s *spool) sync(seq uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	if s.broken != nil || s.durableSeq >= seq || s.active == nil {
		err := s.broken
		s.mu.Unlock()
		return err
	}
	f, upTo, off := s.active, s.head.Seq, s.segs[len(s.segs)-1].size
	s.mu.Unlock()
	err := f.Sync()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.broken = fmt.Errorf("audit spool: fsync failed, no record can be acknowledged any more: %w", err)
		return s.broken
	}
	s.durableSeq, s.durableOff = upTo, off
	s.signal()
	return nil
}

// flush makes everything appended so far durable.
func (s *spool) flush() error {
	s.mu.Lock()
	seq := s.head.Seq
	s.mu.Unlock()
	return s.sync(seq)
}

func (s *spool) signal() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// readable tells a reader how far segment ix may be read, whether it is sealed (a later one
// exists), and gives a channel closed when more becomes durable. ok is false when the segment
// is gone.
func (s *spool) readable(ix uint64) (limit int64, sealed, ok bool, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = s.notify
	for i, sg := range s.segs {
		if sg.ix != ix {
			continue
		}
		if i == len(s.segs)-1 {
			return s.durableOff, false, true, changed
		}
		return sg.size, true, true, changed
	}
	return 0, false, false, changed
}

// oldest is the first segment still in the spool.
func (s *spool) oldest() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.segs[0].ix
}

// collect deletes the sealed segments before segment keep: every sink has passed them.
func (s *spool) collect(keep uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) > 1 && s.segs[0].ix < keep {
		s.refused = false // room returns
	}
	for len(s.segs) > 1 && s.segs[0].ix < keep {
		if err := os.Remove(segmentPath(s.dir, s.segs[0].ix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("audit spool: delete a delivered segment", "segment", s.segs[0].ix, "err", err)
			return
		}
		s.total -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	s.metrics.spoolBytes.Set(float64(s.total))
}

// full reports whether a record that may not be dropped would be refused now.
func (s *spool) full() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return s.broken
	}
	if s.refused || s.total >= int64(s.cfg.MaxBytes) {
		return ErrSpoolFull
	}
	return nil
}

// stopAccepting makes Write fail with ErrClosed; checkpoints may still be appended.
func (s *spool) stopAccepting() {
	s.mu.Lock()
	s.accepting = false
	s.mu.Unlock()
}

// close fsyncs and closes the active segment and releases the directory.
func (s *spool) close() error {
	err := s.flush()
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.signal()
	err = errors.Join(err, s.active.Close(), s.lock.Close())
	s.active = nil
	return err
}
