package session

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func newEmbeddedAt(t *testing.T, clock *fakeClock) *EmbeddedStore {
	t.Helper()
	st, err := NewEmbedded(filepath.Join(t.TempDir(), "sessions.db"), Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// corrupt overwrites a session's record behind the store's back, as nothing else can: a Get
// that still succeeds afterwards was answered from memory.
func corrupt(t *testing.T, st *EmbeddedStore, tok string) {
	t.Helper()
	err := st.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketSessions)).Put([]byte(sessionID(tok)), []byte("{}"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedCacheAnswersFromMemory(t *testing.T) {
	clock := newFakeClock()
	st := newEmbeddedAt(t, clock)
	tok, err := st.Create(t.Context(), sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Get(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	corrupt(t, st, tok)
	again, err := st.Get(t.Context(), tok)
	if err != nil {
		t.Fatalf("Get after the record was overwritten = %v: the session was not cached", err)
	}
	if again.ID != first.ID || again.Identity.Email != alice.Email {
		t.Fatalf("cached session %+v, want %+v", again, first)
	}
	// What the caller gets is its own copy.
	again.Roles[0] = "administrator"
	if s, _ := st.Get(t.Context(), tok); s.Roles[0] != "billing_manager" {
		t.Fatalf("a caller's change reached the cache: roles %v", s.Roles)
	}
	// The timeouts are still applied to a cached session: when a touch is due the file is
	// read again (and found damaged here, so the session ends).
	clock.Advance(suiteIdle / 10)
	if _, err := st.Get(t.Context(), tok); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get with a touch due = %v, want ErrNotFound from the damaged record", err)
	}
}

func TestEmbeddedCacheTimeouts(t *testing.T) {
	clock := newFakeClock()
	st := newEmbeddedAt(t, clock)
	tok, _ := st.Create(t.Context(), sample(alice))
	for range 12 { // past the absolute timeout, touching all the way
		if _, err := st.Get(t.Context(), tok); err != nil {
			t.Fatalf("at %v: %v", clock.Now(), err)
		}
		clock.Advance(5 * time.Minute)
	}
	if _, err := st.Get(t.Context(), tok); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after the absolute timeout = %v, want ErrNotFound", err)
	}
	idle, _ := st.Create(t.Context(), sample(bob))
	st.Get(t.Context(), idle)
	clock.Advance(suiteIdle)
	if _, err := st.Get(t.Context(), idle); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after the idle timeout = %v, want ErrNotFound", err)
	}
}

// TestEmbeddedCacheForgetsEveryWrite: each way a session changes or ends is seen by the next
// Get, though the previous Get put the session in memory.
func TestEmbeddedCacheForgetsEveryWrite(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(st *EmbeddedStore, tok string) error
		check func(s Session, err error) error
	}{
		{"update", func(st *EmbeddedStore, tok string) error {
			s := sample(alice)
			s.Roles = []string{"support"}
			return st.Update(t.Context(), tok, s)
		}, func(s Session, err error) error {
			if err != nil || len(s.Roles) != 1 || s.Roles[0] != "support" {
				return errors.New("the old roles were served")
			}
			return nil
		}},
		{"delete", func(st *EmbeddedStore, tok string) error { return st.Delete(t.Context(), tok) }, ended},
		{"delete user", func(st *EmbeddedStore, _ string) error {
			_, err := st.DeleteUser(t.Context(), alice.UserKey())
			return err
		}, ended},
		{"delete by id", func(st *EmbeddedStore, tok string) error {
			return st.DeleteByID(t.Context(), alice.UserKey(), sessionID(tok))
		}, ended},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newEmbeddedAt(t, newFakeClock())
			tok, _ := st.Create(t.Context(), sample(alice))
			if _, err := st.Get(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			if err := c.write(st, tok); err != nil {
				t.Fatal(err)
			}
			if err := c.check(st.Get(t.Context(), tok)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func ended(_ Session, err error) error {
	if !errors.Is(err, ErrNotFound) {
		return errors.New("the ended session was served")
	}
	return nil
}

// TestEmbeddedCacheRevocationRace: readers hammer a session while it is deleted; no Get that
// starts after Delete returned may find it, including one that read the record just before.
func TestEmbeddedCacheRevocationRace(t *testing.T) {
	st, err := NewEmbedded(filepath.Join(t.TempDir(), "sessions.db"), Options{Idle: time.Hour, Absolute: 12 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for round := range 200 {
		tok, _ := st.Create(t.Context(), sample(alice))
		var deleted atomic.Bool
		var stale atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := deleted.Load()
					if _, err := st.Get(t.Context(), tok); err == nil && after {
						stale.Add(1)
					}
				}
			})
		}
		time.Sleep(200 * time.Microsecond)
		if err := st.Delete(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		deleted.Store(true)
		time.Sleep(200 * time.Microsecond)
		close(stop)
		wg.Wait()
		if n := stale.Load(); n > 0 {
			t.Fatalf("round %d: %d reads after Delete returned found the session", round, n)
		}
		if _, err := st.Get(t.Context(), tok); !errors.Is(err, ErrNotFound) {
			t.Fatalf("round %d: Get after Delete = %v", round, err)
		}
	}
}
