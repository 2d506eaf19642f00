package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRecoveryContinuesTheChain damages the chain state file in each way a crash or an
// operator could, and checks that the next run continues the same chain without cutting
// anything.
func TestRecoveryContinuesTheChain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, last uint64, head chainHead)
	}{
		{"intact", func(*testing.T, string, uint64, chainHead) {}},
		{"state file missing", func(t *testing.T, dir string, _ uint64, _ chainHead) {
			os.Remove(filepath.Join(dir, chainStateFile))
		}},
		{"state file unreadable", func(t *testing.T, dir string, _ uint64, _ chainHead) {
			os.WriteFile(filepath.Join(dir, chainStateFile), []byte("{"), 0o600)
		}},
		{"state file older than the segments", func(t *testing.T, dir string, _ uint64, _ chainHead) {
			writeState(t, dir, segmentStart{Segment: 1, ID: "stale", Seq: 0})
		}},
		{"rotation stopped before the new segment", func(t *testing.T, dir string, last uint64, head chainHead) {
			writeState(t, dir, segmentStart{Segment: last + 1, ID: head.ID, Seq: head.Seq, Hash: head.Hash})
		}},
		{"empty last segment and no state file", func(t *testing.T, dir string, last uint64, _ chainHead) {
			os.WriteFile(segmentPath(dir, last+1), nil, 0o600)
			os.Remove(filepath.Join(dir, chainStateFile))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.mode.Store(recvRefuse) // keep every segment in the spool
			cfg := testConfig(t, rc.sink())
			cfg.Spool.SegmentBytes = minSegmentBytes
			p, _ := openTest(t, cfg, Deps{})
			writeN(t, p, 0, 20)
			closeQuickly(p)

			ixs, _ := listSegments(cfg.Spool.Dir)
			last := ixs[len(ixs)-1]
			tc.damage(t, cfg.Spool.Dir, last, lastHead(t, cfg.Spool.Dir, last))

			p, _ = openTest(t, cfg, Deps{})
			writeN(t, p, 20, 3)
			closeQuickly(p)
			ixs, _ = listSegments(cfg.Spool.Dir)
			var files []string
			for _, ix := range ixs {
				files = append(files, segmentPath(cfg.Spool.Dir, ix))
			}
			rep, err := Verify(files, VerifyOptions{})
			if err != nil {
				t.Fatalf("the spool does not verify: %v", err)
			}
			if len(rep.Chains) != 1 || rep.Chains[0].First != 1 || rep.Records-rep.Checkpoints != 23 {
				t.Errorf("report %+v, want one chain of 23 records and their checkpoints", rep)
			}
			if bad, _ := filepath.Glob(filepath.Join(cfg.Spool.Dir, "*.bad")); len(bad) > 0 {
				t.Errorf("records were cut: %v", bad)
			}
		})
	}
}

func closeQuickly(p *Pipeline) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_ = p.Close(ctx) // the sink refuses: what is left stays in the spool
}

func writeState(t *testing.T, dir string, st segmentStart) {
	t.Helper()
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(dir, chainStateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// lastHead is the chain head after the last record of segment ix.
func lastHead(t *testing.T, dir string, ix uint64) chainHead {
	t.Helper()
	lines := readLinesOf(t, segmentPath(dir, ix))
	l := mustParse(t, bytes.TrimSuffix(lines[len(lines)-1], []byte("\n")))
	return chainHead{ID: l.chain.ID, Seq: l.chain.Seq, Hash: l.chain.Hash}
}
