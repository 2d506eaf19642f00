package redistest

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClusterOptions shape a Redis Cluster. Zero values take the defaults noted.
type ClusterOptions struct {
	Primaries       int // 3, the fewest Redis Cluster accepts
	ReplicasPerNode int // 1
	// NodeTimeout is how long a node may stay silent before it is thought failed (default 1s,
	// far below Redis's 15s so a test sees a failover in seconds).
	NodeTimeout time.Duration
}

// Cluster is a Redis Cluster of redis-server processes on loopback, each a child of the test
// and killed when it ends.
type Cluster struct {
	nodes []*Server
}

// ClusterNode is one line of CLUSTER NODES.
type ClusterNode struct {
	ID        string
	Addr      string
	Primary   bool
	PrimaryID string // for a replica, the ID of its primary
	Failed    bool   // flagged fail or pfail by the node that was asked
	Slots     int    // how many hash slots it serves
}

// clusterReadyTimeout bounds creating the cluster and waiting for it to settle.
const clusterReadyTimeout = 30 * time.Second

// StartCluster starts the nodes, joins them with redis-cli --cluster create, and returns once
// every node reports the cluster healthy and every replica is in sync with its primary.
func StartCluster(t testing.TB, opt ClusterOptions) *Cluster {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatal("redis-cli not found: install it, e.g. apt-get install redis-tools")
	}
	primaries, perNode := cmp.Or(opt.Primaries, 3), cmp.Or(opt.ReplicasPerNode, 1)
	timeout := cmp.Or(opt.NodeTimeout, time.Second)
	c := &Cluster{}
	for range primaries * (1 + perNode) {
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		c.nodes = append(c.nodes, Start(t,
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(timeout.Milliseconds(), 10),
			"--cluster-port", strconv.Itoa(bus),
			// A replica that lost its primary a while ago may still take over: the test
			// prefers an available cluster over the last few writes.
			"--cluster-replica-validity-factor", "0",
		))
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(perNode), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitHealthy(clusterReadyTimeout); err != nil {
		t.Fatalf("redistest: cluster not healthy: %v", err)
	}
	if err := c.WaitReplicated(clusterReadyTimeout); err != nil {
		t.Fatalf("redistest: cluster replicas not in sync: %v", err)
	}
	return c
}

// Addrs are the addresses of every node, what a client in cluster mode may be seeded with.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Addr()
	}
	return out
}

// Node returns the server at addr, to stop it; nil if there is none.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// Topology is the cluster as the first node that answers sees it.
func (c *Cluster) Topology() ([]ClusterNode, error) {
	var lastErr error
	for _, addr := range c.Addrs() {
		reply, err := command(addr, "CLUSTER", "NODES")
		if err != nil {
			lastErr = err
			continue
		}
		return parseClusterNodes(reply)
	}
	return nil, fmt.Errorf("no node answers: %w", lastErr)
}

// WaitHealthy waits until every node that answers reports cluster_state:ok with every slot
// served, and knows every node.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	return waitFor(timeout, func() error {
		live := 0
		for _, addr := range c.Addrs() {
			if ping(addr) != nil {
				continue
			}
			live++
			info, err := command(addr, "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:" + strconv.Itoa(len(c.nodes))} {
				if !strings.Contains(info, want+"\r\n") && !strings.HasSuffix(strings.TrimSpace(info), want) {
					return fmt.Errorf("node %s: no %q in CLUSTER INFO", addr, want)
				}
			}
		}
		if live == 0 {
			return fmt.Errorf("no node answers")
		}
		return nil
	})
}

// WaitPrimary waits until every node that answers names addr a primary serving slots, and
// the cluster is healthy again: what a failover of addr's former primary ends with.
func (c *Cluster) WaitPrimary(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	err := waitFor(timeout, func() error {
		for _, a := range c.Addrs() {
			if ping(a) != nil {
				continue
			}
			reply, err := command(a, "CLUSTER", "NODES")
			if err != nil {
				return err
			}
			nodes, err := parseClusterNodes(reply)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(nodes, func(n ClusterNode) bool { return n.Addr == addr })
			if i < 0 || !nodes[i].Primary || nodes[i].Slots == 0 {
				return fmt.Errorf("node %s does not yet see %s as a primary with slots", a, addr)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.WaitHealthy(time.Until(deadline))
}

// WaitReplicated waits until every replica has applied all that its primary had accepted
// when it was called.
func (c *Cluster) WaitReplicated(timeout time.Duration) error {
	nodes, err := c.Topology()
	if err != nil {
		return err
	}
	for _, p := range nodes {
		if !p.Primary || p.Failed {
			continue
		}
		var replicas []string
		for _, r := range nodes {
			if !r.Primary && !r.Failed && r.PrimaryID == p.ID {
				replicas = append(replicas, r.Addr)
			}
		}
		if err := WaitReplicated(p.Addr, replicas, timeout); err != nil {
			return err
		}
	}
	return nil
}

// parseClusterNodes reads CLUSTER NODES: id addr@bus flags primary ping pong epoch link slots...
func parseClusterNodes(reply string) ([]ClusterNode, error) {
	var out []ClusterNode
	for _, line := range strings.Split(strings.TrimSpace(reply), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line %q", line)
		}
		addr, _, _ := strings.Cut(f[1], "@")
		flags := strings.Split(f[2], ",")
		n := ClusterNode{
			ID: f[0], Addr: addr,
			Primary: slices.Contains(flags, "master"),
			Failed:  slices.Contains(flags, "fail") || slices.Contains(flags, "fail?"),
		}
		if f[3] != "-" {
			n.PrimaryID = f[3]
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated
				continue
			}
			lo, hi, found := strings.Cut(s, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if found {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("CLUSTER NODES slots %q", s)
			}
			n.Slots += b - a + 1
		}
		out = append(out, n)
	}
	return out, nil
}
