// Command tollgate is an identity-aware reverse proxy for a legacy billing application.
//
//	tollgate serve --config tollgate.yaml      run the gate
//	tollgate demo                              run the gate, a demo IdP and the example app
//	tollgate check-config --config f           validate config and policy, exit 1 on any problem
//	tollgate version                           print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	// Policies may name time zones ("hours" conditions); minimal container images have no
	// zone database of their own.
	_ "time/tzdata"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: tollgate <command> [flags]

commands:
  serve         run the gate:                  tollgate serve --config tollgate.yaml
  demo          run a self-contained demo:     tollgate demo [--addr 127.0.0.1:8080] [--ops-addr 127.0.0.1:9090] [--data DIR]
  check-config  validate config and policy:    tollgate check-config --config tollgate.yaml
  users         manage users:                  tollgate users list|add|set-roles|disable|enable|revoke|review|bootstrap-admin
  policy        explain, test, coverage:       tollgate policy explain --policy policy.yaml --roles support GET /payments
  audit verify  check an audit trail:          tollgate audit verify [--key checkpoint.pub] FILE...
  bench         measure the gate on loopback:  tollgate bench [--store embedded,redis,redis-cached] [--duration 5s]
  version       print the version
`

// run dispatches a subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "users":
		return cmdUsers(ctx, args[1:], stdout, stderr)
	case "policy":
		return cmdPolicy(ctx, args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(ctx, args[1:], stdout, stderr)
	case "bench":
		return cmdBench(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "tollgate", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
