package session

import (
	"bytes"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
)

// TestCluster runs the store through a client in cluster mode, configured as the gate
// configures it, on three primaries with a replica each: the conformance suite (whose users
// and sessions spread over every primary's slots), then a failover of one primary during
// traffic.
func TestCluster(t *testing.T) {
	rc := redistest.StartCluster(t, redistest.ClusterOptions{})
	cfg := RedisConfig{Mode: "cluster", Addrs: rc.Addrs()}

	t.Run("conformance", func(t *testing.T) {
		primaries := primaryClients(t, rc)
		runStoreSuite(t, func(t *testing.T, opt Options) harness {
			for _, p := range primaries {
				if err := p.FlushAll(t.Context()).Err(); err != nil {
					t.Fatal(err)
				}
			}
			return harness{
				store: NewRedis(configClient(t, cfg), opt),
				raw: func(t *testing.T) []byte {
					var all [][]byte
					for _, p := range primaries {
						all = append(all, redisDump(t, p))
					}
					return bytes.Join(all, nil)
				},
				writes: func(t *testing.T) int64 {
					var n int64
					for _, p := range primaries {
						n += redisChanges(t, p)
					}
					return n
				},
			}
		})
	})

	t.Run("primary killed during traffic", func(t *testing.T) {
		st := NewRedis(configClient(t, cfg), Options{})
		toks := createSessions(t, st, 24)
		if err := rc.WaitReplicated(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		nodes, err := rc.Topology()
		if err != nil {
			t.Fatal(err)
		}
		var victim, heir redistest.ClusterNode
		for _, n := range nodes {
			if n.Primary && victim.ID == "" {
				victim = n
			}
		}
		for _, n := range nodes {
			if !n.Primary && n.PrimaryID == victim.ID {
				heir = n
			}
		}
		if heir.ID == "" {
			t.Fatalf("primary %s has no replica in %+v", victim.Addr, nodes)
		}
		// The drill only means something if some of the sessions live on the primary that dies.
		onVictim := redis.NewClient(&redis.Options{Addr: victim.Addr})
		keys, err := onVictim.Keys(t.Context(), redisSessionKey("*")).Result()
		_ = onVictim.Close()
		if err != nil || len(keys) == 0 {
			t.Fatalf("no session on %s (%v): pick another victim", victim.Addr, err)
		}
		t.Logf("killing primary %s (%d of %d sessions, %d slots); its replica is %s", victim.Addr, len(keys), len(toks), victim.Slots, heir.Addr)
		runFailoverDrill(t, st, toks, func() {
			rc.Node(victim.Addr).Stop()
			if err := rc.WaitPrimary(heir.Addr, drillRecoveryBound); err != nil {
				t.Errorf("the replica did not take over: %v", err)
			}
		})
	})
}

// primaryClients connects to each primary on its own, to see what it stores.
func primaryClients(t *testing.T, rc *redistest.Cluster) []*redis.Client {
	t.Helper()
	nodes, err := rc.Topology()
	if err != nil {
		t.Fatal(err)
	}
	var out []*redis.Client
	for _, n := range nodes {
		if !n.Primary {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: n.Addr})
		t.Cleanup(func() { _ = c.Close() })
		out = append(out, c)
	}
	return out
}
