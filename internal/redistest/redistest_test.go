package redistest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	addr := s.Addr()
	if err := ping(addr); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	s.Stop()
	if err := ping(addr); err == nil {
		t.Fatal("server still answers after Stop")
	}
	s.Stop() // a second Stop is harmless
	s.Restart()
	if s.Addr() != addr {
		t.Errorf("Restart moved from %s to %s", addr, s.Addr())
	}
	if err := ping(addr); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}

func TestExtraArgs(t *testing.T) {
	s := Start(t, "--requirepass", "pw")
	line, err := roundTrip(s.Addr(), "*1\r\n$4\r\nPING\r\n")
	if err != nil || !strings.HasPrefix(line, "-NOAUTH") {
		t.Errorf("PING without auth = %q, %v; want NOAUTH", line, err)
	}
}

// fatalTB records the message of Fatal and ends the goroutine as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestMissingBinaryFailsLoudly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(tb)
		tb.msg = "Start returned"
	}()
	<-done
	if !strings.Contains(tb.msg, "redis-server not found") || !strings.Contains(tb.msg, "apt-get install redis-server") {
		t.Errorf("Start without redis-server: %q", tb.msg)
	}
}
