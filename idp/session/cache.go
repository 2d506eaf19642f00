package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// CacheOptions tune a CachedStore.
type CacheOptions struct {
	// MaxEntries bounds the sessions held in memory (about; it is split across shards); zero
	// or less means DefaultCacheEntries. A full shard forgets an arbitrary entry, which then
	// costs one Redis read on its next use.
	MaxEntries int
	// TTL caps how long an entry is served without reading Redis again, whatever the
	// invalidations say: the bound on staleness should an invalidation be lost undetected.
	// Zero or less means DefaultCacheTTL. The store's touch interval (Idle/10, at most a
	// minute) also forces a read, whichever comes first.
	TTL time.Duration
	// Channel is the pub/sub channel invalidations travel on; every replica sharing the Redis
	// must use the same one, and nothing else should listen on it: every subscriber is
	// expected to acknowledge, and a silent one delays each write by up to a second. Empty
	// means DefaultCacheChannel.
	Channel string
	// Registerer receives the cache's metrics; nil keeps them unexported.
	Registerer prometheus.Registerer
	// Log hears when the invalidation channel goes down and comes back; nil discards.
	Log *slog.Logger
}

// Defaults for CacheOptions.
const (
	DefaultCacheEntries = 10_000
	DefaultCacheTTL     = 10 * time.Second
	DefaultCacheChannel = keyPrefix + "invalidate"
)

// CachedStore is a RedisStore that serves Get from memory. Every replica keeps its own copy
// and hears about every change through Redis pub/sub, so a session revoked, replaced or
// deleted on one replica stops being served everywhere. Correctness comes first:
//
//   - while the subscription is down, or not yet confirmed, every Get goes to Redis (bypass),
//     and the cache is emptied both when it goes down and when it comes back, so a message
//     missed in between cannot leave a stale entry;
//   - idle and absolute expiry are checked on every hit with the store's rules;
//   - the idle window keeps sliding: once the store's touch is due, one request per session
//     goes to Redis (which touches) while the others are still served from memory;
//   - an error from Redis is returned as it is, never turned into ErrNotFound.
//
// Writes go to Redis first, then publish the affected session IDs (or, for DeleteUser, the
// user key), and return once every replica that received the message has acknowledged
// evicting (bounded by a second). So a revocation that has returned is not served again by
// any replica whose subscription was up; one whose subscription was down bypasses its cache
// until it has resubscribed and emptied it. What remains is a replica whose connection died
// without a word and that has not noticed yet: at most about two seconds (quietPing), and
// never longer than TTL.
type CachedStore struct {
	rs      *RedisStore
	client  redis.UniversalClient
	channel string
	ttl     time.Duration
	shards  [cacheShards]cacheShard
	perCap  int
	healthy atomic.Bool
	metrics cacheMetrics
	log     *slog.Logger

	origin  string // names this store's own messages
	seq     atomic.Uint64
	waitMu  sync.Mutex
	waiters map[string]*pendingInvalidation

	downLogged bool // touched by the listener only

	stop      context.CancelFunc
	done      chan struct{}
	acking    sync.WaitGroup // acknowledgements being sent
	closeOnce sync.Once
	subMu     sync.Mutex
	sub       io.Closer // the current subscription, closed to unblock its reader on Close
}

// NewCached returns a cached store on client and starts listening for invalidations. It
// starts in bypass, and serves from memory once its subscription is confirmed (Healthy). The
// client stays the caller's: Close stops the listener and leaves the client open.
func NewCached(client redis.UniversalClient, opt Options, copt CacheOptions) (*CachedStore, error) {
	if copt.MaxEntries <= 0 {
		copt.MaxEntries = DefaultCacheEntries
	}
	if copt.TTL <= 0 {
		copt.TTL = DefaultCacheTTL
	}
	if copt.Channel == "" {
		copt.Channel = DefaultCacheChannel
	}
	if copt.Registerer == nil {
		copt.Registerer = prometheus.NewRegistry()
	}
	if copt.Log == nil {
		copt.Log = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	if _, err := io.ReadFull(rand.Reader, id[:]); err != nil {
		return nil, fmt.Errorf("session: cache origin: %w", err)
	}
	c := &CachedStore{
		rs:      NewRedis(client, opt),
		client:  client,
		channel: copt.Channel,
		ttl:     copt.TTL,
		perCap:  max(1, copt.MaxEntries/cacheShards),
		log:     copt.Log,
		origin:  hex.EncodeToString(id[:]),
		waiters: map[string]*pendingInvalidation{},
		done:    make(chan struct{}),
	}
	for i := range c.shards {
		c.shards[i].m = map[cacheKey]*cacheEntry{}
	}
	m, err := newCacheMetrics(copt.Registerer, c.len)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go c.listen(ctx)
	return c, nil
}

// Healthy reports whether the invalidation subscription is confirmed, so that Get may serve
// from memory.
func (c *CachedStore) Healthy() bool { return c.healthy.Load() }

// Get returns the live session for tok, from memory when it may, and slides its idle window.
func (c *CachedStore) Get(ctx context.Context, tok string) (Session, error) {
	if len(tok) != tokenLen {
		return Session{}, ErrNotFound
	}
	if !c.healthy.Load() {
		c.metrics.bypass.Inc()
		return c.rs.Get(ctx, tok)
	}
	key := tokenKey(tok)
	sh := c.shard(key)
	e, gen := sh.get(key)
	now := c.rs.r.clock()
	if e != nil && now.Before(e.deadline) {
		// One caller refreshes a due entry; the rest keep being served meanwhile, which is
		// safe because the entry is still live and invalidations still evict it.
		if now.Before(e.refreshAt) || !e.refreshing.CompareAndSwap(false, true) {
			c.metrics.hit.Inc()
			return e.session(), nil
		}
		defer e.refreshing.Store(false)
	}
	c.metrics.miss.Inc()
	s, err := c.rs.Get(ctx, tok)
	if errors.Is(err, ErrNotFound) {
		sh.drop(key)
		return Session{}, err
	}
	if err != nil {
		return Session{}, err
	}
	sh.put(key, c.entryFor(s, now), gen, c.perCap)
	return s, nil
}

// entryFor is what may be served for s until its deadline, with the same expiry rules the
// store applies on every read.
func (c *CachedStore) entryFor(s Session, now time.Time) *cacheEntry {
	r := c.rs.r
	deadline := minTime(minTime(s.ExpiresAt, s.CreatedAt.Add(r.absolute)), s.LastSeen.Add(r.idle))
	return &cacheEntry{
		sess:      cloneSession(s),
		user:      s.Identity.UserKey(),
		deadline:  deadline,
		refreshAt: minTime(s.LastSeen.Add(r.touchEvery()), now.Add(c.ttl)),
	}
}

// Create stores s under a new token. Nothing is published: no replica can hold a session
// whose ID did not exist, and the cache keeps no negative entries.
func (c *CachedStore) Create(ctx context.Context, s Session) (string, error) {
	return c.rs.Create(ctx, s)
}

// ListUser lists the user's live sessions from Redis.
func (c *CachedStore) ListUser(ctx context.Context, userKey string) ([]Info, error) {
	return c.rs.ListUser(ctx, userKey)
}

// PutOnce stores a single-use value in Redis.
func (c *CachedStore) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return c.rs.PutOnce(ctx, key, value, ttl)
}

// TakeOnce takes a single-use value from Redis.
func (c *CachedStore) TakeOnce(ctx context.Context, key string) ([]byte, error) {
	return c.rs.TakeOnce(ctx, key)
}

// Claim sets a guard in Redis; see RedisStore.Claim.
func (c *CachedStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return c.rs.Claim(ctx, key, ttl)
}

// Incr counts in Redis; see RedisStore.Incr.
func (c *CachedStore) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	return c.rs.Incr(ctx, key, window)
}

// Peek reads a counter from Redis; see RedisStore.Peek.
func (c *CachedStore) Peek(ctx context.Context, key string) (int64, time.Time, error) {
	return c.rs.Peek(ctx, key)
}

// Reset removes a guard from Redis.
func (c *CachedStore) Reset(ctx context.Context, key string) error {
	return c.rs.Reset(ctx, key)
}

// Ping reports whether Redis answers. A broken subscription is not an outage: Get still
// answers, from Redis, and the metrics show it.
func (c *CachedStore) Ping(ctx context.Context) error { return c.rs.Ping(ctx) }

// Close stops listening for invalidations and empties the cache. The client stays open.
func (c *CachedStore) Close() error {
	c.closeOnce.Do(func() {
		c.stop()
		c.subMu.Lock()
		if c.sub != nil {
			_ = c.sub.Close()
		}
		c.subMu.Unlock()
		<-c.done
		c.acking.Wait()
	})
	return nil
}
