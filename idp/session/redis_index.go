package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeleteUser removes every session of the user and returns how many live ones it ended.
// Only the members it read are removed from the index afterwards, so a session created
// meanwhile stays indexed and can still be revoked.
func (rs *RedisStore) DeleteUser(ctx context.Context, userKey string) (int, error) {
	ukey := redisUserKey(userKey)
	ids, err := rs.c.ZRange(ctx, ukey, 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("session: redis delete user: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	now := rs.r.clock()
	// Not a transaction: the keys live in different slots on a cluster. Each HMGET is
	// followed by the DEL of the same key on the same connection.
	fields := make([]*redis.SliceCmd, len(ids))
	dels := make([]*redis.IntCmd, len(ids))
	_, err = rs.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			fields[i] = p.HMGet(ctx, redisSessionKey(id), fieldUser, fieldCreated, fieldExpires, fieldLastSeen, fieldSealed)
			dels[i] = p.Del(ctx, redisSessionKey(id))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("session: redis delete user: %w", err)
	}
	n := 0
	for i := range ids {
		if dels[i].Val() == 1 && rs.r.live(recordFromSlice(fields[i].Val()), now) {
			n++
		}
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	if err := rs.c.ZRem(ctx, ukey, members...).Err(); err != nil {
		return 0, fmt.Errorf("session: redis delete user index: %w", err)
	}
	return n, nil
}

// DeleteByID removes one session of the user; ErrNotFound if the user has no live session
// with that ID, so an ID of someone else's session does nothing.
func (rs *RedisStore) DeleteByID(ctx context.Context, userKey, id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	vals, err := rs.c.HMGet(ctx, redisSessionKey(id), fieldUser, fieldCreated, fieldExpires, fieldLastSeen, fieldSealed).Result()
	if err != nil {
		return fmt.Errorf("session: redis delete by id: %w", err)
	}
	rec := recordFromSlice(vals)
	if rec.User != userKey {
		return ErrNotFound
	}
	if err := rs.remove(ctx, id, userKey); err != nil {
		return fmt.Errorf("session: redis delete by id: %w", err)
	}
	if !rs.r.live(rec, rs.r.clock()) {
		return ErrNotFound
	}
	return nil
}

// ListUser returns the user's live sessions, oldest first. It reads only: pruning index
// members whose session is missing could race a Create that has indexed but not yet written.
func (rs *RedisStore) ListUser(ctx context.Context, userKey string) ([]Info, error) {
	ids, err := rs.c.ZRange(ctx, redisUserKey(userKey), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("session: redis list user: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = rs.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, redisSessionKey(id), fieldUser, fieldCreated, fieldExpires, fieldLastSeen, fieldSealed)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("session: redis list user: %w", err)
	}
	now := rs.r.clock()
	var out []Info
	for i, id := range ids {
		if rec := recordFromSlice(cmds[i].Val()); rec.User == userKey && rs.r.live(rec, now) {
			out = append(out, rs.r.info(id, rec))
		}
	}
	sortInfos(out)
	return out, nil
}

// PutOnce stores value under key for ttl, replacing any earlier value.
func (rs *RedisStore) PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkOnce(key, ttl); err != nil {
		return err
	}
	v := encodeOnce(rs.r.clock().Add(ttl), value)
	if err := rs.c.Set(ctx, redisOnceKey(key), v, time.Duration(ttlMillis(ttl))*time.Millisecond).Err(); err != nil {
		return fmt.Errorf("session: redis put once: %w", err)
	}
	return nil
}

// TakeOnce returns and removes the value under key in one GETDEL, so of concurrent callers
// exactly one sees it.
func (rs *RedisStore) TakeOnce(ctx context.Context, key string) ([]byte, error) {
	b, err := rs.c.GetDel(ctx, redisOnceKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("session: redis take once: %w", err)
	}
	v, ok := decodeOnce(b, rs.r.clock())
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

// recordFromSlice reads an HMGET of user, created, expires, last seen and sealed; a missing
// key gives nils and so a zero record, which is never live.
func recordFromSlice(vals []any) record {
	if len(vals) != 5 {
		return record{}
	}
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i], _ = v.(string)
	}
	return parseRedisRecord(s[0], s[1], s[2], s[3], s[4])
}
