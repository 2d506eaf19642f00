package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metric reads one sample from a registry: the value of the series with exactly these labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// Two versions of a policy that disagree on one request, and a broken one.
var (
	policyV1 = good
	policyV2 = strings.Replace(good, `paths: ["/"]`, `paths: ["/", "/v2"]`, 1)
	policyV3 = strings.Replace(good, `paths: ["/"]`, `paths: ["/", "/v3"]`, 1)
	broken   = strings.Replace(good, "allow: [home]", "allow: [hom]", 1)
)

type reloadEvent struct {
	old, new string // versions; "" for none
	err      error
}

func newTestHolder(t *testing.T, src string, validate func(*Engine) error) (*Holder, string, *prometheus.Registry, func() []reloadEvent) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, src)
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	var events []reloadEvent
	h, err := NewHolder(HolderConfig{Path: path, Registerer: reg, Validate: validate,
		OnReload: func(old, new *Engine, err error) {
			mu.Lock()
			defer mu.Unlock()
			ev := reloadEvent{old: old.Version(), err: err}
			if new != nil {
				ev.new = new.Version()
			}
			events = append(events, ev)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return h, path, reg, func() []reloadEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]reloadEvent(nil), events...)
	}
}

var writes atomic.Int64

// writePolicy replaces the file and moves its modification time on, as an editor would.
func writePolicy(t *testing.T, path, src string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(time.Duration(writes.Add(1)) * time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

func allows(t *testing.T, d Decider, path string) bool {
	t.Helper()
	dec, err := d.Decide(context.Background(), Request{Method: "GET", Path: path, Roles: []string{"viewer"}})
	if err != nil {
		t.Fatal(err)
	}
	return dec.Allow
}

func TestHolderReload(t *testing.T) {
	h, path, reg, events := newTestHolder(t, policyV1, nil)
	v1 := h.Engine().Version()
	if !allows(t, h, "/") || allows(t, h, "/v2") {
		t.Fatal("positive control: v1 should allow / and not /v2")
	}
	if n, _ := metric(t, reg, "tollgate_policy_version_info", map[string]string{"version": v1}); n != 1 {
		t.Errorf("version_info{%s} = %v, want 1", v1, n)
	}

	writePolicy(t, path, policyV2)
	if err := h.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	v2 := h.Engine().Version()
	if v2 == v1 || !allows(t, h, "/v2") {
		t.Fatalf("after reload: version %s, /v2 allowed %v", v2, allows(t, h, "/v2"))
	}

	writePolicy(t, path, broken)
	err := h.Reload()
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Line != 9 {
		t.Fatalf("Reload of a broken file: %v, want the file's *ValidationError", err)
	}
	if h.Engine().Version() != v2 || !allows(t, h, "/v2") {
		t.Errorf("a broken file replaced the policy: version %s", h.Engine().Version())
	}

	writePolicy(t, path, policyV2)
	if err := h.Reload(); err != nil {
		t.Fatalf("Reload of the same policy: %v", err)
	}

	want := []reloadEvent{{old: v1, new: v2}, {old: v2, err: err}}
	got := events()
	if len(got) != len(want) || got[0] != want[0] || got[1].old != v2 || got[1].new != "" || got[1].err == nil {
		t.Errorf("OnReload events = %+v, want %+v", got, want)
	}
	for result, n := range map[string]float64{ReloadSuccess: 1, ReloadFailure: 1, ReloadUnchanged: 1} {
		if got, _ := metric(t, reg, "tollgate_policy_reloads_total", map[string]string{"result": result}); got != n {
			t.Errorf("reloads_total{%s} = %v, want %v", result, got, n)
		}
	}
	if _, ok := metric(t, reg, "tollgate_policy_version_info", map[string]string{"version": v1}); ok {
		t.Error("version_info still has the replaced version")
	}
	if n, _ := metric(t, reg, "tollgate_policy_version_info", map[string]string{"version": v2}); n != 1 {
		t.Errorf("version_info{%s} = %v, want 1", v2, n)
	}
}

func TestHolderValidateAndFirstLoad(t *testing.T) {
	refuseV2 := func(e *Engine) error {
		if len(e.Covers("GET", "/v2")) > 0 {
			return errors.New("v2 is not welcome")
		}
		return nil
	}
	h, path, _, _ := newTestHolder(t, policyV1, refuseV2)
	writePolicy(t, path, policyV2)
	if err := h.Reload(); err == nil || !strings.Contains(err.Error(), "v2 is not welcome") {
		t.Errorf("Reload = %v, want Validate's refusal", err)
	}
	if allows(t, h, "/v2") {
		t.Error("a policy Validate refused is served")
	}
	if _, err := NewHolder(HolderConfig{Path: filepath.Join(t.TempDir(), "missing.yaml")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewHolder on a missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writePolicy(t, bad, broken)
	if _, err := NewHolder(HolderConfig{Path: bad}); err == nil {
		t.Error("NewHolder on a broken file succeeded")
	}
}

func TestHolderWatch(t *testing.T) {
	h, path, reg, events := newTestHolder(t, policyV1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Watch(ctx, 5*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	writePolicy(t, path, policyV2)
	waitFor("the new policy", func() bool { return allows(t, h, "/v2") })

	writePolicy(t, path, broken)
	waitFor("the refusal", func() bool { return len(events()) == 2 })
	time.Sleep(50 * time.Millisecond) // ten more ticks on the same broken file
	if n, _ := metric(t, reg, "tollgate_policy_reloads_total", map[string]string{"result": ReloadFailure}); n != 1 {
		t.Errorf("a broken file was reported %v times, want once", n)
	}
	if !allows(t, h, "/v2") {
		t.Error("the broken file replaced the policy")
	}

	// The same broken bytes with only a new time (a deploy tool touching the file) are not
	// reported again; different broken bytes are.
	next := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(events()); n != 2 {
		t.Errorf("touching the refused file gave %d events, want still 2", n)
	}
	writePolicy(t, path, broken+"\n# still broken, differently\n")
	waitFor("the second refusal", func() bool { return len(events()) == 3 })
}

// TestHolderConcurrentReload: decisions made while the policy is swapped back and forth each
// come from one whole version (run with -race).
func TestHolderConcurrentReload(t *testing.T) {
	h, path, _, _ := newTestHolder(t, policyV2, nil)
	versionV2, versionV3 := mustParse(t, policyV2).Version(), mustParse(t, policyV3).Version()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := h.Decide(context.Background(), Request{Method: "GET", Path: "/v2", Roles: []string{"viewer"}})
				v2, v3 := d.Version == versionV2, d.Version == versionV3
				if err != nil || (v2 && !d.Allow) || (v3 && d.Allow) || (!v2 && !v3) {
					select {
					case errs <- "inconsistent decision " + d.Version:
					default:
					}
					return
				}
			}
		})
	}
	for i := range 20 {
		writePolicy(t, path, []string{policyV3, policyV2}[i%2])
		if err := h.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
