package session

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func newEmbeddedHarness(t *testing.T, opt Options) harness {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "sessions.db")
	st, err := NewEmbedded(path, opt)
	if err != nil {
		t.Fatalf("NewEmbedded: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return harness{
		store: st,
		raw: func(t *testing.T) []byte {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The file keeps sealed bytes base64-encoded; add them decoded so that a clear
			// text inside the seal would be seen too.
			err = st.db.View(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(bucketSessions)).ForEach(func(_, v []byte) error {
					b = append(b, decodeRecord(v).Sealed...)
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		writes: func(*testing.T) int64 {
			stats := st.db.Stats()
			return stats.TxStats.GetWrite()
		},
	}
}

func TestEmbeddedStore(t *testing.T) {
	runStoreSuite(t, newEmbeddedHarness)
}

func TestEmbeddedSurvivesRestart(t *testing.T) {
	clock := newFakeClock()
	opt := Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now}
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := NewEmbedded(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.Create(t.Context(), sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	before, err := st.Get(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutOnce(t.Context(), "state", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = NewEmbedded(path, opt)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st.Close()
	after, err := st.Get(t.Context(), tok)
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("session changed across restart (-before +after):\n%s", diff)
	}
	if infos, err := st.ListUser(t.Context(), alice.UserKey()); err != nil || len(infos) != 1 {
		t.Errorf("ListUser after reopen = %v, %v", infos, err)
	}
	if v, err := st.TakeOnce(t.Context(), "state"); err != nil || string(v) != "v" {
		t.Errorf("TakeOnce after reopen = %q, %v", v, err)
	}
}

func TestEmbeddedFileIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data")
	path := filepath.Join(dir, "sessions.db")
	st, err := NewEmbedded(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	wantMode(t, dir, 0o700)
	wantMode(t, path, 0o600)

	// A file made readable by someone else is made private again on open.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = NewEmbedded(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	wantMode(t, path, 0o600)
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func TestEmbeddedSecondOpenFailsClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	first, err := NewEmbedded(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	second, err := NewEmbedded(path, Options{})
	if err == nil {
		_ = second.Close()
		t.Fatal("a second open of a locked file succeeded")
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("error does not say the file is locked: %v", err)
	}
	if d := time.Since(start); d > lockTimeout+2*time.Second {
		t.Errorf("second open took %v", d)
	}
	_ = first.Close()
	again, err := NewEmbedded(path, Options{})
	if err != nil {
		t.Fatalf("open after the holder closed: %v", err)
	}
	_ = again.Close()
}

func TestEmbeddedSweepKeepsFileBounded(t *testing.T) {
	clock := newFakeClock()
	h := newEmbeddedHarness(t, Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now})
	st := h.store.(*EmbeddedStore)
	for i := range 150 {
		if _, err := st.Create(t.Context(), sample(alice)); err != nil {
			t.Fatal(err)
		}
		if err := st.PutOnce(t.Context(), "k"+string(rune(0x100+i)), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(suiteAbsolute)
	// Each write removes at most sweepMax expired entries, so two writes clear 150.
	for _, want := range []int{150 - sweepMax + 1, 2} {
		if _, err := st.Create(t.Context(), sample(alice)); err != nil {
			t.Fatal(err)
		}
		if err := st.PutOnce(t.Context(), "fresh"+string(rune('0'+want)), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
		counts := bucketCounts(t, st)
		if counts[bucketSessions] != want || counts[bucketOnce] != want || counts["users/alice"] != want {
			t.Errorf("after a write: %v entries, want %d in each", counts, want)
		}
	}
}

func bucketCounts(t *testing.T, st *EmbeddedStore) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := st.db.View(func(tx *bolt.Tx) error {
		out[bucketSessions] = tx.Bucket([]byte(bucketSessions)).Stats().KeyN
		out[bucketOnce] = tx.Bucket([]byte(bucketOnce)).Stats().KeyN
		if ub := tx.Bucket([]byte(bucketUsers)).Bucket([]byte(alice.UserKey())); ub != nil {
			out["users/alice"] = ub.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A failing file must never read as "signed out": only ErrNotFound does that.
func TestEmbeddedClosedStoreIsAnError(t *testing.T) {
	h := newEmbeddedHarness(t, Options{})
	tok, err := h.Create(t.Context(), sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Get(t.Context(), tok); err != nil {
		t.Fatalf("control: Get on the open store: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{
		"Ping":     h.Ping(t.Context()),
		"Get":      func() error { _, err := h.Get(t.Context(), tok); return err }(),
		"Create":   func() error { _, err := h.Create(t.Context(), sample(alice)); return err }(),
		"Update":   h.Update(t.Context(), tok, sample(alice)),
		"TakeOnce": func() error { _, err := h.TakeOnce(t.Context(), "k"); return err }(),
		"ListUser": func() error { _, err := h.ListUser(t.Context(), alice.UserKey()); return err }(),
	}
	for name, err := range checks {
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s on a closed store = %v, want an error other than ErrNotFound", name, err)
		}
	}
}
