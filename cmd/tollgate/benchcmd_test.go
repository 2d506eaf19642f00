package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A tiny run of the whole harness: every store, both rounds, a table with every target and
// the memory line, and no failed request (a gate that refused its user would fail here).
func TestBenchTinyRun(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"bench", "--duration", "300ms", "--connections", "4", "--sessions", "100"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	t.Log(out.String())
	summary := summaryRows(t, out.String())
	for _, target := range []string{"bare", "gate-embedded", "gate-redis", "gate-redis-cached"} {
		row, ok := summary[target]
		if !ok {
			t.Errorf("no summary row for %s", target)
			continue
		}
		if rps, err := strconv.ParseFloat(row[1], 64); err != nil || rps <= 0 {
			t.Errorf("%s: req/s %q", target, row[1])
		}
		if ratio, err := strconv.ParseFloat(row[4], 64); err != nil || ratio <= 0 {
			t.Errorf("%s: gate÷bare %q", target, row[4])
		}
	}
	for _, want := range []string{"100 live in Redis", "RSS", "redis: used_memory"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// summaryRows returns the fields of each row of the summary table (the one with gate÷bare),
// by target.
func summaryRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	in := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "target":
			in = true
		case in && len(f) == 0:
			return rows
		case in:
			rows[f[0]] = f
		}
	}
	if len(rows) == 0 {
		t.Fatalf("no summary table in:\n%s", out)
	}
	return rows
}

func TestBenchWithAuditPipeline(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"bench", "--store", "embedded", "--audit", "interval", "--rounds", "1",
		"--duration", "200ms", "--connections", "2"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	if rows := summaryRows(t, out.String()); len(rows) != 2 || rows["gate-embedded"] == nil {
		t.Errorf("summary rows %v, want bare and gate-embedded", rows)
	}
}

func TestBenchFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--store", "memcached"}, `--store: "memcached"`},
		{[]string{"--connections", "0"}, "--connections"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--duration", "1h"}, "--duration"},
		{[]string{"--rounds", "0"}, "--rounds"},
		{[]string{"--sessions", "-1"}, "--sessions"},
		{[]string{"--audit", "sometimes"}, "--audit"},
		{[]string{"--bare", "fast"}, `--bare: "fast"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(t.Context(), append([]string{"bench"}, c.args...), &out, &errb); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, errb.String())
			}
		})
	}
}

func TestBenchUnreachableRedisFailsClearly(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler()) // a port that is surely not Redis
	srv.Close()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code := run(ctx, []string{"bench", "--store", "redis", "--redis-addr", strings.TrimPrefix(srv.URL, "http://"),
		"--duration", "100ms", "--connections", "1", "--sessions", "1"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "does not answer") {
		t.Errorf("exit %d, stderr %q; want 1 and the failed step", code, errb.String())
	}
}

// The load generator counts only 200s as served, reconnects when the server closes, and
// records one latency per answer.
func TestDrive(t *testing.T) {
	for _, c := range []struct {
		name       string
		handler    http.HandlerFunc
		wantOK     bool
		wantFailed bool
	}{
		{"ok", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello")) }, true, false},
		{"server closes every connection", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			w.Write([]byte("hello"))
		}, true, false},
		{"refusals fail", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) }, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			reqs := requests(host, []string{"a", "b"})
			s := drive(t.Context(), host, reqs, 150*time.Millisecond)
			if (s.ok > 0) != c.wantOK || (s.failed > 0) != c.wantFailed {
				t.Fatalf("ok %d, failed %d (first error %v)", s.ok, s.failed, s.firstErr)
			}
			if len(s.lat) != s.ok+s.failed {
				t.Errorf("%d latencies for %d answers", len(s.lat), s.ok+s.failed)
			}
			if !slices.IsSorted(s.lat) || s.quantile(.5) <= 0 || s.quantile(.99) < s.quantile(.5) {
				t.Errorf("latencies not sorted or quantiles off: p50 %v p99 %v", s.quantile(.5), s.quantile(.99))
			}
			if s.elapsed < 150*time.Millisecond || s.elapsed > 5*time.Second {
				t.Errorf("elapsed %v for a 150ms run", s.elapsed)
			}
		})
	}
}
