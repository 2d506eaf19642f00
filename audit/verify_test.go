package audit

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// makeTrail writes 35 records through a pipeline with a file sink and returns the file's
// lines and the checkpoint key. Checkpoints (every 10 records) sit at seq 11, 22, 33, and a
// last one at Close.
func makeTrail(t *testing.T) ([][]byte, ed25519.PrivateKey) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	cfg := testConfig(t, SinkConfig{Type: SinkFile, Path: path})
	p, _ := openTest(t, cfg, Deps{SigningKey: key})
	writeN(t, p, 0, 35)
	closeTest(t, p)
	lines := readLinesOf(t, path)
	// With one writer and no timed checkpoint within the test (every: 1h), where checkpoints
	// go does not depend on timing; the tests index into the trail by it. The spool's copy
	// tells a line lost in delivery from one never written.
	if got, want := trailShape(t, lines), "r10 c r10 c r10 c r5 c"; got != want {
		t.Fatalf("the sink holds %q (%d lines), want %q; the spool holds %q",
			got, len(lines), want, spooledShape(t, cfg.Spool.Dir))
	}
	return lines, key
}

// relink edits a record and recomputes its hash after head, as an attacker who knows the
// format would.
func relink(t *testing.T, line []byte, head chainHead, edit func(map[string]any, chainHead)) ([]byte, chainHead) {
	t.Helper()
	m, err := decodeObject(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	edit(m, head)
	out, next, err := link(m, head)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n'), next
}

func headBefore(t *testing.T, line []byte) chainHead {
	t.Helper()
	l, err := parseLinked(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	return chainHead{ID: l.chain.ID, Seq: l.chain.Seq - 1, Hash: l.chain.PrevHash}
}

func TestVerifyAcceptsAnIntactTrail(t *testing.T) {
	lines, key := makeTrail(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeTrail(t, path, lines)
	pub := key.Public().(ed25519.PublicKey)

	rep, err := Verify([]string{path}, VerifyOptions{PublicKey: pub})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	chainID := headBefore(t, lines[0]).ID
	want := VerifyReport{Files: 1, Records: 39, Checkpoints: 4, Verified: 4,
		Chains: []ChainReport{{ID: chainID, First: 1, Last: 39, LastSigned: 39}}}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}

	// Without a key, the same trail passes on hashes and order, and says so.
	rep, err = Verify([]string{path}, VerifyOptions{})
	if err != nil || rep.Verified != 0 || rep.Checkpoints != 4 || rep.Chains[0].LastSigned != 0 {
		t.Errorf("without a key: %+v, %v; want 4 checkpoints seen and none verified", rep, err)
	}

	// Rotated files, oldest first, the older one compressed as logrotate does.
	old := filepath.Join(dir, "audit.jsonl.1.gz")
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(bytes.Join(lines[:20], nil))
	zw.Close()
	os.WriteFile(old, z.Bytes(), 0o600)
	cur := filepath.Join(dir, "audit.jsonl.cur")
	writeTrail(t, cur, lines[20:])
	if rep, err := Verify([]string{old, cur}, VerifyOptions{PublicKey: pub}); err != nil || rep.Records != 39 {
		t.Errorf("rotated files: %+v, %v", rep, err)
	}

	// Redelivery after a crash repeats records: identical ones are skipped and counted.
	redelivered := slices.Concat(lines[:30], lines[27:30], lines[30:])
	writeTrail(t, path, redelivered)
	if rep, err := Verify([]string{path}, VerifyOptions{PublicKey: pub}); err != nil || rep.Duplicates != 3 || rep.Records != 39 {
		t.Errorf("redelivered: %+v, %v; want 3 duplicates", rep, err)
	}

	// A trail whose oldest file was deleted starts mid-chain: that is not an error.
	writeTrail(t, path, lines[15:])
	if rep, err := Verify([]string{path}, VerifyOptions{PublicKey: pub}); err != nil || rep.Chains[0].First != 16 {
		t.Errorf("mid-chain start: %+v, %v", rep, err)
	}
}

func TestVerifyFindsEachKindOfTampering(t *testing.T) {
	lines, key := makeTrail(t)
	pub := key.Public().(ed25519.PublicKey)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	clone := func() [][]byte {
		out := make([][]byte, len(lines))
		for i, l := range lines {
			out[i] = bytes.Clone(l)
		}
		return out
	}
	// lines[4] is seq 5 (user4); lines[10] is the checkpoint at seq 11.
	for _, tc := range []struct {
		name     string
		tamper   func() [][]byte
		key      ed25519.PublicKey
		kind     string
		line     int
		inMsg    string
		extraArg bool // verify as two files: lines[:20], lines[20:]
	}{
		{name: "field edited", kind: kindEdited, line: 5, inMsg: "seq 5 hashes to", tamper: func() [][]byte {
			l := clone()
			l[4] = bytes.Replace(l[4], []byte("user4@example.com"), []byte("user4@evil.example"), 1)
			return l
		}},
		{name: "edited and rehashed", kind: kindBrokenLink, line: 6, inMsg: "seq 5 was edited or replaced", tamper: func() [][]byte {
			l := clone()
			l[4], _ = relink(t, l[4], headBefore(t, l[4]), func(m map[string]any, _ chainHead) {
				m["user"].(map[string]any)["email"] = "someone@else.example"
			})
			return l
		}},
		{name: "record deleted", kind: kindGap, line: 5, inMsg: "jumps from seq 4", tamper: func() [][]byte {
			return slices.Delete(clone(), 4, 5)
		}},
		{name: "records swapped", kind: kindReorder, line: 5, inMsg: "seq 6 of chain", tamper: func() [][]byte {
			l := clone()
			l[4], l[5] = l[5], l[4]
			return l
		}},
		{name: "record moved later", kind: kindReorder, line: 5, tamper: func() [][]byte {
			l := clone()
			moved := l[4]
			l = slices.Delete(l, 4, 5)
			return slices.Insert(l, 20, moved)
		}},
		{name: "last line cut off", kind: kindTruncated, line: 39, tamper: func() [][]byte {
			l := clone()
			l[38] = l[38][:len(l[38])/2]
			return l
		}},
		{name: "not JSON", kind: kindMalformed, line: 3, tamper: func() [][]byte {
			l := clone()
			l[2] = []byte("hello\n")
			return l
		}},
		{name: "record without chain", kind: kindNoChain, line: 3, tamper: func() [][]byte {
			l := clone()
			l[2] = []byte(`{"@timestamp":"2026-01-01T00:00:00Z","event":{"id":"x","action":"login"}}` + "\n")
			return l
		}},
		{name: "reformatted", kind: kindEdited, line: 3, inMsg: "canonical form", tamper: func() [][]byte {
			l := clone()
			l[2] = bytes.Replace(l[2], []byte(`{"@timestamp":`), []byte(`{ "@timestamp": `), 1)
			return l
		}},
		{name: "duplicate key shadows a field", kind: kindEdited, line: 3, tamper: func() [][]byte {
			l := clone()
			l[2] = bytes.Replace(l[2], []byte(`{"@timestamp":`), []byte(`{"user":{"email":"forged@example.com"},"@timestamp":`), 1)
			return l
		}},
		{name: "seq replayed with other content", kind: kindEdited, line: 6, inMsg: "second time", tamper: func() [][]byte {
			l := clone()
			forged, _ := relink(t, l[3], headBefore(t, l[3]), func(m map[string]any, _ chainHead) { m["user"].(map[string]any)["email"] = "x@y" })
			return slices.Insert(l, 5, forged)
		}},
		{name: "checkpoint signature altered", key: pub, kind: kindBadSignature, line: 11, inMsg: "does not verify", tamper: func() [][]byte {
			l := clone()
			cp, _ := relink(t, l[10], headBefore(t, l[10]), func(m map[string]any, _ chainHead) {
				sig := m["tollgate.checkpoint"].(map[string]any)["signature"].(string)
				m["tollgate.checkpoint"].(map[string]any)["signature"] = "AAAA" + sig[4:]
			})
			// Keep the rest of the chain linked, so only the signature is wrong.
			l[10] = cp
			head := headBefore(t, cp)
			head = chainHead{ID: head.ID, Seq: head.Seq + 1, Hash: mustParse(t, cp).chain.Hash}
			for i := 11; i < len(l); i++ {
				l[i], head = relink(t, l[i], head, rewriteCheckpoint)
			}
			return l
		}},
		{name: "signed by another key", key: otherKey.Public().(ed25519.PublicKey), kind: kindBadSignature, line: 11, inMsg: "signed with key", tamper: clone},
		{name: "chain rewritten after an edit", key: pub, kind: kindBadSignature, line: 11, tamper: func() [][]byte {
			// The attacker edits seq 5, recomputes every later hash and points each checkpoint
			// at the new hashes; only the signature can tell.
			l := clone()
			head := headBefore(t, l[4])
			l[4], head = relink(t, l[4], head, func(m map[string]any, _ chainHead) { m["user"].(map[string]any)["email"] = "ghost@example.com" })
			for i := 5; i < len(l); i++ {
				l[i], head = relink(t, l[i], head, rewriteCheckpoint)
			}
			return l
		}},
		{name: "files in the wrong order", kind: kindReorder, line: 1, extraArg: true, tamper: clone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := tc.tamper()
			files := []string{filepath.Join(dir, "audit.jsonl")}
			if tc.extraArg {
				files = []string{filepath.Join(dir, "new.jsonl"), filepath.Join(dir, "old.jsonl")}
				writeTrail(t, files[0], l[20:])
				writeTrail(t, files[1], l[:20])
			} else {
				writeTrail(t, files[0], l)
				if tc.kind == kindTruncated {
					os.WriteFile(files[0], bytes.TrimSuffix(readAll(t, files[0]), []byte("\n")), 0o600)
				}
			}
			_, err := Verify(files, VerifyOptions{PublicKey: tc.key})
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			wantFile := files[0]
			if tc.extraArg {
				wantFile = files[1]
			}
			if ve.Kind != tc.kind || ve.Line != tc.line || ve.File != wantFile || !strings.Contains(ve.Error(), tc.inMsg) {
				t.Errorf("got %s (kind %s)\nwant kind %s at %s:%d mentioning %q", ve, ve.Kind, tc.kind, wantFile, tc.line, tc.inMsg)
			}
			if !strings.HasPrefix(ve.Error(), ve.File+":") {
				t.Errorf("message %q does not start with file:line", ve)
			}
		})
	}

	// Without the key, a fully rewritten chain cannot be told from the real one: the report
	// must say checkpoints were not verified.
	t.Run("rewritten chain without key", func(t *testing.T) {
		l := make([][]byte, len(lines))
		copy(l, lines)
		head := headBefore(t, l[4])
		l[4], head = relink(t, l[4], head, func(m map[string]any, _ chainHead) { m["user"].(map[string]any)["email"] = "ghost@example.com" })
		for i := 5; i < len(l); i++ {
			l[i], head = relink(t, l[i], head, rewriteCheckpoint)
		}
		path := filepath.Join(t.TempDir(), "a.jsonl")
		writeTrail(t, path, l)
		rep, err := Verify([]string{path}, VerifyOptions{})
		if err != nil || rep.Verified != 0 {
			t.Fatalf("got %+v, %v; want hashes to pass and no checkpoint verified", rep, err)
		}
	})
}

// rewriteCheckpoint points a checkpoint at the (rewritten) record before it.
func rewriteCheckpoint(m map[string]any, head chainHead) {
	if cp, ok := m["tollgate.checkpoint"].(map[string]any); ok {
		cp["hash"] = head.Hash
		cp["seq"] = head.Seq
	}
}

func mustParse(t *testing.T, line []byte) linked {
	t.Helper()
	l, err := parseLinked(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
