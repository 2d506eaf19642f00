package session

import (
	"sync"
	"time"
)

// openedCacheMax bounds the sessions an embedded store keeps unsealed in memory.
const openedCacheMax = 10_000

// openedCache keeps sessions an EmbeddedStore has already read and unsealed, by session id,
// so that a request costs a map lookup instead of a file read, a decode and an unseal.
//
// It is exact without any invalidation channel: bbolt's file lock keeps every other process
// out, so every change to a session goes through this store, which forgets the ids it wrote
// once the write has committed. The idle and absolute timeouts are still checked on every
// read, and a read that is due to slide the idle window takes the slow path, which writes.
// A read that raced a write does not fill the cache: forgetting moves the generation on, and
// an entry read under an older generation is dropped.
type openedCache struct {
	mu      sync.RWMutex
	gen     uint64
	entries map[string]openedEntry
}

type openedEntry struct {
	sess Session
	rec  record // without Sealed: what the timeouts are checked on
}

// get returns a copy of the cached session for id if it is live at now and needs no touch.
func (c *openedCache) get(r rules, id string, now time.Time) (Session, bool) {
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || !r.live(e.rec, now) || r.needsTouch(e.rec, now) ||
		!now.Before(minTime(e.sess.ExpiresAt, e.sess.CreatedAt.Add(r.absolute))) {
		return Session{}, false
	}
	s := cloneSession(e.sess)
	s.LastSeen = e.rec.LastSeen
	return s, true
}

// generation is read before the store reads a record it may cache.
func (c *openedCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches s, read from rec under generation gen, unless something was forgotten since.
func (c *openedCache) put(gen uint64, id string, s Session, rec record) {
	rec.Sealed = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.entries == nil || len(c.entries) >= openedCacheMax {
		c.entries = make(map[string]openedEntry) // bounded: forgetting costs one read each
	}
	c.entries[id] = openedEntry{sess: cloneSession(s), rec: rec}
}

// clear drops every entry.
func (c *openedCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = nil
}

// forget drops ids after a write to them committed.
func (c *openedCache) forget(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		delete(c.entries, id)
	}
}
