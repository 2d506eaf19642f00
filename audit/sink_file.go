package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// fileSink appends JSON lines to a file. Each batch is one write followed by an fsync, so a
// delivered record survives a crash of the machine. Reopen closes and reopens the path, for
// logrotate's create mode (rename, then SIGHUP).
type fileSink struct {
	path   string
	mu     sync.Mutex
	f      *os.File
	closed bool
}

func newFileSink(path string) (*fileSink, error) {
	s := &fileSink{path: path}
	if err := s.Reopen(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reopen starts writing to a fresh file at the configured path.
func (s *fileSink) Reopen() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("audit: create folder for %s: %w", s.path, err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", s.path, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		f.Close()
		return errors.New("file sink is closed")
	}
	old := s.f
	s.f = f
	s.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

func (s *fileSink) Deliver(_ context.Context, batch []Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("file sink is closed")
	}
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	if _, err := s.f.Write(joinLines(batch)); err != nil {
		// Take back a partial write (disk full), so that the retry does not leave a torn
		// line in the middle of the trail.
		_ = s.f.Truncate(st.Size())
		return err
	}
	return s.f.Sync()
}

func (s *fileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// writerSink writes JSON lines to a stream such as stdout, where a collector (the container
// runtime, journald) picks them up.
type writerSink struct {
	w io.Writer
}

func (s writerSink) Deliver(_ context.Context, batch []Entry) error {
	_, err := s.w.Write(joinLines(batch))
	return err
}

func (s writerSink) Close() error { return nil }

// joinLines is the batch as newline-delimited JSON.
func joinLines(batch []Entry) []byte {
	n := 0
	for _, e := range batch {
		n += len(e.Line) + 1
	}
	buf := make([]byte, 0, n)
	for _, e := range batch {
		buf = append(append(buf, e.Line...), '\n')
	}
	return buf
}
