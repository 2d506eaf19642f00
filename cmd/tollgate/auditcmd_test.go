package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/audit"
)

func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	trail := filepath.Join(dir, "audit.jsonl")
	spool := filepath.Join(dir, "spool")
	p, err := audit.Open(audit.Config{
		Spool:      audit.SpoolConfig{Dir: spool},
		Checkpoint: audit.CheckpointConfig{EveryRecords: 5},
		Sinks:      []audit.SinkConfig{{Type: audit.SinkFile, Path: trail}},
	}, audit.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if err := p.Write(audit.Record{Event: audit.Event{Action: audit.EventAccess, Type: audit.EventTypeDenied,
			Outcome: audit.OutcomeFailure}, URL: &audit.URL{Path: "/payments/" + string(rune('a'+i))}}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(spool, "checkpoint.pub")
	good, err := os.ReadFile(trail)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	tampered := filepath.Join(dir, "tampered.jsonl")
	os.WriteFile(tampered, []byte(strings.Join(lines[:3], "")+strings.Join(lines[4:], "")), 0o600)

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"with key", []string{"verify", "--key", pub, trail}, 0, "checkpoint(s) verified with key", ""},
		{"key after the file", []string{"verify", trail, "--key", pub}, 0, "signed up to the last record", ""},
		{"without key", []string{"verify", trail}, 0, "checkpoints NOT verified", ""},
		{"a record removed", []string{"verify", "--key", pub, tampered}, 1, "", tampered + ":4: gap:"},
		{"no file", []string{"verify"}, 2, "", "usage: tollgate audit verify"},
		{"missing file", []string{"verify", filepath.Join(dir, "nope")}, 1, "", "no such file"},
		{"bad key file", []string{"verify", "--key", trail, trail}, 2, "", "--key:"},
		{"unknown subcommand", []string{"check"}, 2, "", "usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"audit"}, tc.args...), &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.err) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout with %q, stderr with %q", code, tc.code, out.String(), errb.String(), tc.out, tc.err)
			}
		})
	}
}
