package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/tollgate/tollgate/audit"

	"github.com/tollgate/tollgate/policy"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "tollgate.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, pol, err := loadAll(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log, level := newLevelLogger(cfg.Log.Level, stderr)
	gw, err := assemble(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer gw.close()
	gw.file, gw.level = *path, level
	ln, err := net.Listen("tcp", cfg.Listen.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: listen.addr: %v\n", cfg.path, err)
		return 1
	}
	ln = gw.tls.listener(ln)
	opsLn, err := net.Listen("tcp", cfg.Listen.OpsAddr)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "%s: listen.ops_addr: %v\n", cfg.path, err)
		return 1
	}
	log.Info("tollgate started", "version", versionString(), "addr", ln.Addr().String(), "ops_addr", opsLn.Addr().String(),
		"upstream", cfg.Gate.Upstream.URL, "policy_version", pol.Version(), "tls", gw.tls.serve != nil)
	if err := runGateway(ctx, gw, cfg, serverOn{newServer(gw.gate, log), ln}, serverOn{newServer(gw.ops, log), opsLn}); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// runGateway serves until ctx ends: it records startup and shutdown in the audit trail, runs
// the background parts, and on SIGHUP reloads the configuration file (with the policy) and
// reopens audit files.
func runGateway(ctx context.Context, gw *gateway, cfg *Config, servers ...serverOn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gw.lifecycle(audit.EventStartup)
	gw.run(ctx, cfg)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				gw.log.Info("SIGHUP: reopening audit files, reloading the configuration and the policy", "file", gw.file)
				_ = gw.reload() // reload logs, audits and counts the outcome
			}
		}
	}()
	err := serve(ctx, gw.log, servers...)
	gw.lifecycle(audit.EventShutdown)
	return err
}

// loadAll loads the configuration and the policy it names, reporting every problem of both.
func loadAll(path string) (*Config, *policy.Engine, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	pol, err := policy.Load(cfg.Policy.File)
	if err != nil {
		return nil, nil, err
	}
	if err := crossCheck(cfg, pol); err != nil {
		return nil, nil, err
	}
	if err := cfg.located(cfg.Gate.Assertion.CheckKeyFiles()); err != nil {
		return nil, nil, err
	}
	return cfg, pol, nil
}

// crossCheck reports the roles the configuration hands out or requires that the policy does
// not define.
func crossCheck(cfg *Config, pol *policy.Engine) error {
	return cfg.located(errors.Join(cfg.Directory.Validate(pol.Roles()), cfg.Admin.Validate(pol.Roles())))
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "tollgate.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, pol, err := loadAll(*path)
	if err != nil {
		n := 0
		for _, line := range splitErrors(err) {
			fmt.Fprintln(stderr, line)
			n++
		}
		fmt.Fprintf(stderr, "%d problem(s) found\n", n)
		return 1
	}
	if _, err := os.Stat(cfg.Policy.File); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, w := range pol.Warnings() {
		fmt.Fprintf(stderr, "warning: %v\n", w)
	}
	fmt.Fprintf(stdout, "%s: ok (policy %s, version %s, roles %v)\n", *path, cfg.Policy.File, pol.Version(), pol.Roles())
	return 0
}

// splitErrors flattens joined errors into one line each.
func splitErrors(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		out = append(out, e.Error())
	}
	walk(err)
	if len(out) == 0 && !errors.Is(err, nil) {
		out = append(out, err.Error())
	}
	return out
}
