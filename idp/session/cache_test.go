package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
)

var (
	_ store = (*CachedStore)(nil)
	_ guard = (*CachedStore)(nil)
)

// newCached returns a cached store on client that is subscribed (so that it serves from
// memory), with its metrics on reg, closed when the test ends.
func newCached(t testing.TB, client redis.UniversalClient, opt Options, copt CacheOptions) *CachedStore {
	t.Helper()
	c, err := NewCached(client, opt, copt)
	if err != nil {
		t.Fatalf("NewCached: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	waitHealthy(t, c, true)
	return c
}

// redisClientTB is newRedisClient for benchmarks too.
func redisClientTB(tb testing.TB, srv *redistest.Server) redis.UniversalClient {
	tb.Helper()
	client, err := RedisConfig{Addrs: []string{srv.Addr()}}.Client()
	if err != nil {
		tb.Fatalf("Client: %v", err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	return client
}

func waitHealthy(t testing.TB, c *CachedStore, want bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Healthy() != want {
		if time.Now().After(deadline) {
			t.Fatalf("cache Healthy() did not become %v within 10s", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newCachedHarness(srv *redistest.Server) func(t *testing.T, opt Options) harness {
	return func(t *testing.T, opt Options) harness {
		t.Helper()
		client := newRedisClient(t, srv)
		if err := client.FlushAll(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		return harness{
			store:  newCached(t, client, opt, CacheOptions{}),
			raw:    func(t *testing.T) []byte { return redisDump(t, client) },
			writes: func(t *testing.T) int64 { return redisChanges(t, client) },
		}
	}
}

// The cache must behave exactly as the store it stands in for, hits included.
func TestCachedStore(t *testing.T) {
	runStoreSuite(t, newCachedHarness(redistest.Start(t)))
}

func TestCachedGuard(t *testing.T) {
	runGuardSuite(t, newCachedHarness(redistest.Start(t)))
}

func TestTokenKeyIsSessionID(t *testing.T) {
	r := newRules(Options{})
	for range 20 {
		tok, err := newToken(r.rand)
		if err != nil {
			t.Fatal(err)
		}
		k := tokenKey(tok)
		id, ok := idKey(sessionID(tok))
		if !ok || id != k {
			t.Fatalf("tokenKey(%q) = %x, sessionID = %s", tok, k, sessionID(tok))
		}
	}
	if _, ok := idKey("not-an-id"); ok {
		t.Error("idKey accepted a malformed id")
	}
}

// commandCounter counts the commands a client sends, by name.
type commandCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func countCommands(c redis.UniversalClient) *commandCounter {
	cc := &commandCounter{n: map[string]int{}}
	c.AddHook(cc)
	return cc
}

func (cc *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (cc *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		cc.mu.Lock()
		cc.n[cmd.Name()]++
		cc.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (cc *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		cc.mu.Lock()
		for _, cmd := range cmds {
			cc.n[cmd.Name()]++
		}
		cc.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (cc *commandCounter) take() map[string]int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	n := cc.n
	cc.n = map[string]int{}
	return n
}

func TestCacheServesFromMemory(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	clock := newFakeClock()
	reg := prometheus.NewRegistry()
	c := newCached(t, client, Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now}, CacheOptions{Registerer: reg})
	ctx := t.Context()
	tok, err := c.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	cmds := countCommands(client)
	first := mustGetCached(t, c, tok)
	if got := cmds.take(); got["hgetall"] != 1 {
		t.Fatalf("first Get sent %v, want one HGETALL", got)
	}
	for range 100 {
		if diff := cmp.Diff(first, mustGetCached(t, c, tok)); diff != "" {
			t.Fatalf("a hit differs from the first read (-first +hit):\n%s", diff)
		}
	}
	if got := cmds.take(); len(got) != 0 {
		t.Fatalf("100 hits sent %v to Redis, want nothing", got)
	}
	if hits := metric(t, reg, "tollgate_session_cache_total", "hit"); hits != 100 {
		t.Errorf("hit counter = %v, want 100", hits)
	}
	if n := metric(t, reg, "tollgate_session_cache_total", "miss"); n != 1 {
		t.Errorf("miss counter = %v, want 1", n)
	}
	if n := metric(t, reg, "tollgate_session_cache_healthy", ""); n != 1 {
		t.Errorf("healthy gauge = %v, want 1", n)
	}
	if n := metric(t, reg, "tollgate_session_cache_entries", ""); n != 1 {
		t.Errorf("entries gauge = %v, want 1", n)
	}

	// What a caller does to its copy stays out of the cache.
	s := mustGetCached(t, c, tok)
	s.Roles[0] = "administrator"
	s.Identity.AMR[0] = "forged"
	if got := mustGetCached(t, c, tok); got.Roles[0] != "billing_manager" || got.Identity.AMR[0] != "pwd" {
		t.Errorf("a caller's change reached the cache: roles %q, amr %q", got.Roles, got.Identity.AMR)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = c.Get(ctx, tok) }); allocs > 4 {
		t.Errorf("a hit allocates %v times, want at most 4 (the copies of the slices)", allocs)
	}
}

// metric returns the value of the series of name whose one label has the value label ("" for
// a metric without labels); -1 when there is none.
func metric(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() != label {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func mustGetCached(t *testing.T, c *CachedStore, tok string) Session {
	t.Helper()
	s, err := c.Get(t.Context(), tok)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return s
}

// Served from memory or not, the session's idle window slides with use: the store's touch
// still happens once per touch interval, from one request, and the session outlives Idle.
func TestCacheKeepsTheIdleWindowSliding(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	clock := newFakeClock()
	opt := Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now}
	c := newCached(t, client, opt, CacheOptions{TTL: time.Hour})
	plain := NewRedis(client, opt)
	ctx := t.Context()
	tok, err := c.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	cmds := countCommands(client)
	// 25 minutes of use, several requests every 20 seconds: far beyond Idle (10m).
	for step := range 75 {
		clock.Advance(20 * time.Second)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, err := c.Get(ctx, tok); err != nil {
					t.Errorf("step %d: Get: %v", step, err)
				}
			})
		}
		wg.Wait()
	}
	got := cmds.take()
	t.Logf("commands in 25 minutes of use: %v", got)
	// One touch (a script) per minute of use, and one read per due entry.
	if touches := got["evalsha"]; touches < 20 || touches > 26 {
		t.Errorf("%d touches in 25 minutes, want one a minute (%v)", touches, got)
	}
	if reads := got["hgetall"]; reads > 30 {
		t.Errorf("%d reads in 25 minutes with requests every 20s, want about one a minute", reads)
	}
	s, err := plain.Get(ctx, tok)
	if err != nil {
		t.Fatalf("the session did not survive 25 minutes of use: %v", err)
	}
	if age := clock.Now().Sub(s.LastSeen); age > time.Minute {
		t.Errorf("Redis has LastSeen %v old, want at most the touch interval", age)
	}
	// Unused, it ends after Idle like any session, though it is still in the cache.
	clock.Advance(suiteIdle)
	if _, err := c.Get(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Idle unused = %v, want ErrNotFound", err)
	}
}

// An entry past its absolute expiry is never served from memory, even when nothing else
// would send the request to Redis yet.
func TestCacheEnforcesAbsoluteExpiryLocally(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	clock := newFakeClock()
	opt := Options{Idle: 2 * suiteAbsolute, Absolute: suiteAbsolute, Now: clock.Now}
	c := newCached(t, client, opt, CacheOptions{TTL: time.Hour})
	tok, err := c.Create(t.Context(), sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(suiteAbsolute - 30*time.Second)
	mustGetCached(t, c, tok) // fills, with a touch
	e, _ := c.shard(tokenKey(tok)).get(tokenKey(tok))
	if e == nil {
		t.Fatal("no entry after a Get")
	}
	// Make the entry look fresh for longer than the session lives: only the deadline stops it.
	e.refreshAt = clock.Now().Add(time.Hour)
	mustGetCached(t, c, tok)
	clock.Advance(30 * time.Second)
	if _, err := c.Get(t.Context(), tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get at the absolute expiry = %v, want ErrNotFound", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	c := newCached(t, client, Options{}, CacheOptions{MaxEntries: 32})
	var toks []string
	for range 200 {
		tok, err := c.Create(t.Context(), sample(alice))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
		mustGetCached(t, c, tok)
	}
	if n := c.len(); n > 32 {
		t.Errorf("cache holds %d entries, want at most 32", n)
	}
	for _, tok := range toks {
		if s := mustGetCached(t, c, tok); s.ID != sessionID(tok) {
			t.Fatalf("Get returned session %s for token of %s", s.ID, sessionID(tok))
		}
	}
}

// A fill that read Redis before an invalidation must not store what it read after the
// invalidation evicted: the stale entry would be served until its TTL.
func TestCacheFillRacingInvalidation(t *testing.T) {
	srv := redistest.Start(t)
	opt := Options{}
	a := newCached(t, newRedisClient(t, srv), opt, CacheOptions{TTL: time.Hour})
	bClient := newRedisClient(t, srv)
	b := newCached(t, bClient, opt, CacheOptions{TTL: time.Hour})
	ctx := t.Context()
	tok, err := a.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	var armed atomic.Bool
	armed.Store(true)
	bClient.AddHook(&afterRead{run: func() {
		if !armed.Swap(false) {
			return
		}
		// B has read the session; now it is deleted on A, and B hears of it before storing.
		before := b.shard(tokenKey(tok)).generation()
		if err := a.Delete(ctx, tok); err != nil {
			t.Errorf("Delete: %v", err)
		}
		for b.shard(tokenKey(tok)).generation() == before {
			time.Sleep(time.Millisecond)
		}
	}})
	if _, err := b.Get(ctx, tok); err != nil {
		t.Fatalf("Get that read before the delete: %v", err)
	}
	if armed.Load() {
		t.Fatal("the hook did not run; the race was not exercised")
	}
	if _, err := b.Get(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the delete = %v, want ErrNotFound (a stale fill was stored)", err)
	}
}

func (sh *cacheShard) generation() uint64 {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.gen
}

// afterRead runs a function after each HGETALL has returned.
type afterRead struct{ run func() }

func (h *afterRead) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *afterRead) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *afterRead) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "hgetall" {
			h.run()
		}
		return err
	}
}
