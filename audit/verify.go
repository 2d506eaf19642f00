package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Kinds of problem Verify reports.
const (
	kindTruncated    = "truncated"     // the last line has no end: cut off mid-record
	kindMalformed    = "malformed"     // not a record of the trail
	kindNoChain      = "no-chain"      // a record without tollgate.chain
	kindEdited       = "edited"        // the record does not hash to its hash
	kindBrokenLink   = "broken-link"   // prev_hash is not the hash of the record before
	kindGap          = "gap"           // records are missing
	kindReorder      = "reorder"       // records are out of order
	kindBadSignature = "bad-signature" // a checkpoint's signature does not verify
)

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// PublicKey checks checkpoint signatures; without it only hashes and order are checked.
	PublicKey ed25519.PublicKey
}

// VerifyReport sums up a trail that verified.
type VerifyReport struct {
	Files       int
	Records     int // records checked, checkpoints included, duplicates not
	Duplicates  int // identical redeliveries of a record (at-least-once), skipped
	Checkpoints int // checkpoint records seen
	Verified    int // checkpoints whose signature verified (0 without a key)
	Chains      []ChainReport
}

// ChainReport is one chain found in the files.
type ChainReport struct {
	ID          string
	First, Last uint64 // seq of the first and last record seen; First > 1: earlier files are missing
	LastSigned  uint64 // seq of the last record covered by a verified checkpoint; 0 if none
}

// VerifyError is the first problem found, with the file and line it is on.
type VerifyError struct {
	File string
	Line int
	Kind string // truncated, malformed, no-chain, edited, broken-link, gap, reorder, bad-signature
	Msg  string
}

func (e *VerifyError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// lineError is a problem with one line, before it has a position.
type lineError struct{ kind, msg string }

func (e *lineError) Error() string { return e.msg }

// recentWindow is how far back a redelivered record is recognised as a duplicate.
const recentWindow = 1 << 16

type seen struct {
	seq  uint64
	hash string
	pos  string
}

type chainCheck struct {
	report ChainReport
	head   chainHead
	pos    string // where the head is
	recent []seen // ring indexed by seq % recentWindow
}

// Verify checks the trail in files, read in the order given (oldest rotated file first;
// .gz files are decompressed): every line is a record in canonical form whose hash covers it,
// each chain's records follow one another without gap or reordering, and, with a key, every
// checkpoint's signature. Identical redeliveries of a record are skipped and counted. It stops
// at the first problem and returns it as a *VerifyError.
func Verify(files []string, opt VerifyOptions) (VerifyReport, error) {
	rep := VerifyReport{Files: len(files)}
	lr := &lineReader{paths: files}
	defer lr.close()
	chains := map[string]*chainCheck{}
	var order []*chainCheck
	for {
		line, ok, err := lr.next()
		if err != nil {
			return rep, err
		}
		if !ok {
			break
		}
		at := func(kind, format string, args ...any) error {
			return &VerifyError{File: lr.file, Line: lr.line, Kind: kind, Msg: kind + ": " + fmt.Sprintf(format, args...)}
		}
		if !lr.terminated {
			return rep, at(kindTruncated, "the last line ends without a newline: the record was cut off")
		}
		l, err := parseLinked(line)
		if le := (*lineError)(nil); errors.As(err, &le) {
			return rep, at(le.kind, "%s", strings.TrimPrefix(le.msg, le.kind+": "))
		}
		c := l.chain
		cc := chains[c.ID]
		if cc == nil {
			cc = &chainCheck{report: ChainReport{ID: c.ID, First: c.Seq}, head: chainHead{ID: c.ID, Seq: c.Seq - 1, Hash: c.PrevHash},
				recent: make([]seen, recentWindow)}
			if c.Seq == 1 && c.PrevHash != "" {
				return rep, at(kindBrokenLink, "seq 1 starts chain %s but names a previous hash", short(c.ID))
			}
			chains[c.ID] = cc
			order = append(order, cc)
		}
		want := cc.head.Seq + 1
		switch {
		case c.Seq == want && c.PrevHash != cc.head.Hash:
			return rep, at(kindBrokenLink, "seq %d does not follow seq %d (%s): its prev_hash is %s, but seq %d hashes to %s; seq %d was edited or replaced",
				c.Seq, cc.head.Seq, cc.pos, short(c.PrevHash), cc.head.Seq, short(cc.head.Hash), cc.head.Seq)
		case c.Seq < want:
			s := cc.recent[c.Seq%recentWindow]
			if s.seq == c.Seq && s.hash == c.Hash {
				rep.Duplicates++
				continue
			}
			if s.seq == c.Seq {
				return rep, at(kindEdited, "seq %d appears a second time with other content (first at %s)", c.Seq, s.pos)
			}
			return rep, at(kindReorder, "seq %d of chain %s comes after seq %d (%s)", c.Seq, short(c.ID), cc.head.Seq, cc.pos)
		case c.Seq > want:
			file, line := lr.file, lr.line
			if pos := lr.find(c.ID, want, c.Seq-1); pos != "" {
				return rep, &VerifyError{File: file, Line: line, Kind: kindReorder,
					Msg: fmt.Sprintf("%s: seq %d of chain %s comes before seq %d, which is later, at %s", kindReorder, c.Seq, short(c.ID), want, pos)}
			}
			return rep, &VerifyError{File: file, Line: line, Kind: kindGap,
				Msg: fmt.Sprintf("%s: chain %s jumps from seq %d (%s) to seq %d: %s missing", kindGap, short(c.ID), cc.head.Seq, cc.pos, c.Seq, seqRange(want, c.Seq-1))}
		}
		if l.action == EventCheckpoint {
			rep.Checkpoints++
			signed, err := checkCheckpoint(l, opt.PublicKey)
			if err != nil {
				return rep, at(kindBadSignature, "checkpoint seq %d: %v", c.Seq, err)
			}
			if signed {
				rep.Verified++
				cc.report.LastSigned = c.Seq
			}
		}
		rep.Records++
		cc.head = chainHead{ID: c.ID, Seq: c.Seq, Hash: c.Hash}
		cc.pos = lr.pos()
		cc.report.Last = c.Seq
		cc.recent[c.Seq%recentWindow] = seen{seq: c.Seq, hash: c.Hash, pos: cc.pos}
	}
	for _, cc := range order {
		rep.Chains = append(rep.Chains, cc.report)
	}
	return rep, nil
}

// checkCheckpoint checks that a checkpoint signs the record just before it and, with a key,
// its signature. It reports whether the signature was verified.
func checkCheckpoint(l linked, key ed25519.PublicKey) (bool, error) {
	raw, ok := l.obj["tollgate.checkpoint"]
	if !ok {
		return false, errors.New("the tollgate.checkpoint field is missing")
	}
	b, _ := json.Marshal(raw)
	var cp Checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return false, fmt.Errorf("tollgate.checkpoint: %w", err)
	}
	if cp.Seq != l.chain.Seq-1 || cp.Hash != l.chain.PrevHash {
		return false, fmt.Errorf("it signs seq %d (%s), not the record before it", cp.Seq, short(cp.Hash))
	}
	if key == nil {
		return false, nil
	}
	if cp.Algorithm != checkpointAlgorithm {
		return false, fmt.Errorf("algorithm %q is not %s", cp.Algorithm, checkpointAlgorithm)
	}
	if id := KeyID(key); cp.KeyID != id {
		return false, fmt.Errorf("signed with key %s, but the key given is %s", cp.KeyID, id)
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || !ed25519.Verify(key, checkpointMessage(l.chain.ID, cp.Seq, cp.Hash), sig) {
		return false, errors.New("the signature does not verify: the chain up to here was rewritten, or the checkpoint forged")
	}
	return true, nil
}

func seqRange(from, to uint64) string {
	if from == to {
		return "seq " + strconv.FormatUint(from, 10) + " is"
	}
	return fmt.Sprintf("seq %d to %d (%d records) are", from, to, to-from+1)
}

// lineReader reads the lines of several files as one stream.
type lineReader struct {
	paths      []string
	idx        int // index in paths of the open file
	rc         io.Closer
	r          *bufio.Reader
	file       string
	line       int
	terminated bool
}

// next returns the next line without its newline; ok is false at the end of the last file.
func (lr *lineReader) next() ([]byte, bool, error) {
	for {
		if lr.r == nil {
			if lr.idx >= len(lr.paths) {
				return nil, false, nil
			}
			if err := lr.open(lr.paths[lr.idx]); err != nil {
				return nil, false, err
			}
		}
		b, err := lr.r.ReadBytes('\n')
		if len(b) > 0 {
			lr.line++
			lr.terminated = b[len(b)-1] == '\n'
			return bytes.TrimSuffix(b, []byte("\n")), true, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("%s: %w", lr.file, err)
		}
		lr.rc.Close()
		lr.r = nil
		lr.idx++
	}
}

func (lr *lineReader) open(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	lr.rc, lr.file, lr.line = f, path, 0
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
		r = z
	}
	lr.r = bufio.NewReaderSize(r, 256<<10)
	return nil
}

func (lr *lineReader) close() {
	if lr.r != nil {
		lr.rc.Close()
	}
}

func (lr *lineReader) pos() string { return lr.file + ":" + strconv.Itoa(lr.line) }

// find reads on, looking for a record of chain id with a seq from lo to hi, and returns
// where it is, or "" when the files end without one: it tells a reorder from a gap.
func (lr *lineReader) find(id string, lo, hi uint64) string {
	for {
		line, ok, err := lr.next()
		if err != nil || !ok {
			return ""
		}
		var h struct {
			Chain struct {
				ID  string `json:"id"`
				Seq uint64 `json:"seq"`
			} `json:"tollgate.chain"`
		}
		if json.Unmarshal(line, &h) == nil && h.Chain.ID == id && h.Chain.Seq >= lo && h.Chain.Seq <= hi {
			return lr.pos()
		}
	}
}
