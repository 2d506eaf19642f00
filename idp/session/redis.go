package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key layout. Every command touches a single key, so the store works unchanged on Redis
// Cluster: a session key holds only the hash of the token, so it cannot share a hash slot with
// its user's index, and cross-slot transactions are not possible.
//
//	tollgate:session:{id}          hash  u=user key, c/e/l=created/expires/last seen (unix ns), s=sealed
//	tollgate:user:{user}:sessions  zset  member=session id, score=absolute expiry (unix s)
//	tollgate:once:{key}            string expiry (8 bytes) + value
//
// Ordering keeps the index a superset of the live sessions, so "revoke all" can never miss
// one: Create adds the index member before writing the session, and removals delete the
// session before the index member. A crash in between leaves only an index member without a
// session, which is harmless and pruned at its expiry.
const keyPrefix = "tollgate:"

func redisSessionKey(id string) string { return keyPrefix + "session:" + id }
func redisUserKey(user string) string  { return keyPrefix + "user:" + user + ":sessions" }
func redisOnceKey(key string) string   { return keyPrefix + "once:" + key }

// Hash fields of a session key.
const (
	fieldUser     = "u"
	fieldCreated  = "c"
	fieldExpires  = "e"
	fieldLastSeen = "l"
	fieldSealed   = "s"
)

// setIfExistsSrc writes fields and a new TTL only to a session that still exists, so a touch
// or Update racing a Delete cannot bring the session back. ARGV[1] is the TTL in ms, the
// rest are field/value pairs.
const setIfExistsSrc = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`

// RedisStore keeps sessions in Redis (single, Sentinel or Cluster), for several replicas.
// Expiry is enforced from stored timestamps on every read; Redis TTLs only reclaim memory.
// It needs Redis 6.2 or later (GETDEL).
type RedisStore struct {
	c           redis.UniversalClient
	r           rules
	setIfExists *redis.Script
}

// NewRedis returns a store on client. The client stays the caller's: Close leaves it open.
func NewRedis(client redis.UniversalClient, opt Options) *RedisStore {
	return &RedisStore{c: client, r: newRules(opt), setIfExists: redis.NewScript(setIfExistsSrc)}
}

// Create stores s under a new token and returns the token.
func (rs *RedisStore) Create(ctx context.Context, s Session) (string, error) {
	tok, s, rec, err := rs.r.begin(s)
	if err != nil {
		return "", err
	}
	now, ukey := s.CreatedAt, redisUserKey(rec.User)
	// Index first (see the key layout). Every member expires no later than now+Absolute, so
	// that is also how long the index must live.
	_, err = rs.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, ukey, redis.Z{Score: float64(rec.Expires.Unix()), Member: s.ID})
		p.ZRemRangeByScore(ctx, ukey, "-inf", "("+strconv.FormatInt(now.Unix(), 10))
		p.PExpire(ctx, ukey, rs.r.absolute)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("session: redis index: %w", err)
	}
	skey := redisSessionKey(s.ID)
	_, err = rs.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, skey,
			fieldUser, rec.User,
			fieldCreated, rec.Created.UnixNano(),
			fieldExpires, rec.Expires.UnixNano(),
			fieldLastSeen, rec.LastSeen.UnixNano(),
			fieldSealed, rec.Sealed)
		p.PExpire(ctx, skey, rs.r.ttl(rec, now))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("session: redis create: %w", err)
	}
	return tok, nil
}

// Get returns the live session for tok and slides its idle window.
func (rs *RedisStore) Get(ctx context.Context, tok string) (Session, error) {
	if !validToken(tok) {
		return Session{}, ErrNotFound
	}
	id, now := sessionID(tok), rs.r.clock()
	rec, found, err := rs.load(ctx, id)
	if err != nil {
		return Session{}, fmt.Errorf("session: redis get: %w", err)
	}
	if !found {
		return Session{}, ErrNotFound
	}
	s, err := rs.r.open(tok, id, rec, now)
	if errors.Is(err, ErrNotFound) {
		if err := rs.remove(ctx, id, rec.User); err != nil {
			return Session{}, fmt.Errorf("session: redis remove expired: %w", err)
		}
		return Session{}, ErrNotFound
	}
	if err != nil || !rs.r.needsTouch(rec, now) {
		return s, err
	}
	rec.LastSeen = now
	ok, err := rs.setFields(ctx, id, rs.r.ttl(rec, now), fieldLastSeen, now.UnixNano())
	if err != nil {
		return Session{}, fmt.Errorf("session: redis touch: %w", err)
	}
	if !ok {
		return Session{}, ErrNotFound // deleted while we read it
	}
	s.LastSeen = now
	return s, nil
}

// Update replaces the contents of the session for tok, keeping its ID, CreatedAt and ExpiresAt.
func (rs *RedisStore) Update(ctx context.Context, tok string, s Session) error {
	if !validToken(tok) {
		return ErrNotFound
	}
	id, now := sessionID(tok), rs.r.clock()
	rec, found, err := rs.load(ctx, id)
	if err != nil {
		return fmt.Errorf("session: redis update: %w", err)
	}
	if !found {
		return ErrNotFound
	}
	cur, err := rs.r.open(tok, id, rec, now)
	if errors.Is(err, ErrNotFound) {
		if err := rs.remove(ctx, id, rec.User); err != nil {
			return fmt.Errorf("session: redis remove expired: %w", err)
		}
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	next, err := rs.r.replace(tok, cur, s, rec, now)
	if err != nil {
		return err
	}
	ok, err := rs.setFields(ctx, id, rs.r.ttl(next, now),
		fieldSealed, next.Sealed, fieldLastSeen, now.UnixNano())
	if err != nil {
		return fmt.Errorf("session: redis update: %w", err)
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

// Delete removes the session for tok; deleting what is not there is not an error.
func (rs *RedisStore) Delete(ctx context.Context, tok string) error {
	if !validToken(tok) {
		return nil
	}
	id := sessionID(tok)
	user, err := rs.c.HGet(ctx, redisSessionKey(id), fieldUser).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("session: redis delete: %w", err)
	}
	if err := rs.remove(ctx, id, user); err != nil {
		return fmt.Errorf("session: redis delete: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers.
func (rs *RedisStore) Ping(ctx context.Context) error {
	if err := rs.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("session: redis ping: %w", err)
	}
	return nil
}

// Close does nothing: the client belongs to the caller, who may share it.
func (rs *RedisStore) Close() error { return nil }

// load reads a session's record; found is false when the key does not exist.
func (rs *RedisStore) load(ctx context.Context, id string) (rec record, found bool, err error) {
	vals, err := rs.c.HGetAll(ctx, redisSessionKey(id)).Result()
	if err != nil {
		return record{}, false, err
	}
	if len(vals) == 0 {
		return record{}, false, nil
	}
	return parseRedisRecord(vals[fieldUser], vals[fieldCreated], vals[fieldExpires], vals[fieldLastSeen], vals[fieldSealed]), true, nil
}

// parseRedisRecord turns a damaged entry into a zero record, which is never live, so it is
// treated as expired and removed.
func parseRedisRecord(user, created, expires, lastSeen, sealed string) record {
	c, err1 := strconv.ParseInt(created, 10, 64)
	e, err2 := strconv.ParseInt(expires, 10, 64)
	l, err3 := strconv.ParseInt(lastSeen, 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || user == "" || sealed == "" {
		return record{}
	}
	return record{
		User:     user,
		Created:  time.Unix(0, c).UTC(),
		Expires:  time.Unix(0, e).UTC(),
		LastSeen: time.Unix(0, l).UTC(),
		Sealed:   []byte(sealed),
	}
}

// setFields writes fields to an existing session; false means it no longer exists.
func (rs *RedisStore) setFields(ctx context.Context, id string, ttl time.Duration, fields ...any) (bool, error) {
	args := append([]any{ttlMillis(ttl)}, fields...)
	n, err := rs.setIfExists.Run(ctx, rs.c, []string{redisSessionKey(id)}, args...).Int()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// remove deletes a session, then its index member (see the key layout).
func (rs *RedisStore) remove(ctx context.Context, id, user string) error {
	if err := rs.c.Del(ctx, redisSessionKey(id)).Err(); err != nil {
		return err
	}
	if user == "" {
		return nil
	}
	return rs.c.ZRem(ctx, redisUserKey(user), id).Err()
}

// ttlMillis rounds up so a live session never gets a zero (or negative, which would delete
// it at once) TTL.
func ttlMillis(d time.Duration) int64 {
	return max(1, int64((d+time.Millisecond-1)/time.Millisecond))
}
