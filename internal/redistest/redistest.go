// Package redistest runs a real redis-server for tests: on a free loopback port, without
// persistence, with its files in the test's temporary directory, and stopped when the test
// ends. Tests that need Redis fail, rather than skip, when redis-server is missing, so a
// green run always means the Redis code was exercised.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testport"
)

// readyTimeout bounds the wait for a started server to answer PING.
const readyTimeout = 5 * time.Second

// Server is one redis-server process. Its port stays the same across Stop and Restart, so
// clients configured with Addr reconnect to the restarted server.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	args []string
	d    daemon // the process, and the port it keeps
}

// Start runs redis-server and waits until it answers PING. Extra arguments are passed on to
// redis-server after the defaults (for example "--requirepass", "secret").
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: install it, e.g. apt-get install redis-server")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: extraArgs}
	t.Cleanup(s.Stop)
	// A free port can be taken by someone else between probing and binding; try a few.
	var lastErr error
	for range 3 {
		if s.d.port, err = freePort(); err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.d.addr() }

// Stop kills the server, as a crash would, and waits for it to exit. Stopping a stopped
// server does nothing.
func (s *Server) Stop() { s.d.stop() }

// Restart stops the server if it runs and starts it again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) start() error {
	return s.d.start(s.bin, append([]string{
		"--port", strconv.Itoa(s.d.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
	}, s.args...))
}

// ping speaks just enough RESP to see the server is serving; a server still loading answers
// with an error instead of PONG.
func ping(addr string) error {
	line, err := roundTrip(addr, "*1\r\n$4\r\nPING\r\n")
	if err != nil {
		return err
	}
	if line != "+PONG" && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// roundTrip sends one raw RESP command and returns the first line of the reply.
func roundTrip(addr, cmd string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

func freePort() (int, error) { return testport.Free() }

// lockedBuffer collects the server's output for error messages; the exec package writes to
// it from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
