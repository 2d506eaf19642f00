package redistest

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelOptions shape a Sentinel deployment. Zero values take the defaults noted.
type SentinelOptions struct {
	MasterName string // "mymaster"
	Replicas   int    // 1
	Sentinels  int    // 3; the quorum is a majority of them
	// DownAfter is how long the primary must stay silent before a sentinel thinks it down
	// (default 500ms, far below Redis's 30s so a test sees a failover in seconds).
	DownAfter time.Duration
	// FailoverTimeout bounds one failover attempt before another may start (default 5s).
	FailoverTimeout time.Duration
}

// Sentinel is a primary with replicas, watched by sentinels that promote a replica when the
// primary stops answering. Every process is a child of the test and killed when it ends.
type Sentinel struct {
	MasterName string
	Primary    *Server
	Replicas   []*Server
	sentinels  []*daemon
}

// sentinelReadyTimeout bounds the wait for sentinels to find the replicas and each other:
// they exchange hello messages every 2s.
const sentinelReadyTimeout = 20 * time.Second

// StartSentinel starts the primary, its replicas and the sentinels, and returns once every
// sentinel monitors the primary, knows every replica and every other sentinel, and the
// replicas are in sync: a failover is possible from then on.
func StartSentinel(t testing.TB, opt SentinelOptions) *Sentinel {
	t.Helper()
	name := cmp.Or(opt.MasterName, "mymaster")
	nReplicas, nSentinels := cmp.Or(opt.Replicas, 1), cmp.Or(opt.Sentinels, 3)
	downAfter, failoverTimeout := cmp.Or(opt.DownAfter, 500*time.Millisecond), cmp.Or(opt.FailoverTimeout, 5*time.Second)

	s := &Sentinel{MasterName: name, Primary: Start(t)}
	host, port, _ := net.SplitHostPort(s.Primary.Addr())
	for range nReplicas {
		s.Replicas = append(s.Replicas, Start(t, "--replicaof", host, port))
	}
	quorum := nSentinels/2 + 1
	for i := range nSentinels {
		dir := filepath.Join(t.TempDir(), "sentinel"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(dir, "sentinel.conf")
		s.sentinels = append(s.sentinels, startDaemon(t, func(p int) []string {
			// Sentinel rewrites its file to record what it learns, so each gets its own.
			body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %s %s %s %d\n"+
				"sentinel down-after-milliseconds %s %d\n"+
				"sentinel failover-timeout %s %d\n"+
				"sentinel parallel-syncs %s 1\n",
				p, dir, name, host, port, quorum,
				name, downAfter.Milliseconds(), name, failoverTimeout.Milliseconds(), name)
			if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{conf, "--sentinel"}
		}))
	}
	replicas := s.ReplicaAddrs()
	if err := WaitReplicated(s.Primary.Addr(), replicas, sentinelReadyTimeout); err != nil {
		t.Fatalf("redistest: replicas not in sync: %v", err)
	}
	err := waitFor(sentinelReadyTimeout, func() error {
		for _, d := range s.sentinels {
			m, err := sentinelMaster(d.addr(), name)
			if err != nil {
				return err
			}
			if m["num-slaves"] != strconv.Itoa(nReplicas) || m["num-other-sentinels"] != strconv.Itoa(nSentinels-1) || m["flags"] != "master" {
				return fmt.Errorf("sentinel %s sees flags=%s num-slaves=%s num-other-sentinels=%s", d.addr(), m["flags"], m["num-slaves"], m["num-other-sentinels"])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: sentinels not ready within %s: %v\n%s", sentinelReadyTimeout, err, s.sentinels[0].output())
	}
	return s
}

// Addrs are the sentinels' addresses, what a client in sentinel mode is configured with.
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.sentinels))
	for i, d := range s.sentinels {
		out[i] = d.addr()
	}
	return out
}

// ReplicaAddrs are the replicas' addresses.
func (s *Sentinel) ReplicaAddrs() []string {
	out := make([]string, len(s.Replicas))
	for i, r := range s.Replicas {
		out[i] = r.Addr()
	}
	return out
}

// WaitNewMaster waits until every sentinel names a master other than old and that server
// answers as a primary, and returns its address.
func (s *Sentinel) WaitNewMaster(old string, timeout time.Duration) (string, error) {
	var master string
	err := waitFor(timeout, func() error {
		seen := ""
		for _, d := range s.sentinels {
			reply, err := command(d.addr(), "SENTINEL", "get-master-addr-by-name", s.MasterName)
			if err != nil {
				return err
			}
			h, p, ok := strings.Cut(reply, "\n")
			if !ok {
				return fmt.Errorf("sentinel %s: master address %q", d.addr(), reply)
			}
			addr := net.JoinHostPort(h, p)
			if addr == old {
				return fmt.Errorf("sentinel %s still names %s", d.addr(), old)
			}
			if seen != "" && addr != seen {
				return fmt.Errorf("sentinels disagree: %s and %s", seen, addr)
			}
			seen = addr
		}
		role, err := infoField(seen, "replication", "role")
		if err != nil {
			return err
		}
		if role != "master" {
			return fmt.Errorf("%s is still a %s", seen, role)
		}
		master = seen
		return nil
	})
	return master, err
}

// sentinelMaster returns the fields of SENTINEL MASTER, a flat list of name/value pairs.
func sentinelMaster(addr, name string) (map[string]string, error) {
	reply, err := command(addr, "SENTINEL", "MASTER", name)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(reply, "\n")
	if len(parts)%2 != 0 {
		return nil, errors.New("SENTINEL MASTER: odd number of fields")
	}
	m := make(map[string]string, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		m[parts[i]] = parts[i+1]
	}
	return m, nil
}
