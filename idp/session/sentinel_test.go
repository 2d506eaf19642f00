package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/internal/redistest"
)

// Bounds of a failover drill. A failover here takes a few seconds (the sentinels and the
// cluster nodes are tuned to notice a dead primary within a second); the bounds leave room
// for a loaded CI machine while still failing a client that never finds the new primary.
const (
	drillRecoveryBound = 20 * time.Second // from the kill to a steady run of successes
	drillOpBound       = 5 * time.Second  // one request may fail, but must fail fast
	drillPause         = 5 * time.Millisecond
)

// TestSentinel runs the store through a client in sentinel mode, configured as the gate
// configures it: the conformance suite, then a failover of the primary during traffic.
func TestSentinel(t *testing.T) {
	rs := redistest.StartSentinel(t, redistest.SentinelOptions{})
	cfg := RedisConfig{Mode: "sentinel", MasterName: rs.MasterName, Addrs: rs.Addrs()}

	t.Run("conformance", func(t *testing.T) {
		runStoreSuite(t, func(t *testing.T, opt Options) harness {
			client := configClient(t, cfg)
			if err := client.FlushAll(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			return harness{
				store:  NewRedis(client, opt),
				raw:    func(t *testing.T) []byte { return redisDump(t, client) },
				writes: func(t *testing.T) int64 { return redisChanges(t, client) },
			}
		})
	})

	t.Run("primary killed during traffic", func(t *testing.T) {
		st := NewRedis(configClient(t, cfg), Options{})
		toks := createSessions(t, st, 16)
		// Writes a replica has not received die with the primary; the drill is about those
		// that were replicated, which must all survive.
		if err := redistest.WaitReplicated(rs.Primary.Addr(), rs.ReplicaAddrs(), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		runFailoverDrill(t, st, toks, func() {
			old := rs.Primary.Addr()
			rs.Primary.Stop()
			promoted, err := rs.WaitNewMaster(old, drillRecoveryBound)
			if err != nil {
				t.Errorf("sentinels did not fail over: %v", err)
				return
			}
			if promoted != rs.Replicas[0].Addr() {
				t.Errorf("sentinels promoted %s, want the replica %s", promoted, rs.Replicas[0].Addr())
			}
		})
	})
}

// configClient builds a client from cfg the way the gate does, closed when the test ends.
func configClient(t *testing.T, cfg RedisConfig) redis.UniversalClient {
	t.Helper()
	client, err := cfg.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// createSessions creates n sessions of different people, so that on a cluster their keys
// and user indexes spread over the slots, and returns their tokens in subject order.
func createSessions(t *testing.T, st *RedisStore, n int) []string {
	t.Helper()
	toks := make([]string, n)
	for i := range toks {
		s := sample(idp.Identity{Issuer: "https://idp.billing.example", Subject: fmt.Sprintf("u-%02d", i)})
		tok, err := st.Create(t.Context(), s)
		if err != nil {
			t.Fatalf("Create %d: %v", i, err)
		}
		toks[i] = tok
	}
	return toks
}

// drillOp is one request made during a drill.
type drillOp struct {
	start time.Time
	took  time.Duration
	err   error
}

// runFailoverDrill reads the sessions of toks in a steady loop while kill takes the primary
// down (and returns once the deployment says it has failed over), then holds the store to
// what the gate needs: while no primary serves, requests fail with errors and fast, never
// with ErrNotFound (which the gate would turn into "signed out"); within drillRecoveryBound
// requests succeed again without help; every session survives; new sessions can be made.
func runFailoverDrill(t *testing.T, st *RedisStore, toks []string, kill func()) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	var (
		mu   sync.Mutex
		ops  []drillOp
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			tok := toks[i%len(toks)]
			octx, cancel := context.WithTimeout(ctx, 2*drillOpBound)
			start := time.Now()
			s, err := st.Get(octx, tok)
			took := time.Since(start)
			cancel()
			if ctx.Err() != nil {
				return // the drill ended while this request ran: not a result
			}
			if want := fmt.Sprintf("u-%02d", i%len(toks)); err == nil && s.Identity.Subject != want {
				err = fmt.Errorf("got the session of %s, want %s", s.Identity.Subject, want)
			}
			mu.Lock()
			ops = append(ops, drillOp{start, took, err})
			mu.Unlock()
			time.Sleep(drillPause)
		}
	}()
	snapshot := func() []drillOp {
		mu.Lock()
		defer mu.Unlock()
		return append([]drillOp(nil), ops...)
	}
	defer func() { stop(); <-done }()

	time.Sleep(300 * time.Millisecond) // a baseline of healthy traffic
	killed := time.Now()
	kill()

	// Recovered: a run of successes long enough to have read every session again.
	streak := 2 * len(toks)
	var recoveredAt time.Time
	for recoveredAt.IsZero() {
		if time.Since(killed) > drillRecoveryBound+2*drillOpBound {
			break
		}
		time.Sleep(50 * time.Millisecond)
		recoveredAt = recovery(snapshot(), killed, streak)
	}
	stop()
	<-done
	all := snapshot()

	var before, during, failed int
	var slowest time.Duration
	var errs []string
	for _, op := range all {
		if op.start.Add(op.took).Before(killed) {
			before++
			if op.err != nil {
				t.Errorf("before the kill: %v", op.err)
			}
			continue
		}
		during++
		slowest = max(slowest, op.took)
		if op.err == nil {
			continue
		}
		failed++
		if errors.Is(op.err, ErrNotFound) {
			t.Errorf("at %v after the kill: ErrNotFound for a live session: the gate would sign the person out", op.start.Sub(killed).Round(time.Millisecond))
		}
		if len(errs) < 3 {
			errs = append(errs, op.err.Error())
		}
	}
	t.Logf("%d requests before the kill, %d after: %d failed (e.g. %s); slowest %v",
		before, during, failed, strings.Join(errs, "; "), slowest.Round(time.Millisecond))
	if before == 0 {
		t.Error("no request ran before the kill")
	}
	if failed == 0 {
		t.Error("no request failed after the kill: the drill did not catch the outage, so it proved nothing")
	}
	if slowest > drillOpBound {
		t.Errorf("a request took %v during the failover, want at most %v: a slow store piles up requests", slowest, drillOpBound)
	}
	if recoveredAt.IsZero() {
		t.Fatalf("requests did not succeed again by themselves within %v of the kill", drillRecoveryBound)
	}
	took := recoveredAt.Sub(killed)
	t.Logf("recovered %v after the kill", took.Round(time.Millisecond))
	if took > drillRecoveryBound {
		t.Errorf("recovery took %v, want at most %v", took, drillRecoveryBound)
	}

	for i, tok := range toks {
		if _, err := st.Get(t.Context(), tok); err != nil {
			t.Errorf("session %d after the failover: %v", i, err)
		}
	}
	s := sample(alice)
	tok, err := st.Create(t.Context(), s)
	if err != nil {
		t.Fatalf("Create after the failover: %v", err)
	}
	if got, err := st.Get(t.Context(), tok); err != nil || got.Identity.Subject != alice.Subject {
		t.Errorf("Get of a session made after the failover = %v, %v", got.Identity.Subject, err)
	}
	if n, err := st.DeleteUser(t.Context(), alice.UserKey()); err != nil || n != 1 {
		t.Errorf("DeleteUser after the failover = %d, %v; want 1, nil", n, err)
	}
}

// recovery returns the start of the first run of n successive successes that follows a
// failure after killed, or the zero time when there is none yet.
func recovery(ops []drillOp, killed time.Time, n int) time.Time {
	sawFailure, run := false, 0
	var runStart time.Time
	for _, op := range ops {
		if op.start.Add(op.took).Before(killed) {
			continue
		}
		if op.err != nil {
			sawFailure, run = true, 0
			continue
		}
		if !sawFailure {
			continue
		}
		if run == 0 {
			runStart = op.start
		}
		if run++; run >= n {
			return runStart
		}
	}
	return time.Time{}
}
