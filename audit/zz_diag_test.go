package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

func TestZZDiag(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := testConfig(t, SinkConfig{Type: SinkFile, Path: path})
	p, _ := openTest(t, cfg, Deps{SigningKey: key})
	writeN(t, p, 0, 35)
	closeTest(t, p)
	lines := readLinesOf(t, path)
	if len(lines) != 39 {
		for _, l := range lines {
			e := entryOf(l[:len(l)-1])
			t.Logf("seq %d %s %s", e.Seq, e.Action, e.ID)
		}
		segs, _ := filepath.Glob(filepath.Join(cfg.Spool.Dir, "*"))
		for _, s := range segs {
			b, _ := os.ReadFile(s)
			t.Logf("%s: %d bytes", s, len(b))
		}
		t.Fatalf("trail has %d lines", len(lines))
	}
}
