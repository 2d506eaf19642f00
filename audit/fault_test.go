package audit

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSinkOutageUnderLoad takes the sink down while records keep coming (first refusing,
// then taking batches but losing its replies) and brings it back: every acknowledged record
// arrives, and a record arrives twice only when its batch was retried after the sink kept it.
func TestSinkOutageUnderLoad(t *testing.T) {
	rc := newReceiver(t)
	cfg := testConfig(t, rc.sink())
	cfg.Sinks[0].Batch.MaxRecords = 20
	p, reg := openTest(t, cfg, Deps{})

	const writers, perWriter = 4, 150
	var acked atomic.Int64
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				r := testRecord(i)
				r.Event.ID = fmt.Sprintf("load-%d-%03d", w, i)
				if err := p.Write(r); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				ids = append(ids, r.Event.ID)
				mu.Unlock()
				acked.Add(1)
				time.Sleep(time.Millisecond) // steady, not all at once
			}
		})
	}
	gauge := func(name string, labels ...string) float64 { return metricValue(t, reg, name, labels...) }

	waitFor(t, "100 records written", func() bool { return acked.Load() >= 100 })
	rc.mode.Store(recvRefuse)
	waitFor(t, "retries and an undelivered backlog", func() bool {
		return gauge("tollgate_audit_records_total", "sink", "recv", "result", "retried") > 0 &&
			gauge("tollgate_audit_oldest_undelivered_seconds") > 0 && acked.Load() >= 300
	})
	rc.mode.Store(recvLoseAck)
	waitFor(t, "a batch kept by the sink whose reply was lost", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.lostAck) > 0
	})
	rc.mode.Store(recvOK)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Write during the outage: %v", err)
	}
	waitFor(t, "every acknowledged record at the sink", func() bool { return rc.has(ids) })
	waitFor(t, "no undelivered record left", func() bool { return gauge("tollgate_audit_oldest_undelivered_seconds") == 0 })

	rc.mu.Lock()
	for id, n := range rc.ids {
		if n > 1 && !rc.lostAck[id] {
			t.Errorf("record %s arrived %d times but was never in a retried batch the sink had kept", id, n)
		}
	}
	lost := len(rc.lostAck)
	rc.mu.Unlock()
	if lost == 0 {
		t.Fatal("no batch was retried after the sink had kept it: the test did not exercise duplicates")
	}
	if got := gauge("tollgate_audit_records_total", "sink", "recv", "result", "failed"); got != 0 {
		t.Errorf("failed = %v, want 0: an outage must not park records", got)
	}
	closeTest(t, p)
	path := filepath.Join(t.TempDir(), "received.jsonl")
	writeTrail(t, path, rc.received())
	rep, err := Verify([]string{path}, VerifyOptions{})
	if err != nil {
		t.Fatalf("the received trail does not verify: %v", err)
	}
	if rep.Duplicates == 0 {
		t.Error("Verify saw no duplicate, but the sink kept a batch twice")
	}
}

func TestSpoolFull(t *testing.T) {
	setup := func(t *testing.T, onFull string) (*Pipeline, *receiver, func(...string) float64) {
		rc := newReceiver(t)
		rc.mode.Store(recvRefuse)
		cfg := testConfig(t, rc.sink())
		cfg.Spool.MaxBytes, cfg.Spool.SegmentBytes, cfg.Spool.OnFull = 32<<10, 4<<10, onFull
		cfg.Checkpoint.EveryRecords = 1000
		p, reg := openTest(t, cfg, Deps{})
		return p, rc, func(l ...string) float64 {
			if len(l) == 0 {
				return metricValue(t, reg, "tollgate_audit_spool_bytes")
			}
			return metricValue(t, reg, "tollgate_audit_records_total", "sink", "spool", "result", l[0])
		}
	}
	// fill writes records of type typ until Write refuses one, and returns the acknowledged ids.
	fill := func(t *testing.T, p *Pipeline, typ string, from int) ([]string, error) {
		var ids []string
		for i := from; i < from+1000; i++ {
			r := testRecord(i)
			r.Event.Type = typ
			if err := p.Write(r); err != nil {
				return ids, err
			}
			ids = append(ids, r.Event.ID)
		}
		return ids, nil
	}

	t.Run("block", func(t *testing.T) {
		p, rc, m := setup(t, OnFullBlock)
		ids, err := fill(t, p, EventTypeDenied, 0)
		if !errors.Is(err, ErrSpoolFull) {
			t.Fatalf("filling the spool ended with %v after %d records, want ErrSpoolFull", err, len(ids))
		}
		if err := p.Write(testRecordOfType(5000, EventTypeAllowed)); !errors.Is(err, ErrSpoolFull) {
			t.Errorf("allowed record under block = %v, want ErrSpoolFull", err)
		}
		if m("refused") < 2 || m("dropped") != 0 || m() > 32<<10 || m() < 30<<10 {
			t.Errorf("metrics: refused %v, dropped %v, spool_bytes %v; want refusals counted and the spool at its bound", m("refused"), m("dropped"), m())
		}
		if p.Accepts(EventTypeAllowed) == nil || p.Ping(t.Context()) == nil {
			t.Error("Accepts/Ping report room in a full spool")
		}
		rc.mode.Store(recvOK)
		waitFor(t, "room in the spool once the sink is back", func() bool { return p.Write(testRecord(9000)) == nil })
		if err := p.Accepts(EventTypeDenied); err != nil {
			t.Errorf("Accepts after room returned = %v", err)
		}
		waitFor(t, "every acknowledged record at the sink", func() bool { return rc.has(append(ids, testRecord(9000).Event.ID)) })
	})

	t.Run("drop-allowed", func(t *testing.T) {
		p, rc, m := setup(t, OnFullDropAllowed)
		allowed, err := fill(t, p, EventTypeAllowed, 0)
		if err != nil {
			t.Fatalf("allowed record refused under drop-allowed: %v", err)
		}
		if m("dropped") == 0 || p.Accepts(EventTypeAllowed) != nil {
			t.Fatalf("dropped = %v, Accepts(allowed) = %v: allowed records must be dropped, not refused", m("dropped"), p.Accepts(EventTypeAllowed))
		}
		denied, err := fill(t, p, EventTypeDenied, 2000)
		if !errors.Is(err, ErrSpoolFull) || len(denied) == 0 {
			t.Fatalf("denied records: %d written, then %v; want the reserve used, then ErrSpoolFull", len(denied), err)
		}
		if p.Accepts(EventTypeDenied) == nil {
			t.Error("Accepts(denied) reports room in a full spool")
		}
		rc.mode.Store(recvOK)
		waitFor(t, "every denied record at the sink", func() bool { return rc.has(denied) })
		arrived := 0
		for _, id := range allowed {
			arrived += min(rc.count(id), 1)
		}
		if got := float64(arrived) + m("dropped"); got != float64(len(allowed)) {
			t.Errorf("%d allowed records arrived and %v were dropped, of %d written", arrived, m("dropped"), len(allowed))
		}
	})
}

func testRecordOfType(i int, typ string) Record {
	r := testRecord(i)
	r.Event.Type = typ
	return r
}
