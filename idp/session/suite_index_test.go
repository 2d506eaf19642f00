package session

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/idp"
)

// Suite cases for the per-user index and single-use values.

func testDeleteUser(t *testing.T, h harness, clock *fakeClock) {
	expired := mustCreate(t, h, sample(alice))
	clock.Advance(suiteIdle)
	var toks []string
	for range 3 {
		toks = append(toks, mustCreate(t, h, sample(alice)))
	}
	bobs := mustCreate(t, h, sample(bob))
	n, err := h.DeleteUser(t.Context(), alice.UserKey())
	if err != nil || n != 3 {
		t.Fatalf("DeleteUser = %d, %v; want 3 live sessions ended", n, err)
	}
	for _, tok := range append(toks, expired) {
		wantGone(t, h, tok)
	}
	mustGet(t, h, bobs)
	if infos, err := h.ListUser(t.Context(), alice.UserKey()); err != nil || len(infos) != 0 {
		t.Errorf("ListUser after DeleteUser = %v, %v", infos, err)
	}
	if n, err := h.DeleteUser(t.Context(), alice.UserKey()); err != nil || n != 0 {
		t.Errorf("second DeleteUser = %d, %v; want 0", n, err)
	}
}

func testListUser(t *testing.T, h harness, clock *fakeClock) {
	t0 := clock.Now()
	var toks []string
	for i := range 3 {
		toks = append(toks, mustCreate(t, h, sample(alice)))
		if i == 0 {
			mustCreate(t, h, sample(bob))
		}
		clock.Advance(time.Minute)
	}
	clock.Advance(suiteIdle - 3*time.Minute) // the first one just went idle
	got, err := h.ListUser(t.Context(), alice.UserKey())
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{
		{ID: sessionID(toks[1]), CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Minute + suiteAbsolute)},
		{ID: sessionID(toks[2]), CreatedAt: t0.Add(2 * time.Minute), ExpiresAt: t0.Add(2*time.Minute + suiteAbsolute)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListUser (-want +got):\n%s", diff)
	}
	if got, err := h.ListUser(t.Context(), idp.UserKey("https://idp", "nobody")); err != nil || len(got) != 0 {
		t.Errorf("ListUser(unknown) = %v, %v", got, err)
	}
}

func testDeleteByID(t *testing.T, h harness, _ *fakeClock) {
	a1 := mustCreate(t, h, sample(alice))
	a2 := mustCreate(t, h, sample(alice))
	b := mustCreate(t, h, sample(bob))
	if err := h.DeleteByID(t.Context(), alice.UserKey(), sessionID(b)); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteByID(alice, bob's id) = %v, want ErrNotFound", err)
	}
	mustGet(t, h, b)
	for _, id := range []string{"", "zz", strings.Repeat("g", 64), a1} {
		if err := h.DeleteByID(t.Context(), alice.UserKey(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteByID(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if err := h.DeleteByID(t.Context(), alice.UserKey(), sessionID(a1)); err != nil {
		t.Fatalf("DeleteByID(own) = %v", err)
	}
	wantGone(t, h, a1)
	mustGet(t, h, a2)
	if err := h.DeleteByID(t.Context(), alice.UserKey(), sessionID(a1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteByID = %v, want ErrNotFound", err)
	}
	infos, err := h.ListUser(t.Context(), alice.UserKey())
	if err != nil || len(infos) != 1 || infos[0].ID != sessionID(a2) {
		t.Errorf("ListUser = %v, %v; want only a2", infos, err)
	}
}

func testPutTakeOnce(t *testing.T, h harness, clock *fakeClock) {
	ctx := t.Context()
	if err := h.PutOnce(ctx, "state-1", []byte("verifier"), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := h.PutOnce(ctx, "state-1", []byte("replaced"), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := h.TakeOnce(ctx, "state-1")
	if err != nil || string(got) != "replaced" {
		t.Fatalf("TakeOnce = %q, %v", got, err)
	}
	if _, err := h.TakeOnce(ctx, "state-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second TakeOnce = %v, want ErrNotFound", err)
	}
	if _, err := h.TakeOnce(ctx, "never-put"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TakeOnce(unknown) = %v, want ErrNotFound", err)
	}
	if err := h.PutOnce(ctx, "state-2", []byte("v"), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute)
	if _, err := h.TakeOnce(ctx, "state-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TakeOnce after ttl = %v, want ErrNotFound", err)
	}
	for _, c := range []struct {
		key string
		ttl time.Duration
	}{{"", time.Minute}, {"k", 0}, {"k", -time.Second}} {
		if err := h.PutOnce(ctx, c.key, []byte("v"), c.ttl); err == nil {
			t.Errorf("PutOnce(%q, %v) accepted", c.key, c.ttl)
		}
	}
}

func testTakeOnceRace(t *testing.T, h harness, _ *fakeClock) {
	for round := range 10 {
		key := "race-" + string(rune('a'+round))
		if err := h.PutOnce(t.Context(), key, []byte(key), time.Minute); err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		results := make(chan error, 20)
		var wins sync.WaitGroup
		var mu sync.Mutex
		var won [][]byte
		for range 20 {
			wins.Go(func() {
				<-start
				v, err := h.TakeOnce(t.Context(), key)
				if err == nil {
					mu.Lock()
					won = append(won, v)
					mu.Unlock()
				}
				results <- err
			})
		}
		close(start)
		wins.Wait()
		close(results)
		for err := range results {
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Errorf("TakeOnce: %v", err)
			}
		}
		if diff := cmp.Diff([][]byte{[]byte(key)}, won, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round %d winners (-want +got):\n%s", round, diff)
		}
	}
}
