package audit

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSpoolWrite reports records per second into the spool and the cost of one Write
// (ns/op, wall time per record), with concurrent writers as a busy gate has them. The
// baseline is one 500-byte append plus fsync on the same file system, measured in the same
// run: per-fsync < 1 shows writers sharing fsyncs (group commit). fsync=interval is the
// ceiling without waiting for the disk.
func BenchmarkSpoolWrite(b *testing.B) {
	for _, bc := range []struct {
		name    string
		fsync   string
		writers int // goroutines per core
	}{
		{"fsync=always/writers=1", FsyncAlways, 0},
		{"fsync=always/writers=8x", FsyncAlways, 8},
		{"fsync=always/writers=32x", FsyncAlways, 32},
		{"fsync=interval/writers=8x", FsyncInterval, 8},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig(b, SinkConfig{Type: SinkStdout})
			cfg.Spool.MaxBytes, cfg.Spool.SegmentBytes, cfg.Spool.Fsync = 8<<30, 64<<20, bc.fsync
			cfg.Checkpoint.EveryRecords = defaultEveryRecords // as deployed, not the tests' 10
			fsync := fsyncCost(b, cfg.Spool.Dir)
			p, err := Open(cfg, Deps{Stdout: io.Discard})
			if err != nil {
				b.Fatal(err)
			}
			rec := testRecord(1)
			rec.Event.ID = "" // a fresh id per record, as in the gate
			b.ResetTimer()
			if bc.writers == 0 {
				for b.Loop() {
					if err := p.Write(rec); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism(bc.writers)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := p.Write(rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			perRecord := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(perRecord)/float64(fsync), "per-fsync")
			_ = p.Close(b.Context())
		})
	}
}

// fsyncCost is the time of one small append and fsync in dir.
func fsyncCost(b *testing.B, dir string) time.Duration {
	f, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	line := make([]byte, 500)
	const n = 50
	start := time.Now()
	for range n {
		f.Write(line)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / n
}

// BenchmarkWriteInterval is the cost of one Write with fsync interval, one writer: the work a
// request pays for its record when it does not wait for the disk.
func BenchmarkWriteInterval(b *testing.B) {
	cfg := testConfig(b, SinkConfig{Type: SinkStdout})
	cfg.Spool.MaxBytes, cfg.Spool.SegmentBytes, cfg.Spool.Fsync = 8<<30, 64<<20, FsyncInterval
	cfg.Checkpoint.EveryRecords = defaultEveryRecords // as deployed, not the tests' 10
	p, err := Open(cfg, Deps{Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(b.Context())
	rec := testRecord(1)
	rec.Event.ID = ""
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Write(rec); err != nil {
			b.Fatal(err)
		}
	}
}
