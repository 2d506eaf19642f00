package session

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A sweep looks at a bounded window of entries from a random place, so each write pays a
// small fixed cost and, over many writes, every entry is visited.
const (
	sweepScan = 400
	sweepMax  = 100
)

// DeleteUser removes every session of the user and returns how many live ones it ended.
func (e *EmbeddedStore) DeleteUser(ctx context.Context, userKey string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now, n := e.r.clock(), 0
	var forget []string
	err := e.db.Update(func(tx *bolt.Tx) error {
		n, forget = 0, forget[:0]
		users := tx.Bucket([]byte(bucketUsers))
		ub := users.Bucket([]byte(userKey))
		if ub == nil {
			return nil
		}
		sessions := tx.Bucket([]byte(bucketSessions))
		var ids [][]byte
		if err := ub.ForEach(func(k, _ []byte) error { ids = append(ids, bytes.Clone(k)); return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			v := sessions.Get(id)
			if v == nil {
				continue
			}
			if e.r.live(decodeRecord(v), now) {
				n++
			}
			if err := sessions.Delete(id); err != nil {
				return err
			}
			forget = append(forget, string(id))
		}
		return users.DeleteBucket([]byte(userKey))
	})
	e.opened.forget(forget...)
	if err != nil {
		return 0, fmt.Errorf("session: bolt delete user: %w", err)
	}
	return n, nil
}

// DeleteByID removes one session of the user; ErrNotFound if the user has no live session
// with that ID, so an ID of someone else's session does nothing.
func (e *EmbeddedStore) DeleteByID(ctx context.Context, userKey, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !validID(id) {
		return ErrNotFound
	}
	now, found := e.r.clock(), false
	err := e.db.Update(func(tx *bolt.Tx) error {
		rec, ok, err := getRecord(tx, id)
		if err != nil || !ok || rec.User != userKey {
			found = false
			return err
		}
		found = e.r.live(rec, now)
		return removeRecord(tx, id)
	})
	e.opened.forget(id)
	if err != nil {
		return fmt.Errorf("session: bolt delete by id: %w", err)
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

// ListUser returns the user's live sessions, oldest first.
func (e *EmbeddedStore) ListUser(ctx context.Context, userKey string) ([]Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := e.r.clock()
	var out []Info
	err := e.db.View(func(tx *bolt.Tx) error {
		out = nil
		ub := tx.Bucket([]byte(bucketUsers)).Bucket([]byte(userKey))
		if ub == nil {
			return nil
		}
		sessions := tx.Bucket([]byte(bucketSessions))
		return ub.ForEach(func(k, _ []byte) error {
			v := sessions.Get(k)
			if v == nil {
				return nil
			}
			if rec := decodeRecord(v); rec.User == userKey && e.r.live(rec, now) {
				out = append(out, e.r.info(string(k), rec))
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("session: bolt list user: %w", err)
	}
	sortInfos(out)
	return out, nil
}

// PutOnce stores value under key for ttl, replacing any earlier value.
func (e *EmbeddedStore) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkOnce(key, ttl); err != nil {
		return err
	}
	now := e.r.clock()
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketOnce))
		if err := b.Put([]byte(key), encodeOnce(now.Add(ttl), value)); err != nil {
			return err
		}
		for _, k := range sweepKeys(b, e.sweepStart(), func(v []byte) bool {
			_, ok := decodeOnce(v, now)
			return !ok
		}) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: bolt put once: %w", err)
	}
	return nil
}

// TakeOnce returns and removes the value under key. Write transactions are serialised, so of
// concurrent callers exactly one sees the value.
func (e *EmbeddedStore) TakeOnce(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := e.r.clock()
	var value []byte
	var ok bool
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketOnce))
		v := b.Get([]byte(key))
		if v == nil {
			ok = false
			return nil
		}
		value, ok = decodeOnce(v, now)
		return b.Delete([]byte(key))
	})
	if err != nil {
		return nil, fmt.Errorf("session: bolt take once: %w", err)
	}
	if !ok {
		return nil, ErrNotFound
	}
	return value, nil
}

// sweep removes a bounded number of expired sessions and returns their ids.
func (e *EmbeddedStore) sweep(tx *bolt.Tx, now time.Time) ([]string, error) {
	dead := sweepKeys(tx.Bucket([]byte(bucketSessions)), e.sweepStart(), func(v []byte) bool {
		return !e.r.live(decodeRecord(v), now)
	})
	ids := make([]string, 0, len(dead))
	for _, id := range dead {
		if err := removeRecord(tx, string(id)); err != nil {
			return nil, err
		}
		ids = append(ids, string(id))
	}
	return ids, nil
}

// sweepStart picks where a sweep begins. Keys are hex digests or random, so a random hex prefix
// spreads sweeps over the whole bucket; without randomness the sweep starts at the beginning.
func (e *EmbeddedStore) sweepStart() []byte {
	b := make([]byte, 2)
	if _, err := io.ReadFull(e.r.rand, b); err != nil {
		return nil
	}
	return []byte(hex.EncodeToString(b))
}

// sweepKeys returns up to sweepMax keys of b, among sweepScan visited from start onwards
// (wrapping once), whose values are dead.
func sweepKeys(b *bolt.Bucket, start []byte, dead func(v []byte) bool) [][]byte {
	var out [][]byte
	c := b.Cursor()
	k, v := c.Seek(start)
	wrapped := false
	for scanned := 0; scanned < sweepScan && len(out) < sweepMax; scanned++ {
		if k == nil {
			if wrapped {
				break
			}
			wrapped = true
			if k, v = c.First(); k == nil {
				break
			}
		}
		if wrapped && bytes.Compare(k, start) >= 0 {
			break
		}
		if dead(v) {
			out = append(out, bytes.Clone(k))
		}
		k, v = c.Next()
	}
	return out
}

func sortInfos(infos []Info) {
	slices.SortFunc(infos, func(a, b Info) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
