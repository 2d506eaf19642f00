package session

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// cacheShards spreads entries over locks so that concurrent requests rarely meet on one.
const cacheShards = 16

// tokenLen is the length of every token newToken issues; anything else is not looked up.
const tokenLen = (tokenBytes*8 + 5) / 6

// sessionIDPrefix must stay what sessionID hashes in front of the token.
const sessionIDPrefix = "tollgate-session-id\x00"

// cacheKey is the binary form of a session ID. Only the holder of a token can name its
// entry, so a hit means the token is exactly the one that was checked when the entry was
// filled: nothing else hashes to the same key.
type cacheKey [sha256.Size]byte

// tokenKey is sessionID(tok) without the hex string, so that a hit allocates nothing for it.
func tokenKey(tok string) cacheKey {
	var buf [len(sessionIDPrefix) + tokenLen]byte
	n := copy(buf[:], sessionIDPrefix)
	copy(buf[n:], tok)
	return sha256.Sum256(buf[:n+len(tok)])
}

// idKey parses a session ID as published; ok is false for anything sessionID cannot produce.
func idKey(id string) (k cacheKey, ok bool) {
	if len(id) != hex.EncodedLen(len(k)) {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(id))
	return k, err == nil
}

// cacheEntry is one session as Redis last returned it. It is never changed once stored,
// except for the refreshing flag; a refresh stores a new entry.
type cacheEntry struct {
	sess      Session
	user      string
	deadline  time.Time // not served from here on: idle or absolute expiry
	refreshAt time.Time // read from Redis again from here on: touch due, or TTL reached
	// refreshing elects the one caller that goes to Redis for a due entry.
	refreshing atomic.Bool
}

// session is a copy the caller may change without changing the entry.
func (e *cacheEntry) session() Session { return cloneSession(e.sess) }

func cloneSession(s Session) Session {
	s.Roles = slices.Clone(s.Roles)
	s.Identity.Groups = slices.Clone(s.Identity.Groups)
	s.Identity.AMR = slices.Clone(s.Identity.AMR)
	if s.Owns != nil {
		owns := make(map[string][]string, len(s.Owns))
		for k, v := range s.Owns {
			owns[k] = slices.Clone(v)
		}
		s.Owns = owns
	}
	return s
}

// cacheShard is one lock's worth of entries. gen counts the invalidations that reached the
// shard: a fill that read Redis before an invalidation and stores after it would bring back
// what was just evicted, so put refuses when gen moved since the fill began.
type cacheShard struct {
	mu  sync.RWMutex
	m   map[cacheKey]*cacheEntry
	gen uint64
	_   [64]byte // keeps neighbouring shards' locks off one cache line
}

func (c *CachedStore) shard(k cacheKey) *cacheShard {
	return &c.shards[k[0]%cacheShards]
}

// get returns the entry under k (nil when there is none) and the generation to fill against.
func (sh *cacheShard) get(k cacheKey) (*cacheEntry, uint64) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[k], sh.gen
}

// put stores e unless an invalidation reached the shard since gen was read. A full shard
// forgets an arbitrary entry: map iteration starts at a random place.
func (sh *cacheShard) put(k cacheKey, e *cacheEntry, gen uint64, capacity int) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return
	}
	if _, ok := sh.m[k]; !ok && len(sh.m) >= capacity {
		for old := range sh.m {
			delete(sh.m, old)
			break
		}
	}
	sh.m[k] = e
}

// drop forgets k without counting as an invalidation: Redis said the session is gone, and
// a fill racing this one read the same.
func (sh *cacheShard) drop(k cacheKey) {
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

// evict forgets k and makes fills in flight on this shard drop what they read.
func (sh *cacheShard) evict(k cacheKey) {
	sh.mu.Lock()
	sh.gen++
	delete(sh.m, k)
	sh.mu.Unlock()
}

// evictUser forgets every entry of user. It scans the shard: "revoke all" is rare, and an
// index per user would cost memory and work on every fill.
func (sh *cacheShard) evictUser(user string) {
	sh.mu.Lock()
	sh.gen++
	maps.DeleteFunc(sh.m, func(_ cacheKey, e *cacheEntry) bool { return e.user == user })
	sh.mu.Unlock()
}

func (sh *cacheShard) flush() {
	sh.mu.Lock()
	sh.gen++
	clear(sh.m)
	sh.mu.Unlock()
}

func (c *CachedStore) flush() {
	for i := range c.shards {
		c.shards[i].flush()
	}
}

// len is the number of entries held, for the entries gauge.
func (c *CachedStore) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// cacheMetrics are resolved once so that a hit costs one atomic add.
type cacheMetrics struct {
	hit, miss, bypass prometheus.Counter
	healthy           prometheus.Gauge
	subscribed        prometheus.Counter
}

func newCacheMetrics(reg prometheus.Registerer, entries func() int) (cacheMetrics, error) {
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_session_cache_total",
		Help: "Session lookups by result: hit (served from memory), miss (read from Redis), bypass (read from Redis because the invalidation channel is down).",
	}, []string{"result"})
	healthy := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tollgate_session_cache_healthy",
		Help: "1 while the session cache's invalidation subscription is confirmed; 0 while every lookup bypasses the cache.",
	})
	subscribed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tollgate_session_cache_subscriptions_total",
		Help: "Confirmed subscriptions to the invalidation channel; more than one means it was lost and re-established (the cache was emptied each time).",
	})
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tollgate_session_cache_entries",
		Help: "Sessions held in the in-process cache.",
	}, func() float64 { return float64(entries()) })
	for _, col := range []prometheus.Collector{total, healthy, subscribed, size} {
		if err := reg.Register(col); err != nil {
			return cacheMetrics{}, fmt.Errorf("session: cache metrics: %w", err)
		}
	}
	return cacheMetrics{
		hit: total.WithLabelValues("hit"), miss: total.WithLabelValues("miss"),
		bypass: total.WithLabelValues("bypass"), healthy: healthy, subscribed: subscribed,
	}, nil
}
