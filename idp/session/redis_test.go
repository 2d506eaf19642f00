package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
)

// newRedisClient connects through RedisConfig, so the tests run with the production timeouts.
func newRedisClient(t *testing.T, srv *redistest.Server) redis.UniversalClient {
	t.Helper()
	client, err := RedisConfig{Addrs: []string{srv.Addr()}}.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func newRedisHarness(srv *redistest.Server) func(t *testing.T, opt Options) harness {
	return func(t *testing.T, opt Options) harness {
		t.Helper()
		client := newRedisClient(t, srv)
		if err := client.FlushAll(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		return harness{
			store:  NewRedis(client, opt),
			raw:    func(t *testing.T) []byte { return redisDump(t, client) },
			writes: func(t *testing.T) int64 { return redisChanges(t, client) },
		}
	}
}

// redisDump returns every key and value as a reader of Redis would see them.
func redisDump(t *testing.T, c redis.UniversalClient) []byte {
	t.Helper()
	ctx := t.Context()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\n")
		switch typ := c.Type(ctx, k).Val(); typ {
		case "string":
			b.WriteString(c.Get(ctx, k).Val())
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				b.WriteString(f + "=" + v + "\n")
			}
		case "zset":
			for _, z := range c.ZRangeWithScores(ctx, k, 0, -1).Val() {
				fmt.Fprintf(&b, "%v %v\n", z.Member, z.Score)
			}
		default:
			t.Fatalf("key %s has unexpected type %q", k, typ)
		}
	}
	return []byte(b.String())
}

// redisChanges is the server's count of writes since the last save; saving is off.
func redisChanges(t *testing.T, c redis.UniversalClient) int64 {
	t.Helper()
	info, err := c.Info(t.Context(), "persistence").Result()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "rdb_changes_since_last_save:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO persistence has no rdb_changes_since_last_save")
	return 0
}

func TestRedisStore(t *testing.T) {
	runStoreSuite(t, newRedisHarness(redistest.Start(t)))
}

func TestRedisKeysAndTTLs(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	clock := newFakeClock()
	st := NewRedis(client, Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now})
	ctx := t.Context()
	tok, err := st.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutOnce(ctx, "state", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	keys := client.Keys(ctx, "*").Val()
	slices.Sort(keys)
	want := []string{
		"tollgate:once:state",
		"tollgate:session:" + sessionID(tok),
		"tollgate:user:" + alice.UserKey() + ":sessions",
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys = %q, want %q", keys, want)
	}
	wantTTL := func(key string, lo, hi time.Duration) {
		t.Helper()
		got := client.PTTL(ctx, key).Val()
		if got <= lo || got > hi {
			t.Errorf("PTTL %s = %v, want in (%v, %v]", key, got, lo, hi)
		}
	}
	wantTTL(want[0], 50*time.Second, time.Minute)
	wantTTL(want[1], suiteIdle-10*time.Second, suiteIdle)
	wantTTL(want[2], suiteAbsolute-10*time.Second, suiteAbsolute)

	// Near the absolute end, what remains of it bounds the TTL, not Idle.
	for range 11 {
		clock.Advance(5 * time.Minute)
		if _, err := st.Get(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	wantTTL(want[1], 5*time.Minute-10*time.Second, 5*time.Minute)
}

// Someone who can write to Redis but lacks the token can edit the plain fields; the sealed
// expiry still ends the session.
func TestRedisTamperedExpiryDoesNotExtend(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	clock := newFakeClock()
	st := NewRedis(client, Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now})
	ctx := t.Context()
	tok, err := st.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	far := strconv.FormatInt(clock.Now().Add(1000*time.Hour).UnixNano(), 10)
	key := redisSessionKey(sessionID(tok))
	if err := client.HSet(ctx, key, fieldCreated, far, fieldExpires, far, fieldLastSeen, far).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, tok); err != nil {
		t.Fatalf("control: tampered but unexpired session: %v", err)
	}
	clock.Advance(suiteAbsolute)
	if _, err := st.Get(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the sealed expiry = %v, want ErrNotFound", err)
	}
}

// A crash between indexing and writing leaves an index member without a session.
func TestRedisIndexMemberWithoutSession(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	st := NewRedis(client, Options{})
	ctx := t.Context()
	tok, err := st.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	orphan := sessionID("never-written")
	ukey := redisUserKey(alice.UserKey())
	if err := client.ZAdd(ctx, ukey, redis.Z{Score: float64(time.Now().Add(time.Hour).Unix()), Member: orphan}).Err(); err != nil {
		t.Fatal(err)
	}
	infos, err := st.ListUser(ctx, alice.UserKey())
	if err != nil || len(infos) != 1 || infos[0].ID != sessionID(tok) {
		t.Errorf("ListUser = %v, %v; want only the real session", infos, err)
	}
	if n, err := st.DeleteUser(ctx, alice.UserKey()); err != nil || n != 1 {
		t.Errorf("DeleteUser = %d, %v; want 1", n, err)
	}
	if n := client.Exists(ctx, ukey).Val(); n != 0 {
		t.Errorf("index still exists after DeleteUser")
	}
}

func TestRedisCloseKeepsClient(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	if err := NewRedis(client, Options{}).Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Errorf("client unusable after store Close: %v", err)
	}
}

// Redis down must read as "store failed" (503), never as "signed out", must fail within the
// configured timeouts, and must heal by itself when Redis is back.
func TestRedisDownFailsFastAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	client := newRedisClient(t, srv)
	st := NewRedis(client, Options{})
	ctx := t.Context()
	tok, err := st.Create(ctx, sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, tok); err != nil {
		t.Fatalf("control: %v", err)
	}

	srv.Stop()
	ops := map[string]func() error{
		"Get":        func() error { _, err := st.Get(ctx, tok); return err },
		"Create":     func() error { _, err := st.Create(ctx, sample(alice)); return err },
		"Update":     func() error { return st.Update(ctx, tok, sample(alice)) },
		"Delete":     func() error { return st.Delete(ctx, tok) },
		"DeleteUser": func() error { _, err := st.DeleteUser(ctx, alice.UserKey()); return err },
		"DeleteByID": func() error { return st.DeleteByID(ctx, alice.UserKey(), sessionID(tok)) },
		"ListUser":   func() error { _, err := st.ListUser(ctx, alice.UserKey()); return err },
		"PutOnce":    func() error { return st.PutOnce(ctx, "k", []byte("v"), time.Minute) },
		"TakeOnce":   func() error { _, err := st.TakeOnce(ctx, "k"); return err },
		"Ping":       func() error { return st.Ping(ctx) },
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s with Redis down = %v, want an error other than ErrNotFound", name, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s with Redis down took %v", name, d)
		}
	}

	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for st.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store did not recover within 5s of Redis restarting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok, err = st.Create(ctx, sample(alice))
	if err != nil {
		t.Fatalf("Create after restart: %v", err)
	}
	if _, err := st.Get(ctx, tok); err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
}

// deleteBeforeScript deletes a key just before the store's next script runs, as a Delete
// from another replica landing between a read and its write would.
type deleteBeforeScript struct {
	other redis.UniversalClient
	key   string
	armed bool
}

func (h *deleteBeforeScript) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *deleteBeforeScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *deleteBeforeScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); h.armed && (name == "evalsha" || name == "eval") {
			h.armed = false
			if err := h.other.Del(ctx, h.key).Err(); err != nil {
				return err
			}
		}
		return next(ctx, cmd)
	}
}

func TestRedisWriteRacingDeleteDoesNotResurrect(t *testing.T) {
	srv := redistest.Start(t)
	client, other := newRedisClient(t, srv), newRedisClient(t, srv)
	hook := &deleteBeforeScript{other: other}
	client.AddHook(hook)
	clock := newFakeClock()
	st := NewRedis(client, Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now})
	ctx := t.Context()

	for name, write := range map[string]func(tok string) error{
		"touch":  func(tok string) error { _, err := st.Get(ctx, tok); return err },
		"update": func(tok string) error { return st.Update(ctx, tok, sample(alice)) },
	} {
		t.Run(name, func(t *testing.T) {
			tok, err := st.Create(ctx, sample(alice))
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Minute) // a touch is due
			if err := write(tok); err != nil {
				t.Fatalf("control, no race: %v", err)
			}
			clock.Advance(2 * time.Minute)
			hook.key, hook.armed = redisSessionKey(sessionID(tok)), true
			if err := write(tok); !errors.Is(err, ErrNotFound) {
				t.Errorf("write racing a delete = %v, want ErrNotFound", err)
			}
			if hook.armed {
				t.Fatal("the write ran no script; the race was not exercised")
			}
			if n := other.Exists(ctx, hook.key).Val(); n != 0 {
				t.Errorf("the deleted session key exists again, with %d fields", len(other.HGetAll(ctx, hook.key).Val()))
			}
		})
	}
}
