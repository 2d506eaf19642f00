package session

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/redistest"
)

// twoReplicas returns two cached stores on one Redis, each with its own client, as two gate
// replicas have them, and a plain store on a third client for writes no cache hears of.
func twoReplicas(t testing.TB, srv *redistest.Server, opt Options) (a, b *CachedStore, plain *RedisStore) {
	t.Helper()
	a = newCached(t, redisClientTB(t, srv), opt, CacheOptions{TTL: time.Hour})
	b = newCached(t, redisClientTB(t, srv), opt, CacheOptions{TTL: time.Hour})
	return a, b, NewRedis(redisClientTB(t, srv), opt)
}

func TestCacheInvalidatesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	a, b, plain := twoReplicas(t, srv, Options{})
	ctx := t.Context()
	promoted := sample(alice)
	promoted.Roles = []string{"administrator"}
	for _, c := range []struct {
		name  string
		write func(tok string) error
		check func(s Session, err error) bool // true once B shows the write
	}{
		{"update", func(tok string) error { return a.Update(ctx, tok, promoted) },
			func(s Session, err error) bool { return err == nil && slices.Equal(s.Roles, promoted.Roles) }},
		{"delete", func(tok string) error { return a.Delete(ctx, tok) }, isNotFound},
		{"delete user", func(string) error { _, err := a.DeleteUser(ctx, alice.UserKey()); return err }, isNotFound},
		{"delete by id", func(tok string) error { return a.DeleteByID(ctx, alice.UserKey(), sessionID(tok)) }, isNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := a.Create(ctx, sample(alice))
			if err != nil {
				t.Fatal(err)
			}
			mustGetCached(t, b, tok)
			if err := c.write(tok); err != nil {
				t.Fatalf("write on A: %v", err)
			}
			// B acknowledged before A returned: its very next Get shows the write.
			if s, err := b.Get(ctx, tok); !c.check(s, err) {
				t.Errorf("first Get on B after the write returned on A = roles %q, %v", s.Roles, err)
			}
		})
	}

	// The control: a delete that publishes nothing leaves B serving the session from memory,
	// so the cases above pass because of the invalidations, not because B never cached.
	t.Run("control: a write without invalidation is not seen", func(t *testing.T) {
		tok, err := a.Create(ctx, sample(alice))
		if err != nil {
			t.Fatal(err)
		}
		mustGetCached(t, b, tok)
		if err := plain.Delete(ctx, tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if _, err := b.Get(ctx, tok); err != nil {
			t.Fatalf("Get on B = %v; want the cached session, which shows B caches", err)
		}
	})
}

func isNotFound(_ Session, err error) bool { return errors.Is(err, ErrNotFound) }

// revocationTrial signs alice in, warms B's cache, then revokes all her sessions on A while a
// goroutine reads the session on B in a tight loop. It returns how many of B's Gets that
// began after the revocation returned still got the session, and how long after the return
// B first refused it.
func revocationTrial(tb testing.TB, a, b *CachedStore) (stale int, window time.Duration) {
	tb.Helper()
	ctx := context.Background()
	tok, err := a.Create(ctx, sample(alice))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := b.Get(ctx, tok); err != nil {
		tb.Fatal(err)
	}
	var revokedAt atomic.Int64 // unix ns once DeleteUser has returned on A
	type result struct {
		stale  int
		refuse time.Time
		err    error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			after := revokedAt.Load() != 0
			_, err := b.Get(ctx, tok)
			switch {
			case errors.Is(err, ErrNotFound):
				r.refuse = time.Now()
				done <- r
				return
			case err != nil:
				r.err = err
				done <- r
				return
			case after:
				r.stale++
			}
		}
		r.err = errors.New("B served the session for 5s after it was revoked")
		done <- r
	}()
	time.Sleep(200 * time.Microsecond) // let the reader run
	if _, err := a.DeleteUser(ctx, alice.UserKey()); err != nil {
		tb.Fatal(err)
	}
	returned := time.Now()
	revokedAt.Store(returned.UnixNano())
	r := <-done
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return r.stale, max(0, r.refuse.Sub(returned))
}

// Revoking on one replica is seen by the other before the revocation returns: not one of
// B's requests that began afterwards is served, in any trial.
func TestRevocationWindow(t *testing.T) {
	srv := redistest.Start(t)
	a, b, _ := twoReplicas(t, srv, Options{})
	for i := range 50 {
		if stale, window := revocationTrial(t, a, b); stale != 0 {
			t.Errorf("trial %d: B served the revoked session %d times after the revocation returned (refused after %v)", i, stale, window)
		}
	}
}

// A subscriber that never acknowledges (another tool listening on the channel, a replica
// that hangs) delays a write by at most confirmWait, and does not fail it.
func TestUnconfirmedInvalidationIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	a := newCached(t, redisClientTB(t, srv), Options{}, CacheOptions{})
	silent := redisClientTB(t, srv).Subscribe(t.Context(), DefaultCacheChannel)
	t.Cleanup(func() { _ = silent.Close() })
	if _, err := silent.Receive(t.Context()); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	tok, err := a.Create(t.Context(), sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Delete(t.Context(), tok); err != nil {
		t.Fatalf("Delete with a silent subscriber: %v", err)
	}
	if d := time.Since(start); d < confirmWait/2 || d > confirmWait+time.Second {
		t.Errorf("Delete took %v with a silent subscriber, want about confirmWait (%v)", d, confirmWait)
	}
}

// BenchmarkRevocationWindow reports, over b.N revocations on replica A, how many of replica
// B's requests that began after the revocation returned were still served from B's cache:
// zero-% is the share of revocations with none, stale-p50/p99/max the distribution, and
// window-us/op how long after the return B first refused.
func BenchmarkRevocationWindow(b *testing.B) {
	srv := redistest.Start(b)
	ra, rb, _ := twoReplicas(b, srv, Options{})
	var counts []int
	var windows time.Duration
	for b.Loop() {
		stale, window := revocationTrial(b, ra, rb)
		counts = append(counts, stale)
		windows += window
	}
	slices.Sort(counts)
	zero := 0
	for _, c := range counts {
		if c == 0 {
			zero++
		}
	}
	n := len(counts)
	b.ReportMetric(100*float64(zero)/float64(n), "zero-%")
	b.ReportMetric(float64(counts[n/2]), "stale-p50")
	b.ReportMetric(float64(counts[min(n-1, n*99/100)]), "stale-p99")
	b.ReportMetric(float64(counts[n-1]), "stale-max")
	b.ReportMetric(float64(windows.Microseconds())/float64(n), "window-us/op")
}

// A message published while the channel is broken is lost, so no entry from before may be
// served once it is back.
func TestCacheBypassesWhileChannelIsDown(t *testing.T) {
	srv := redistest.Start(t)
	reg := prometheus.NewRegistry()
	opt := Options{}
	b := newCached(t, newRedisClient(t, srv), opt, CacheOptions{TTL: time.Hour, Registerer: reg})
	admin := newRedisClient(t, srv)
	plain := NewRedis(admin, opt)
	ctx := t.Context()
	tok, err := plain.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	mustGetCached(t, b, tok)
	subscribed := metric(t, reg, "tollgate_session_cache_subscriptions_total", "")
	if err := admin.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	// The revocation nobody hears of, as if published while B was disconnected.
	if err := plain.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, reg, "tollgate_session_cache_subscriptions_total", "") == subscribed || !b.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("B did not resubscribe within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := b.Get(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get on B after resubscribing = %v, want ErrNotFound (an entry outlived the lost message)", err)
	}

	// Back to normal: a new session is cached again.
	tok, err = plain.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	mustGetCached(t, b, tok)
	hits := metric(t, reg, "tollgate_session_cache_total", "hit")
	mustGetCached(t, b, tok)
	if got := metric(t, reg, "tollgate_session_cache_total", "hit"); got != hits+1 {
		t.Errorf("hits went from %v to %v after resubscribing, want one more", hits, got)
	}
}

// A Redis outage is "store unavailable", never "signed out": Get fails fast with an error
// other than ErrNotFound, the cached copy is not served meanwhile, and the session works
// again once Redis is back.
func TestCacheOutageFailsClosedAndKeepsSessions(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	reg := prometheus.NewRegistry()
	c := newCached(t, newRedisClient(t, srv), Options{}, CacheOptions{TTL: time.Hour, Registerer: reg})
	ctx := t.Context()
	tok, err := c.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	mustGetCached(t, c, tok)

	srv.Stop()
	waitHealthy(t, c, false)
	if g := metric(t, reg, "tollgate_session_cache_healthy", ""); g != 0 {
		t.Errorf("healthy gauge = %v during the outage, want 0", g)
	}
	start := time.Now()
	_, err = c.Get(ctx, tok)
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get during the outage = %v, want a store error (not a session, not ErrNotFound)", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Get during the outage took %v", d)
	}
	if err := c.Delete(ctx, tok); err == nil {
		t.Error("Delete during the outage reported success")
	}
	if n := metric(t, reg, "tollgate_session_cache_total", "bypass"); n < 1 {
		t.Errorf("bypass counter = %v, want at least 1", n)
	}

	srv.Restart()
	waitHealthy(t, c, true)
	if _, err := c.Get(ctx, tok); err != nil {
		t.Fatalf("Get after the outage: %v; the session must outlive a store outage", err)
	}
}

// A cache that cannot subscribe (here: its Redis user may not) never serves from memory:
// it would hear of no revocation.
func TestCacheBypassesWhileUnsubscribed(t *testing.T) {
	srv := redistest.Start(t)
	admin := redisClientTB(t, srv)
	ctx := t.Context()
	if err := admin.Do(ctx, "ACL", "SETUSER", "nosub", "on", ">pw", "~*", "&*", "+@all", "-subscribe", "-psubscribe").Err(); err != nil {
		t.Fatal(err)
	}
	client, err := RedisConfig{Addrs: []string{srv.Addr()}, Username: "nosub", Password: "pw"}.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	reg := prometheus.NewRegistry()
	c, err := NewCached(client, Options{}, CacheOptions{TTL: time.Hour, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	plain := NewRedis(admin, Options{})
	tok, err := plain.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // several subscription attempts
	if c.Healthy() {
		t.Fatal("the cache reports a subscription its user may not have")
	}
	for range 3 {
		mustGetCached(t, c, tok)
	}
	if err := plain.Delete(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after a delete = %v, want ErrNotFound (served from memory without a subscription)", err)
	}
	if n := metric(t, reg, "tollgate_session_cache_total", "bypass"); n != 4 {
		t.Errorf("bypass counter = %v, want 4", n)
	}
	if n := metric(t, reg, "tollgate_session_cache_healthy", ""); n != 0 {
		t.Errorf("healthy gauge = %v, want 0", n)
	}
}
