package proxy

import (
	"context"
	"sync"
	"time"
)

// seenEvery is how often one replica tells the directory that a person is active; "last
// seen" needs minutes, not requests.
const seenEvery = time.Minute

// seenThrottle remembers when each person was last reported.
type seenThrottle struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// markSeen reports activity to the directory at most once per seenEvery per person, off the
// request path: a slow directory must not slow requests, and a failure only delays "last seen".
func (g *Gate) markSeen(ctx context.Context, userID string) {
	if userID == "" {
		return
	}
	now := g.deps.Now()
	g.seen.mu.Lock()
	if g.seen.last == nil {
		g.seen.last = map[string]time.Time{}
	}
	if now.Sub(g.seen.last[userID]) < seenEvery {
		g.seen.mu.Unlock()
		return
	}
	g.seen.last[userID] = now
	if len(g.seen.last) > 100_000 {
		// Bound the map: forgetting only means one more write per person.
		clear(g.seen.last)
	}
	g.seen.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := g.deps.Directory.Seen(ctx, userID); err != nil {
			g.deps.Log.Warn("could not record last seen", "user", userID, "err", err)
		}
	}()
}
