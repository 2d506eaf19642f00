//go:build unix

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPReloadsTheConfigFile runs `tollgate serve` and sends the process a real SIGHUP,
// as an operator (or logrotate) would.
func TestSIGHUPReloadsTheConfigFile(t *testing.T) {
	// A second listener for SIGHUP, so that a signal arriving before serve listens cannot
	// end the test process (Go's default for SIGHUP).
	safety := make(chan os.Signal, 4)
	signal.Notify(safety, syscall.SIGHUP)
	defer signal.Stop(safety)

	cfg := defaultRigConfig(t)
	dir := t.TempDir()
	gateURL := "http://" + cfg.ListenAddr
	idpSrv := startTestIdP(t, gateURL, nil)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "app\n") }))
	defer app.Close()
	file := filepath.Join(dir, "tollgate.yaml")
	write := func(c rigConfig) {
		if err := os.WriteFile(file, []byte(c.text(gateURL, app.URL, idpSrv.URL)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(reloadPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	write(cfg)

	var stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--config", file}, io.Discard, &stderr) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d\n%s", code, stderr.String())
		}
	}()
	opsURL := "http://" + cfg.OpsAddr
	waitFor(t, func() bool {
		resp, err := http.Get(opsURL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "serve to become ready\n"+stderr.String())
	// runGateway subscribes to SIGHUP before serving, so readiness means it will hear it.
	accountant := &http.Client{Timeout: 10 * time.Second}
	accountant.Jar, _ = cookiejar.New(nil)
	if resp, _ := signIn(t, accountant, gateURL+"/reports", "accountant", "demo"); resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}

	// logrotate: move the trail away, then SIGHUP with the file unchanged.
	trail := filepath.Join(dir, "audit.jsonl")
	if err := os.Rename(trail, trail+".1"); err != nil {
		t.Fatal(err)
	}
	sighup(t)
	waitFor(t, func() bool {
		return strings.Contains(bodyOf(t, opsURL+"/metrics"), `tollgate_config_reload_total{outcome="success"} 1`)
	},
		"the first reload to be counted")
	if recs := auditRecords(t, trail, "config_reload", 1); recs[0].Event.Reason != "no changes" {
		t.Errorf("after logrotate, the reopened trail holds %s", recs[0].raw)
	}

	// Then a live and a restart-only change.
	next := cfg
	next.LogLevel = "debug"
	next.ListenAddr = freeAddr(t)
	write(next)
	next2 := strings.Replace(reloadPolicy, "allow: [home, reports.read]", "allow: [home]", 1)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(next2), 0o600); err != nil {
		t.Fatal(err)
	}
	sighup(t)
	waitFor(t, func() bool {
		return strings.Contains(bodyOf(t, opsURL+"/metrics"), `tollgate_config_reload_total{outcome="success"} 2`)
	},
		"the second reload to be counted")
	recs := auditRecords(t, trail, "config_reload", 2)
	if want := "applied: log.level; restart required: listen.addr"; recs[1].Event.Reason != want {
		t.Errorf("audit reason %q, want %q", recs[1].Event.Reason, want)
	}
	// The policy is in force (through SIGHUP, or the file watch that serve also runs); the gate
	// still listens where it started, and only there.
	resp, err := accountant.Get(gateURL + "/reports")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("/reports after the reload: %d, want 403", resp.StatusCode)
	}
	if c, err := net.DialTimeout("tcp", next.ListenAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("something listens on the new listen.addr %s before a restart", next.ListenAddr)
	}
	if !strings.Contains(stderr.String(), `"restart_required":["listen.addr"]`) {
		t.Errorf("stderr lacks the restart warning:\n%s", stderr.String())
	}
}

func bodyOf(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func sighup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatalf("send SIGHUP: %v", err)
	}
}
