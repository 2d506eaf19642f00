package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/idp/session"
)

const benchUsage = `usage: tollgate bench [flags]

Measures the gate on this machine: starts an upstream (fixed-size answers), a bare reverse
proxy with the gate's transport, and one gate per store on loopback, signs a user in
(sessions created in the store), then drives each in turn with keep-alive connections for a
fixed time, alternating bare/gate/bare/gate, and prints requests per second, p50/p99
latency, the ratio gate ÷ bare and the memory of the process. Everything runs in this
process and on 127.0.0.1.

  --store LIST        stores to run gates with, comma-separated: embedded, redis,
                      redis-cached (default embedded,redis,redis-cached)
  --redis-addr ADDR   an existing Redis to use (its sessions are removed at the end);
                      default: start redis-server on a free port
  --connections N     concurrent keep-alive connections, one session each (default 64)
  --duration D        length of each measured run (default 5s)
  --rounds N          runs per target, alternating with the bare proxy (default 2)
  --sessions N        live sessions created in Redis first, for the memory figure
                      (default 100000; the embedded store gets one per connection)
  --audit MODE        none (records discarded), interval or always (the audit pipeline
                      with that spool fsync) (default none)
  --body BYTES        size of each upstream answer (default 1024)
  --bare KIND         pooled: the bare proxy borrows its copy buffers from the gate's pool,
                      so the ratio is what the gate adds; plain: a default ReverseProxy,
                      which allocates 32 KiB per request (default pooled)
  --cpuprofile FILE   write a CPU profile of the measured runs (go tool pprof)
`

// benchFlags are the harness settings.
type benchFlags struct {
	stores      []string
	redisAddr   string
	connections int
	duration    time.Duration
	rounds      int
	sessions    int
	audit       string
	body        int
	cpuprofile  string
	barePool    bool
}

func parseBenchFlags(args []string, stderr io.Writer) (benchFlags, error) {
	fs := flag.NewFlagSet("tollgate bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage) }
	var f benchFlags
	stores := fs.String("store", "embedded,redis,redis-cached", "")
	fs.StringVar(&f.redisAddr, "redis-addr", "", "")
	fs.IntVar(&f.connections, "connections", 64, "")
	fs.DurationVar(&f.duration, "duration", 5*time.Second, "")
	fs.IntVar(&f.rounds, "rounds", 2, "")
	fs.IntVar(&f.sessions, "sessions", 100_000, "")
	fs.StringVar(&f.audit, "audit", "none", "")
	fs.IntVar(&f.body, "body", 1024, "")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "")
	bare := fs.String("bare", "pooled", "")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	var errs []error
	switch *bare {
	case "pooled", "plain":
		f.barePool = *bare == "pooled"
	default:
		errs = append(errs, fmt.Errorf("--bare: %q is not pooled or plain", *bare))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	for _, s := range strings.Split(*stores, ",") {
		switch s = strings.TrimSpace(s); s {
		case "embedded", "redis", "redis-cached":
			if !slices.Contains(f.stores, s) {
				f.stores = append(f.stores, s)
			}
		default:
			errs = append(errs, fmt.Errorf("--store: %q is not one of embedded, redis, redis-cached", s))
		}
	}
	if f.connections < 1 || f.connections > 10_000 {
		errs = append(errs, fmt.Errorf("--connections: %d is not between 1 and 10000", f.connections))
	}
	if f.duration <= 0 || f.duration > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--duration: %s is not between 0 and 10m", f.duration))
	}
	if f.rounds < 1 || f.rounds > 20 {
		errs = append(errs, fmt.Errorf("--rounds: %d is not between 1 and 20", f.rounds))
	}
	if f.sessions < 0 || f.sessions > 10_000_000 {
		errs = append(errs, fmt.Errorf("--sessions: %d is not between 0 and 10000000", f.sessions))
	}
	if f.audit != "none" && f.audit != "interval" && f.audit != "always" {
		errs = append(errs, fmt.Errorf("--audit: %q is not one of none, interval, always", f.audit))
	}
	if f.body < 0 || f.body > 64<<20 {
		errs = append(errs, fmt.Errorf("--body: %d is not between 0 and 64MiB", f.body))
	}
	return f, errors.Join(errs...)
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseBenchFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate bench: %v\n\n%s", err, benchUsage)
		return 2
	}
	failed, err := runBench(ctx, f, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "tollgate bench: %v\n", err)
		return 1
	}
	if failed {
		fmt.Fprintln(stderr, "tollgate bench: some requests failed; the figures above do not measure a working gate")
		return 1
	}
	return 0
}

// benchTarget is one server the load is driven against.
type benchTarget struct {
	name   string
	addr   string
	reqs   [][]byte
	rounds []loadStats
	allocs []float64 // per request, whole process, per round
}

func runBench(ctx context.Context, f benchFlags, out io.Writer) (failed bool, err error) {
	dir, err := os.MkdirTemp("", "tollgate-bench-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	env := &benchEnv{dir: dir, log: slog.New(slog.DiscardHandler)}
	defer env.close()
	rssStart := procStatus("VmRSS")

	if err := env.startUpstream(f.body); err != nil {
		return false, err
	}
	bareAddr, err := env.startBare(f.barePool)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "tollgate bench: %d CPUs, %s, %d connections, %s per run, %d rounds, %d-byte answers, audit %s\n",
		runtime.NumCPU(), runtime.Version(), f.connections, f.duration, f.rounds, f.body, f.audit)

	tokens := map[string][]string{}
	var redisInfo func() string
	if slices.ContainsFunc(f.stores, func(s string) bool { return strings.HasPrefix(s, "redis") }) {
		toks, info, err := benchRedis(ctx, env, f, out)
		if err != nil {
			return false, err
		}
		tokens["redis"], tokens["redis-cached"], redisInfo = toks, toks, info
	}
	targets := []*benchTarget{{name: "bare", addr: bareAddr}}
	for _, name := range f.stores {
		st, err := env.openStore(name)
		if err != nil {
			return false, fmt.Errorf("%s store: %w", name, err)
		}
		if tokens[name] == nil {
			if tokens[name], err = createSessions(ctx, st, f.connections, f.connections); err != nil {
				return false, err
			}
		}
		au, err := env.openAuditor(f.audit, name)
		if err != nil {
			return false, fmt.Errorf("audit: %w", err)
		}
		addr, err := env.startGate(st, au)
		if err != nil {
			return false, fmt.Errorf("gate with %s store: %w", name, err)
		}
		targets = append(targets, &benchTarget{name: "gate-" + name, addr: addr, reqs: requests(addr, tokens[name])})
	}
	// The bare proxy gets the same requests, cookie included, which it passes on.
	targets[0].reqs = requests(bareAddr, tokens[f.stores[0]])
	runtime.GC()
	debug.FreeOSMemory()
	rssSetup := procStatus("VmRSS")

	// Warm every target once (connections, caches, the Go runtime), then alternate.
	warm := min(f.duration/5, time.Second)
	for _, t := range targets {
		drive(ctx, t.addr, t.reqs, warm)
	}
	if f.cpuprofile != "" {
		stop, err := startCPUProfile(f.cpuprofile)
		if err != nil {
			return false, err
		}
		defer stop()
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\ttarget\treq/s\tp50\tp99\tallocs/req\tfailed\t")
	for r := range f.rounds {
		for _, t := range targets {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			s := drive(ctx, t.addr, t.reqs, f.duration)
			runtime.ReadMemStats(&after)
			if err := ctx.Err(); err != nil {
				return false, err
			}
			t.rounds = append(t.rounds, s)
			t.allocs = append(t.allocs, float64(after.Mallocs-before.Mallocs)/float64(max(1, s.ok+s.failed)))
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%.0f\t%d\t\n", r+1, t.name, s.rps(), us(s.quantile(.5)), us(s.quantile(.99)), t.allocs[r], s.failed)
			failed = failed || s.failed > 0
		}
	}
	tw.Flush()
	summarize(out, targets)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(out, "\nmemory of this process (load generator, upstream, bare proxy and gates): RSS %s at start, %s with everything set up, %s at the end (peak %s); Go heap in use %s\n",
		mib(rssStart), mib(rssSetup), mib(procStatus("VmRSS")), mib(procStatus("VmHWM")), mib(int64(ms.HeapInuse)))
	if redisInfo != nil {
		fmt.Fprintln(out, redisInfo())
	}
	for _, t := range targets {
		if all := merge(t.rounds); all.firstErr != nil {
			fmt.Fprintf(out, "%s: first failure: %v\n", t.name, all.firstErr)
		}
	}
	return failed, nil
}

// benchRedis connects to (or starts) Redis, creates the sessions there and returns the tokens
// of those in use, and a line describing Redis's memory for the report.
func benchRedis(ctx context.Context, env *benchEnv, f benchFlags, out io.Writer) ([]string, func() string, error) {
	addr := f.redisAddr
	if addr == "" {
		var err error
		if addr, err = env.startRedis(ctx); err != nil {
			return nil, nil, err
		}
	}
	// The gates get the production client (short timeouts); setup and cleanup a patient one.
	client, err := session.RedisConfig{Addrs: []string{addr}}.Client()
	if err != nil {
		return nil, nil, err
	}
	env.closers = append(env.closers, func() { _ = client.Close() })
	env.redis = client
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		return nil, nil, fmt.Errorf("redis at %s does not answer: %w", addr, err)
	}
	admin := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	env.closers = append(env.closers, func() { _ = admin.Close() })
	plain := session.NewRedis(admin, session.Options{})
	if f.redisAddr != "" {
		env.closers = append(env.closers, func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = plain.DeleteUser(ctx, benchIdentity.UserKey())
		})
	}
	before := usedMemory(ctx, admin)
	start := time.Now()
	n := max(f.sessions, f.connections)
	toks, err := createSessions(ctx, plain, n, f.connections)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(out, "sessions: %d live in Redis at %s (created in %s), %d in use (one per connection)\n",
		n, addr, time.Since(start).Round(time.Millisecond), f.connections)
	info := func() string {
		return fmt.Sprintf("redis: used_memory %s with the %d sessions (%s before)", mib(usedMemory(ctx, admin)), n, mib(before))
	}
	return toks, info, nil
}

// usedMemory is Redis's INFO used_memory, in bytes; 0 if unknown.
func usedMemory(ctx context.Context, c *redis.Client) int64 {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			var n int64
			_, _ = fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

// requests builds one request per token (one per connection), addressed to host.
func requests(host string, toks []string) [][]byte {
	reqs := make([][]byte, len(toks))
	for i, tok := range toks {
		reqs[i] = rawRequest(host, benchPath, "tollgate", tok)
	}
	return reqs
}

// summarize prints each target over all rounds, against the bare proxy: ratio is the mean of
// the per-round gate ÷ bare req/s; +p50 and +p99 are what the gate adds to the bare latency.
func summarize(out io.Writer, targets []*benchTarget) {
	bare := targets[0]
	bareAll := merge(bare.rounds)
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50\tp99\tgate÷bare\t+p50\t+p99\tallocs/req\t")
	for _, t := range targets {
		all := merge(t.rounds)
		var ratio float64
		for r := range t.rounds {
			ratio += t.rounds[r].rps() / max(1, bare.rounds[r].rps())
		}
		ratio /= float64(len(t.rounds))
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.2f\t%s\t%s\t%.0f\t\n", t.name, all.rps(), us(all.quantile(.5)), us(all.quantile(.99)),
			ratio, signedUS(all.quantile(.5)-bareAll.quantile(.5)), signedUS(all.quantile(.99)-bareAll.quantile(.99)), mean(t.allocs))
	}
	tw.Flush()
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(max(1, len(v)))
}

func us(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }

func signedUS(d time.Duration) string { return fmt.Sprintf("%+dµs", d.Microseconds()) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
