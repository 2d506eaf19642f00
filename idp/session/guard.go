package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// Guards are small markers and counters shared by every replica: a TOTP replay guard claims a
// code's time step once, and an attempt limit counts failures in a window. Like single-use
// values they carry their expiry inside the stored value, so both stores enforce it from the
// store's clock, not only through the backing store's timers. A store that cannot answer
// returns an error, never a "not set" or a zero count, so that callers fail closed.
//
// Redis keys are tollgate:guard:{key}, hashes of e (expiry, unix ms) and n (count); the
// embedded store keeps them in the "guard" bucket as expiry (unix ns) and count, 8 bytes each.

const bucketGuard = "guard"

func redisGuardKey(key string) string { return keyPrefix + "guard:" + key }

// claimSrc sets a guard that is absent or expired. ARGV: now and expiry (unix ms), TTL (ms).
const claimSrc = `
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if e and e > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'e', ARGV[2], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`

// incrSrc counts within a live window, or starts a new one at 1. ARGV as for claimSrc.
const incrSrc = `
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if e and e > tonumber(ARGV[1]) then return redis.call('HINCRBY', KEYS[1], 'n', 1) end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'e', ARGV[2], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`

var (
	claimScript = redis.NewScript(claimSrc)
	incrScript  = redis.NewScript(incrSrc)
)

func checkGuard(op, key string, ttl time.Duration) error {
	if key == "" {
		return fmt.Errorf("session: %s: empty key", op)
	}
	if ttl <= 0 {
		return fmt.Errorf("session: %s: ttl must be positive", op)
	}
	return nil
}

// Claim sets key for ttl unless it is already set, and reports whether this caller set it. Of
// concurrent callers on one key exactly one gets true.
func (rs *RedisStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkGuard("claim", key, ttl); err != nil {
		return false, err
	}
	n, err := rs.runGuard(ctx, claimScript, key, ttl)
	if err != nil {
		return false, fmt.Errorf("session: redis claim: %w", err)
	}
	return n == 1, nil
}

// Incr adds one to the counter under key and returns the new count. An absent or expired
// counter starts again at 1 and expires window after that first increment; later increments
// do not extend it.
func (rs *RedisStore) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	if err := checkGuard("incr", key, window); err != nil {
		return 0, err
	}
	n, err := rs.runGuard(ctx, incrScript, key, window)
	if err != nil {
		return 0, fmt.Errorf("session: redis incr: %w", err)
	}
	return n, nil
}

// Peek returns the count under key and when it expires, without changing it: 0 and the zero
// time when the key is absent or expired.
func (rs *RedisStore) Peek(ctx context.Context, key string) (int64, time.Time, error) {
	vals, err := rs.c.HMGet(ctx, redisGuardKey(key), "e", "n").Result()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("session: redis peek: %w", err)
	}
	es, _ := vals[0].(string)
	ns, _ := vals[1].(string)
	e, err1 := strconv.ParseInt(es, 10, 64)
	n, err2 := strconv.ParseInt(ns, 10, 64)
	if errors.Join(err1, err2) != nil {
		return 0, time.Time{}, nil // absent, or damaged: a damaged guard is treated as expired
	}
	expires := time.UnixMilli(e).UTC()
	if !rs.r.clock().Before(expires) {
		return 0, time.Time{}, nil
	}
	return n, expires, nil
}

// Reset removes key; removing what is not there is not an error.
func (rs *RedisStore) Reset(ctx context.Context, key string) error {
	if err := rs.c.Del(ctx, redisGuardKey(key)).Err(); err != nil {
		return fmt.Errorf("session: redis reset: %w", err)
	}
	return nil
}

func (rs *RedisStore) runGuard(ctx context.Context, s *redis.Script, key string, ttl time.Duration) (int64, error) {
	now := rs.r.clock()
	return s.Run(ctx, rs.c, []string{redisGuardKey(key)},
		now.UnixMilli(), now.Add(ttl).UnixMilli(), ttlMillis(ttl)).Int64()
}

// encodeGuard is the embedded form: expiry (unix ns) and count.
func encodeGuard(expires time.Time, n int64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[:8], uint64(expires.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(n))
	return b
}

// decodeGuard returns the count and expiry of a live guard; ok is false for an expired or
// damaged one.
func decodeGuard(b []byte, now time.Time) (n int64, expires time.Time, ok bool) {
	if len(b) != 16 {
		return 0, time.Time{}, false
	}
	expires = time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))).UTC()
	if !now.Before(expires) {
		return 0, time.Time{}, false
	}
	return int64(binary.BigEndian.Uint64(b[8:])), expires, true
}

// Claim sets key for ttl unless it is already set, and reports whether this caller set it.
// Write transactions are serialised, so of concurrent callers exactly one gets true.
func (e *EmbeddedStore) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkGuard("claim", key, ttl); err != nil {
		return false, err
	}
	claimed := false
	err := e.updateGuard(ctx, key, func(_ int64, _ time.Time, live bool, now time.Time) []byte {
		claimed = !live
		if live {
			return nil
		}
		return encodeGuard(now.Add(ttl), 1)
	})
	if err != nil {
		return false, fmt.Errorf("session: bolt claim: %w", err)
	}
	return claimed, nil
}

// Incr adds one to the counter under key and returns the new count. An absent or expired
// counter starts again at 1 and expires window after that first increment; later increments
// do not extend it.
func (e *EmbeddedStore) Incr(ctx context.Context, key string, window time.Duration) (int64, error) {
	if err := checkGuard("incr", key, window); err != nil {
		return 0, err
	}
	var count int64
	err := e.updateGuard(ctx, key, func(n int64, expires time.Time, live bool, now time.Time) []byte {
		if !live {
			count, expires = 1, now.Add(window)
		} else {
			count = n + 1
		}
		return encodeGuard(expires, count)
	})
	if err != nil {
		return 0, fmt.Errorf("session: bolt incr: %w", err)
	}
	return count, nil
}

// Peek returns the count under key and when it expires, without changing it: 0 and the zero
// time when the key is absent or expired.
func (e *EmbeddedStore) Peek(ctx context.Context, key string) (int64, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	now := e.r.clock()
	var n int64
	var expires time.Time
	err := e.db.View(func(tx *bolt.Tx) error {
		n, expires = 0, time.Time{}
		if b := tx.Bucket([]byte(bucketGuard)); b != nil {
			n, expires, _ = decodeGuard(b.Get([]byte(key)), now)
		}
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("session: bolt peek: %w", err)
	}
	return n, expires, nil
}

// Reset removes key; removing what is not there is not an error.
func (e *EmbeddedStore) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := e.db.Update(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucketGuard)); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: bolt reset: %w", err)
	}
	return nil
}

// updateGuard runs next on the current state of key in one write transaction and stores what
// it returns (nil: leave as is). Each write also sweeps a bounded number of expired guards.
func (e *EmbeddedStore) updateGuard(ctx context.Context, key string,
	next func(n int64, expires time.Time, live bool, now time.Time) []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := e.r.clock()
	return e.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucketGuard))
		if err != nil {
			return err
		}
		n, expires, live := decodeGuard(b.Get([]byte(key)), now)
		if v := next(n, expires, live, now); v != nil {
			if err := b.Put([]byte(key), v); err != nil {
				return err
			}
		}
		for _, k := range sweepKeys(b, e.sweepStart(), func(v []byte) bool {
			_, _, ok := decodeGuard(v, now)
			return !ok
		}) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
