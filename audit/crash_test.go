//go:build linux

package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	crashDirEnv = "TOLLGATE_AUDIT_CRASH_DIR"
	crashURLEnv = "TOLLGATE_AUDIT_CRASH_URL"
)

// crashConfig is the configuration both the helper process and the test open the spool with.
func crashConfig(dir, url string) Config {
	return Config{
		Spool:      SpoolConfig{Dir: dir},
		Checkpoint: CheckpointConfig{EveryRecords: 50, Every: time.Hour},
		Sinks: []SinkConfig{{Type: SinkHTTP, Name: "recv", URL: url, Batch: BatchConfig{MaxRecords: 25, Linger: time.Millisecond},
			Retry: RetryConfig{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}}},
	}
}

// TestCrashHelperProcess is the gate that gets killed: it writes records from several
// goroutines and prints "ack ID" once Write has returned for ID. It only runs when started by
// TestKill9LosesNoAcknowledgedRecord.
func TestCrashHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9LosesNoAcknowledgedRecord")
	}
	// Bounded even if nobody kills it.
	time.AfterFunc(20*time.Second, func() { os.Exit(3) })
	p, err := Open(crashConfig(dir, os.Getenv(crashURLEnv)), Deps{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				r := testRecord(i)
				r.Event.ID = fmt.Sprintf("crash-%d-%06d", w, i)
				if err := p.Write(r); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %s\n", r.Event.ID)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestKill9LosesNoAcknowledgedRecord kills a writing gate with SIGKILL while its sink is
// down, opens the spool again, and checks that every record whose Write had returned is
// delivered, in one unbroken chain.
func TestKill9LosesNoAcknowledgedRecord(t *testing.T) {
	rc := newReceiver(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashURLEnv+"="+rc.srv.URL)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var acked []string
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		acked = append(acked, id)
		switch {
		case len(acked) == 150:
			rc.mode.Store(recvRefuse) // the rest waits in the spool
		case len(acked) == 400 && !killed:
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !killed || !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper: %v (killed by the test: %v)\n%s", err, killed, stderr.String())
	}
	before := len(rc.received())
	if before >= len(acked) {
		t.Fatalf("the sink had all %d records before the crash: nothing was left to recover", before)
	}

	rc.mode.Store(recvOK)
	p, _ := openTest(t, crashConfig(dir, rc.srv.URL), Deps{})
	waitFor(t, fmt.Sprintf("all %d acknowledged records (the sink had %d before the crash)", len(acked), before),
		func() bool { return rc.has(acked) })
	writeN(t, p, 0, 3) // the chain goes on after the crash
	closeTest(t, p)

	path := filepath.Join(t.TempDir(), "received.jsonl")
	writeTrail(t, path, rc.received())
	rep, err := Verify([]string{path}, VerifyOptions{})
	if err != nil {
		t.Fatalf("the delivered trail does not verify across the crash: %v", err)
	}
	if len(rep.Chains) != 1 || rep.Chains[0].First != 1 {
		t.Errorf("report %+v, want one chain from seq 1", rep)
	}
}
