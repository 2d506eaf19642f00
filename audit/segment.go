package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A segment is one file of the spool: records as canonical JSON lines, appended in chain
// order. Segments are numbered from 1 without gaps; the highest is the one being written.

const (
	segmentPrefix = "segment-"
	segmentSuffix = ".jsonl"
)

func segmentPath(dir string, ix uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%016d%s", segmentPrefix, ix, segmentSuffix))
}

// listSegments returns the segment numbers in dir, lowest first.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, segmentPrefix) || !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segmentPrefix), segmentSuffix), 10, 64)
		if err != nil || n == 0 {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// recoverSegment checks every line of the segment that was being written against the chain
// and cuts off what a crash left behind: a torn last line, or anything after the first line
// that does not continue the chain. The cut bytes are kept in a .bad file next to it rather
// than destroyed. It returns the segment's size, the chain head after its last record, and
// the seq of its last checkpoint (0 if none).
func recoverSegment(path string, head chainHead, log *slog.Logger) (size int64, _ chainHead, checkpoint uint64, _ error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, head, 0, err
	}
	var off int64
	var why string
	for off < int64(len(data)) {
		rest := data[off:]
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			why = "a torn last line"
			break
		}
		l, err := parseLinked(rest[:nl])
		if err != nil {
			why = err.Error()
			break
		}
		if head.ID == "" {
			// The chain state file is gone; adopt the chain the segment continues.
			head = chainHead{ID: l.chain.ID, Seq: l.chain.Seq - 1, Hash: l.chain.PrevHash}
		}
		if l.chain.ID != head.ID || l.chain.Seq != head.Seq+1 || l.chain.PrevHash != head.Hash {
			why = fmt.Sprintf("seq %d does not continue the chain at seq %d", l.chain.Seq, head.Seq)
			break
		}
		head = chainHead{ID: head.ID, Seq: l.chain.Seq, Hash: l.chain.Hash}
		if l.action == EventCheckpoint {
			checkpoint = l.chain.Seq
		}
		off += int64(nl) + 1
	}
	if off == int64(len(data)) {
		return off, head, checkpoint, nil
	}
	bad := fmt.Sprintf("%s.%d.bad", path, off)
	if err := os.WriteFile(bad, data[off:], 0o600); err != nil {
		return 0, head, 0, fmt.Errorf("keep the unreadable tail of %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return 0, head, 0, err
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return 0, head, 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, head, 0, err
	}
	log.Warn("audit spool: cut the unfinished tail of a segment (a crash interrupted a write that was never acknowledged, or the file was damaged)",
		"segment", filepath.Base(path), "offset", off, "bytes", len(data)-int(off), "reason", why, "kept_in", filepath.Base(bad))
	return off, head, checkpoint, nil
}

// readLines reads whole lines of f from off up to limit, which must fall at the end of a line:
// at most maxRecords lines and about maxBytes, but always at least one line. Lines are
// returned without their newline.
func readLines(f *os.File, off, limit int64, maxRecords int, maxBytes int64) ([][]byte, int64, error) {
	avail := limit - off
	if avail <= 0 {
		return nil, off, nil
	}
	buf := make([]byte, min(avail, max(maxBytes, 1)))
	for {
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, off, err
		}
		if bytes.IndexByte(buf, '\n') >= 0 {
			break
		}
		if int64(len(buf)) >= avail || len(buf) > maxRecordBytes+1 {
			return nil, off, fmt.Errorf("%s: no end of line after offset %d", filepath.Base(f.Name()), off)
		}
		buf = make([]byte, min(avail, maxRecordBytes+2))
	}
	var lines [][]byte
	next := off
	for len(lines) < maxRecords {
		nl := bytes.IndexByte(buf, '\n')
		if nl < 0 {
			break
		}
		lines = append(lines, buf[:nl:nl])
		buf = buf[nl+1:]
		next += int64(nl) + 1
	}
	return lines, next, nil
}
