package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timing of the invalidation channel.
const (
	// confirmWait bounds how long a write waits for the replicas to acknowledge.
	confirmWait = time.Second
	// quietPing is how long the subscription may be silent before it is pinged; a ping not
	// answered within the same time again counts as a lost connection, so a connection that
	// died without a word is noticed within about twice this.
	quietPing = time.Second
	// resubscribe backs off from the first to the second between attempts.
	resubscribeMin = 50 * time.Millisecond
	resubscribeMax = 2 * time.Second
)

// invalidation is one published message: session IDs and user keys whose entries every
// replica must forget, named by Origin (this store's origin, a dash, a sequence number); or,
// with Ack set, a replica's acknowledgement that it has applied the one named by Ack.
type invalidation struct {
	Origin string   `json:"o,omitempty"`
	IDs    []string `json:"s,omitempty"`
	Users  []string `json:"u,omitempty"`
	Ack    string   `json:"a,omitempty"`
}

// Update replaces the session's contents in Redis, then has every replica forget it.
func (c *CachedStore) Update(ctx context.Context, tok string, s Session) error {
	err := c.rs.Update(ctx, tok, s)
	if errors.Is(err, ErrNotFound) {
		// Nothing was there to replace: expired (entries expire by themselves) or deleted
		// (the deleter published).
		return err
	}
	return errors.Join(err, c.invalidate(ctx, []string{sessionID(tok)}, nil))
}

// Delete removes the session in Redis, then has every replica forget it.
func (c *CachedStore) Delete(ctx context.Context, tok string) error {
	if !validToken(tok) {
		return nil
	}
	err := c.rs.Delete(ctx, tok)
	return errors.Join(err, c.invalidate(ctx, []string{sessionID(tok)}, nil))
}

// DeleteUser removes every session of the user in Redis, then has every replica forget every
// entry of that user, whichever sessions the removal saw.
func (c *CachedStore) DeleteUser(ctx context.Context, userKey string) (int, error) {
	n, err := c.rs.DeleteUser(ctx, userKey)
	return n, errors.Join(err, c.invalidate(ctx, nil, []string{userKey}))
}

// DeleteByID removes one session of the user in Redis, then has every replica forget it.
func (c *CachedStore) DeleteByID(ctx context.Context, userKey, id string) error {
	err := c.rs.DeleteByID(ctx, userKey, id)
	if errors.Is(err, ErrNotFound) {
		return err // not the user's, or no longer live: nothing servable to forget
	}
	return errors.Join(err, c.invalidate(ctx, []string{id}, nil))
}

// invalidate forgets locally, publishes, and waits until every replica that received the
// message has evicted. PUBLISH answers with the number of subscribers it reached; each of
// them acknowledges after evicting, and this store's own subscriber counts as one. So when
// a revocation returns, no replica that was subscribed will serve the session again, and a
// replica that was not is bypassing its cache or will empty it when it resubscribes. (On
// Redis Cluster PUBLISH counts only the subscribers of the node that took it, so the wait
// may end before replicas subscribed elsewhere have evicted.)
//
// A failed publish is an error: the change is made, but other replicas may serve the old
// session until their entry's TTL, and the caller should know. A replica that does not
// acknowledge within confirmWait is logged, not an error: the message did reach it.
func (c *CachedStore) invalidate(ctx context.Context, ids, users []string) error {
	msg := invalidation{Origin: c.origin + "-" + strconv.FormatUint(c.seq.Add(1), 10), IDs: ids, Users: users}
	c.apply(msg)
	payload, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("session: cache invalidate: %w", err)
	}
	// Without a subscription no acknowledgement can arrive; the write and publish still stand.
	healthy := c.healthy.Load()
	var p *pendingInvalidation
	if healthy {
		p = c.expect(msg.Origin)
		defer c.forget(msg.Origin)
	}
	reached, err := c.client.Publish(ctx, c.channel, payload).Result()
	if err != nil {
		return fmt.Errorf("session: cache invalidate: %w", err)
	}
	if p == nil {
		return nil
	}
	c.waitMu.Lock()
	p.want = int(reached) - 1 // the echo is counted apart
	p.check()
	c.waitMu.Unlock()
	t := time.NewTimer(confirmWait)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		c.waitMu.Lock()
		echoed, acks, want := p.echoed, p.acks, p.want
		c.waitMu.Unlock()
		c.log.Warn("session cache: invalidation not confirmed by every replica in time",
			"wait", confirmWait, "own_echo", echoed, "acks", acks, "replicas", want)
	case <-ctx.Done():
	}
	return nil
}

// pendingInvalidation tracks one invalidation until every subscriber has evicted.
type pendingInvalidation struct {
	echoed bool // this store's own subscriber has applied it
	acks   int  // other subscribers that have
	want   int  // other subscribers PUBLISH reached; -1 until it answered
	closed bool
	done   chan struct{}
}

// check closes done once everything is in; the caller holds waitMu.
func (p *pendingInvalidation) check() {
	if !p.closed && p.echoed && p.want >= 0 && p.acks >= p.want {
		p.closed = true
		close(p.done)
	}
}

func (c *CachedStore) expect(origin string) *pendingInvalidation {
	p := &pendingInvalidation{want: -1, done: make(chan struct{})}
	c.waitMu.Lock()
	c.waiters[origin] = p
	c.waitMu.Unlock()
	return p
}

func (c *CachedStore) forget(origin string) {
	c.waitMu.Lock()
	delete(c.waiters, origin)
	c.waitMu.Unlock()
}

// apply evicts what msg names.
func (c *CachedStore) apply(msg invalidation) {
	for _, id := range msg.IDs {
		if k, ok := idKey(id); ok {
			c.shard(k).evict(k)
		}
	}
	for _, u := range msg.Users {
		for i := range c.shards {
			c.shards[i].evictUser(u)
		}
	}
}

// receive handles one published payload: an acknowledgement for one of this store's
// invalidations, its own invalidation coming back, or another replica's, which is applied
// and then acknowledged. One that does not parse cannot say what to evict, so everything goes.
func (c *CachedStore) receive(ctx context.Context, payload string) {
	var msg invalidation
	if err := json.Unmarshal([]byte(payload), &msg); err != nil {
		c.log.Warn("session cache: unreadable invalidation; cache emptied", "err", err)
		c.flush()
		return
	}
	if msg.Ack != "" {
		c.waitMu.Lock()
		if p, ok := c.waiters[msg.Ack]; ok {
			p.acks++
			p.check()
		}
		c.waitMu.Unlock()
		return
	}
	c.apply(msg)
	c.waitMu.Lock()
	p, own := c.waiters[msg.Origin]
	if own {
		p.echoed = true
		p.check()
	}
	c.waitMu.Unlock()
	if !own && !strings.HasPrefix(msg.Origin, c.origin+"-") {
		c.acking.Go(func() { c.ack(ctx, msg.Origin) })
	}
}

// ack tells the writer of an invalidation that this replica has applied it.
func (c *CachedStore) ack(ctx context.Context, origin string) {
	payload, err := json.Marshal(invalidation{Ack: origin})
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, confirmWait)
		defer cancel()
		err = c.client.Publish(ctx, c.channel, payload).Err()
	}
	if err != nil && ctx.Err() == nil {
		c.log.Warn("session cache: could not acknowledge an invalidation", "err", err)
	}
}

// listen keeps a subscription to the channel until ctx ends, resubscribing with backoff.
// Each loss empties the cache and switches to bypass; each confirmed (re)subscription empties
// it again, since messages published in between were never seen, and only then allows hits.
func (c *CachedStore) listen(ctx context.Context) {
	defer close(c.done)
	defer c.down(nil)
	backoff := resubscribeMin
	for ctx.Err() == nil {
		ps := c.client.Subscribe(ctx)
		c.subMu.Lock()
		c.sub = ps
		c.subMu.Unlock()
		err := ps.Subscribe(ctx, c.channel)
		if err == nil {
			err = c.serve(ctx, ps, &backoff)
		}
		_ = ps.Close()
		c.down(err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, resubscribeMax)
	}
}

// serve reads the subscription until it fails.
func (c *CachedStore) serve(ctx context.Context, ps *redis.PubSub, backoff *time.Duration) error {
	pinged := false
	for {
		m, err := ps.ReceiveTimeout(ctx, quietPing)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ne net.Error
		switch {
		case err != nil && errors.As(err, &ne) && ne.Timeout():
			if pinged {
				return errors.New("no answer to ping")
			}
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		case err != nil:
			return err
		}
		pinged = false
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == c.channel {
				c.up()
				*backoff = resubscribeMin
			}
		case *redis.Message:
			if m.Channel == c.channel {
				c.receive(ctx, m.Payload)
			}
		}
	}
}

func (c *CachedStore) up() {
	c.flush()
	c.metrics.subscribed.Inc()
	c.downLogged = false
	if !c.healthy.Swap(true) {
		c.metrics.healthy.Set(1)
		c.log.Info("session cache: invalidation channel subscribed; serving from memory", "channel", c.channel)
	}
}

// down switches to bypass. The first failure of each outage is logged; the retries are not.
func (c *CachedStore) down(err error) {
	c.healthy.Store(false)
	c.flush()
	c.metrics.healthy.Set(0)
	if err != nil && !errors.Is(err, context.Canceled) && !c.downLogged {
		c.downLogged = true
		c.log.Warn("session cache: no invalidation channel; every lookup goes to Redis until it is back", "channel", c.channel, "err", err)
	}
}
