package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/redistest"
)

// guard is what both stores offer for replay guards and attempt limits.
type guard interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	Peek(ctx context.Context, key string) (int64, time.Time, error)
	Reset(ctx context.Context, key string) error
}

var (
	_ guard = (*EmbeddedStore)(nil)
	_ guard = (*RedisStore)(nil)
)

func TestEmbeddedGuard(t *testing.T) { runGuardSuite(t, newEmbeddedHarness) }

func TestRedisGuard(t *testing.T) { runGuardSuite(t, newRedisHarness(redistest.Start(t))) }

// runGuardSuite holds both stores to one behaviour for Claim, Incr, Peek and Reset.
func runGuardSuite(t *testing.T, newHarness func(t *testing.T, opt Options) harness) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, g guard, clock *fakeClock)
	}{
		{"claim once until it expires", testClaim},
		{"claim has one winner under concurrency", testClaimRace},
		{"incr counts in a window fixed at the first increment", testIncrWindow},
		{"incr loses no count under concurrency", testIncrRace},
		{"peek reads without changing", testPeek},
		{"reset", testReset},
		{"bad keys and ttls are refused", testGuardArgs},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := newFakeClock()
			h := newHarness(t, Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now})
			c.run(t, h.store.(guard), clock)
		})
	}
}

func mustClaim(t *testing.T, g guard, key string, ttl time.Duration) bool {
	t.Helper()
	ok, err := g.Claim(t.Context(), key, ttl)
	if err != nil {
		t.Fatalf("Claim(%q): %v", key, err)
	}
	return ok
}

func mustIncr(t *testing.T, g guard, key string, window time.Duration) int64 {
	t.Helper()
	n, err := g.Incr(t.Context(), key, window)
	if err != nil {
		t.Fatalf("Incr(%q): %v", key, err)
	}
	return n
}

func testClaim(t *testing.T, g guard, clock *fakeClock) {
	if !mustClaim(t, g, "totp:u1:100", 90*time.Second) {
		t.Fatal("first Claim = false")
	}
	if mustClaim(t, g, "totp:u1:100", 90*time.Second) {
		t.Error("second Claim of the same key = true")
	}
	if !mustClaim(t, g, "totp:u1:101", 90*time.Second) || !mustClaim(t, g, "totp:u2:100", 90*time.Second) {
		t.Error("Claim of other keys = false")
	}
	clock.Advance(90*time.Second - time.Millisecond)
	if mustClaim(t, g, "totp:u1:100", 90*time.Second) {
		t.Error("Claim just before expiry = true")
	}
	clock.Advance(time.Millisecond)
	if !mustClaim(t, g, "totp:u1:100", 90*time.Second) {
		t.Error("Claim after expiry = false")
	}
}

func testClaimRace(t *testing.T, g guard, _ *fakeClock) {
	for round := range 5 {
		key := "race:" + string(rune('a'+round))
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		start := make(chan struct{})
		for range 20 {
			wg.Go(func() {
				<-start
				ok, err := g.Claim(t.Context(), key, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if wins != 1 {
			t.Fatalf("round %d: %d callers claimed the key, want 1", round, wins)
		}
	}
}

func testIncrWindow(t *testing.T, g guard, clock *fakeClock) {
	const window = 15 * time.Minute
	for want := int64(1); want <= 3; want++ {
		if got := mustIncr(t, g, "attempts:u1", window); got != want {
			t.Fatalf("Incr #%d = %d", want, got)
		}
		clock.Advance(window / 4) // later increments must not slide the window
	}
	if got := mustIncr(t, g, "attempts:u2", window); got != 1 {
		t.Errorf("Incr of another key = %d, want 1", got)
	}
	clock.Advance(window/4 - time.Millisecond) // just before the end of the first window
	if got := mustIncr(t, g, "attempts:u1", window); got != 4 {
		t.Fatalf("Incr at the end of the window = %d, want 4", got)
	}
	clock.Advance(time.Millisecond)
	if got := mustIncr(t, g, "attempts:u1", window); got != 1 {
		t.Errorf("Incr after the window = %d, want a fresh 1", got)
	}
}

func testIncrRace(t *testing.T, g guard, _ *fakeClock) {
	const n = 40
	got := make(chan int64, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			v, err := g.Incr(t.Context(), "attempts:race", time.Minute)
			if err != nil {
				t.Error(err)
			}
			got <- v
		})
	}
	close(start)
	wg.Wait()
	close(got)
	var all []int64
	for v := range got {
		all = append(all, v)
	}
	slices.Sort(all)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("concurrent Incr results (-want +got):\n%s", diff)
	}
}

func testPeek(t *testing.T, g guard, clock *fakeClock) {
	ctx := t.Context()
	peek := func() (int64, time.Time) {
		t.Helper()
		n, exp, err := g.Peek(ctx, "attempts:u1")
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		return n, exp
	}
	if n, exp := peek(); n != 0 || !exp.IsZero() {
		t.Errorf("Peek(absent) = %d, %v", n, exp)
	}
	t0 := clock.Now()
	for range 3 {
		mustIncr(t, g, "attempts:u1", 10*time.Minute)
	}
	for range 2 {
		if n, exp := peek(); n != 3 || !exp.Equal(t0.Add(10*time.Minute)) {
			t.Errorf("Peek = %d, %v; want 3, %v", n, exp, t0.Add(10*time.Minute))
		}
	}
	mustClaim(t, g, "claimed", time.Minute)
	if n, _, err := g.Peek(ctx, "claimed"); err != nil || n != 1 {
		t.Errorf("Peek(claimed) = %d, %v; want 1", n, err)
	}
	clock.Advance(10 * time.Minute)
	if n, exp := peek(); n != 0 || !exp.IsZero() {
		t.Errorf("Peek after expiry = %d, %v", n, exp)
	}
}

func testReset(t *testing.T, g guard, _ *fakeClock) {
	ctx := t.Context()
	for range 3 {
		mustIncr(t, g, "attempts:u1", time.Hour)
	}
	mustIncr(t, g, "attempts:u2", time.Hour)
	if err := g.Reset(ctx, "attempts:u1"); err != nil {
		t.Fatal(err)
	}
	if err := g.Reset(ctx, "never-set"); err != nil {
		t.Errorf("Reset(absent) = %v", err)
	}
	if got := mustIncr(t, g, "attempts:u1", time.Hour); got != 1 {
		t.Errorf("Incr after Reset = %d, want 1", got)
	}
	if got := mustIncr(t, g, "attempts:u2", time.Hour); got != 2 {
		t.Errorf("Reset touched another key: Incr = %d, want 2", got)
	}
}

func testGuardArgs(t *testing.T, g guard, _ *fakeClock) {
	ctx := t.Context()
	for _, c := range []struct {
		key string
		ttl time.Duration
	}{{"", time.Minute}, {"k", 0}, {"k", -time.Second}} {
		if _, err := g.Claim(ctx, c.key, c.ttl); err == nil {
			t.Errorf("Claim(%q, %v) accepted", c.key, c.ttl)
		}
		if _, err := g.Incr(ctx, c.key, c.ttl); err == nil {
			t.Errorf("Incr(%q, %v) accepted", c.key, c.ttl)
		}
	}
	if !mustClaim(t, g, "k", time.Minute) {
		t.Error("control: a refused Claim left the key set")
	}
}

func TestRedisGuardKeysAreNamespaced(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	st := NewRedis(client, Options{})
	ctx := t.Context()
	if _, err := st.Claim(ctx, "totp:u1:7", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Incr(ctx, "mfa-attempts:u1", time.Hour); err != nil {
		t.Fatal(err)
	}
	keys := client.Keys(ctx, "*").Val()
	slices.Sort(keys)
	if want := []string{"tollgate:guard:mfa-attempts:u1", "tollgate:guard:totp:u1:7"}; !slices.Equal(keys, want) {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	// Redis reclaims the memory of a guard once its window is over.
	if ttl := client.PTTL(ctx, "tollgate:guard:mfa-attempts:u1").Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL = %v, want about an hour", ttl)
	}
}

// A guard that cannot be read must fail closed: an error, never "not claimed yet" or a zero
// count that would let a replayed code or a locked-out guess through.
func TestGuardOutagesAreErrors(t *testing.T) {
	ops := func(g guard) map[string]func() error {
		ctx := t.Context()
		return map[string]func() error{
			"Claim": func() error { _, err := g.Claim(ctx, "k", time.Minute); return err },
			"Incr":  func() error { _, err := g.Incr(ctx, "k", time.Minute); return err },
			"Peek":  func() error { _, _, err := g.Peek(ctx, "k"); return err },
			"Reset": func() error { return g.Reset(ctx, "k") },
		}
	}
	check := func(t *testing.T, g guard, breakIt func()) {
		t.Helper()
		for name, op := range ops(g) {
			if err := op(); err != nil {
				t.Fatalf("control: %s on a working store: %v", name, err)
			}
		}
		breakIt()
		for name, op := range ops(g) {
			start := time.Now()
			err := op()
			if err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("%s on a broken store = %v, want an error", name, err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("%s took %v", name, d)
			}
		}
	}
	t.Run("redis down", func(t *testing.T) {
		srv := redistest.Start(t)
		check(t, NewRedis(newRedisClient(t, srv), Options{}), srv.Stop)
	})
	t.Run("embedded closed", func(t *testing.T) {
		h := newEmbeddedHarness(t, Options{})
		check(t, h.store.(guard), func() { _ = h.Close() })
	})
	t.Run("redis wrong type", func(t *testing.T) {
		srv := redistest.Start(t)
		client := newRedisClient(t, srv)
		st := NewRedis(client, Options{})
		if err := client.Set(t.Context(), redisGuardKey("k"), "not a hash", 0).Err(); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"Claim", "Incr", "Peek"} {
			if err := ops(st)[name](); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
				t.Errorf("%s on a damaged key = %v, want the WRONGTYPE error", name, err)
			}
		}
	})
}
