package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// chainStateFile holds a segmentStart: the chain head at the start of a segment. It is
// written before that segment is created, so it is never older than the last segment, and it
// is what is left of the chain once every earlier segment has been delivered and deleted.
const chainStateFile = "chain.json"

type segmentStart struct {
	Segment uint64 `json:"segment"`
	ID      string `json:"id"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"`
}

func (st segmentStart) head() chainHead { return chainHead{ID: st.ID, Seq: st.Seq, Hash: st.Hash} }

// createSegment records that segment ix starts after head, then creates it.
func (s *spool) createSegment(ix uint64, head chainHead) (*os.File, error) {
	b, err := json.Marshal(segmentStart{Segment: ix, ID: head.ID, Seq: head.Seq, Hash: head.Hash})
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(s.dir, chainStateFile), b, 0o600); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(segmentPath(s.dir, ix), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// recover finds the segments and the chain head a previous run left, repairs the segment it
// was writing (see recoverSegment) and opens it for appending.
func (s *spool) recover(newID func() string) error {
	var st segmentStart
	b, err := os.ReadFile(filepath.Join(s.dir, chainStateFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil && json.Unmarshal(b, &st) != nil {
		st = segmentStart{} // unreadable: taken from the segments below
	}
	ixs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	for i, ix := range ixs {
		if i > 0 && ix != ixs[i-1]+1 {
			return fmt.Errorf("segment %d is missing between %d and %d: the spool was changed by hand", ixs[i-1]+1, ixs[i-1], ix)
		}
		fi, err := os.Stat(segmentPath(s.dir, ix))
		if err != nil {
			return err
		}
		s.segs = append(s.segs, segmentInfo{ix: ix, size: fi.Size()})
	}
	switch {
	case len(s.segs) == 0:
		if st.ID == "" {
			st = segmentStart{ID: newID()}
		}
		err = s.openNew(max(st.Segment, 1), st.head())
	case st.ID != "" && st.Segment == s.segs[len(s.segs)-1].ix+1:
		// A rotation stopped between saving the state and creating the segment.
		err = s.openNew(st.Segment, st.head())
	case st.ID != "" && st.Segment == s.segs[len(s.segs)-1].ix:
		err = s.openLast(st.head())
	default:
		err = s.adopt(newID)
	}
	if err != nil {
		return err
	}
	if err := s.active.Sync(); err != nil {
		return err
	}
	for _, sg := range s.segs {
		s.total += sg.size
	}
	s.durableSeq, s.durableOff = s.head.Seq, s.segs[len(s.segs)-1].size
	return nil
}

func (s *spool) openNew(ix uint64, head chainHead) error {
	f, err := s.createSegment(ix, head)
	if err != nil {
		return err
	}
	s.active, s.head = f, head
	s.segs = append(s.segs, segmentInfo{ix: ix})
	return nil
}

// openLast checks the last segment against the head it starts after (an empty head: taken
// from its first record) and opens it.
func (s *spool) openLast(head chainHead) error {
	last := &s.segs[len(s.segs)-1]
	var err error
	if last.size, s.head, s.checkpoint, err = recoverSegment(segmentPath(s.dir, last.ix), head, s.log); err != nil {
		return err
	}
	s.active, err = os.OpenFile(segmentPath(s.dir, last.ix), os.O_WRONLY|os.O_APPEND, 0o600)
	return err
}

// adopt takes the chain from the segments when the state file is missing or does not match
// them, and starts a new segment so that it matches again.
func (s *spool) adopt(newID func() string) error {
	s.log.Warn("audit spool: the chain state file is missing or does not match the segments; continuing the chain they hold",
		"file", chainStateFile)
	var head chainHead
	if n := len(s.segs); n > 1 && s.segs[n-1].size == 0 {
		prev := &s.segs[n-2]
		var err error
		if prev.size, head, s.checkpoint, err = recoverSegment(segmentPath(s.dir, prev.ix), head, s.log); err != nil {
			return err
		}
	}
	if err := s.openLast(head); err != nil {
		return err
	}
	if s.head.ID == "" {
		s.head = chainHead{ID: newID()} // no record anywhere: a new chain
	}
	return s.startNext()
}
