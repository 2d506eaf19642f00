package audit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Writer appends records as JSON lines to one destination. Each record is written with a single
// Write call under a lock, so concurrent requests never interleave lines.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	now    func() time.Time
}

// NewWriter writes to w (e.g. os.Stdout). now may be nil.
func NewWriter(w io.Writer, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{w: w, now: now}
}

// OpenFile appends to the file at path, creating it (0600) and its folder (0700).
func OpenFile(path string, now func() time.Time) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: create folder for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	w := NewWriter(f, now)
	w.closer = f
	return w, nil
}

// Write stamps the record with an id and time when it has none and appends it.
func (w *Writer) Write(r Record) error {
	if r.Event.ID == "" {
		r.Event.ID = NewID()
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = w.now().UTC()
	}
	if r.Event.Kind == "" {
		r.Event.Kind = "event"
	}
	r.Chain, r.Checkpoint = nil, nil
	buf := getEncodeBuffer()
	p, err := encodeRecord(&r, *buf)
	if err != nil {
		encodeBuffers.Put(buf)
		return err
	}
	line := p.plain()
	putEncodeBuffer(buf, p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(line); err != nil {
		return fmt.Errorf("audit: write record: %w", err)
	}
	return nil
}

// Close closes the file opened by OpenFile; it is a no-op for other writers.
func (w *Writer) Close() error {
	if w.closer == nil {
		return nil
	}
	return w.closer.Close()
}

// NewID returns a random 128-bit record id, so a sink can deduplicate deliveries.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	var h [32]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}
