package redistest

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// daemon is a redis-server process started with a fixed argument list, for the cases Server
// cannot express: a Sentinel needs its configuration file as the first argument, ahead of
// every option.
type daemon struct {
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *lockedBuffer
}

// startDaemon runs redis-server with args (built for the port it is given) on a free port and
// waits until it answers PING. The process is killed when the test ends.
func startDaemon(t testing.TB, args func(port int) []string) *daemon {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: install it, e.g. apt-get install redis-server")
	}
	d := &daemon{}
	t.Cleanup(d.stop)
	var lastErr error
	for range 3 {
		if d.port, err = freePort(); err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		if lastErr = d.start(bin, args(d.port)); lastErr == nil {
			return d
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

func (d *daemon) addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port))
}

func (d *daemon) start(bin string, args []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cmd := exec.Command(bin, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	d.cmd, d.done, d.out = cmd, done, out
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			d.cmd = nil
			return fmt.Errorf("redis-server %v exited early:\n%s", args, out.String())
		default:
		}
		if ping(d.addr()) == nil {
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			d.cmd = nil
			return fmt.Errorf("redis-server %v did not answer PING within %s:\n%s", args, readyTimeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.done
	d.cmd = nil
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.out == nil {
		return ""
	}
	return d.out.String()
}
