package audit

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
)

func TestRedisSink(t *testing.T) {
	// Small stream nodes, so that approximate trimming (MAXLEN ~) shows within a few records.
	srv := redistest.Start(t, "--stream-node-max-entries", "10")
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { client.Close() })
	ctx := t.Context()

	cfg := testConfig(t, SinkConfig{Type: SinkRedis, Name: "redis", Redis: RedisConfig{Addrs: []string{srv.Addr()}}, MaxLen: 20})
	cfg.Checkpoint.EveryRecords = 1000
	p, reg := openTest(t, cfg, Deps{})
	writeN(t, p, 0, 5)
	waitFor(t, "5 entries", func() bool { return client.XLen(ctx, "tollgate:audit").Val() == 5 })
	entries, err := client.XRange(ctx, "tollgate:audit", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	spooled := segmentLines(t, cfg.Spool.Dir)
	for i, e := range entries {
		if e.Values["id"] != testRecord(i).Event.ID || e.Values["json"] != string(spooled[i]) {
			t.Errorf("entry %d = %v, want id %s and the record", i, e.Values, testRecord(i).Event.ID)
		}
	}

	// Redis goes away: records wait in the spool and arrive once it is back (empty).
	srv.Stop()
	writeN(t, p, 5, 3)
	waitFor(t, "failed attempts", func() bool {
		return metricValue(t, reg, "tollgate_audit_records_total", "sink", "redis", "result", "retried") > 0
	})
	srv.Restart()
	waitFor(t, "the records written while Redis was down", func() bool { return client.XLen(ctx, "tollgate:audit").Val() == 3 })
	entries, _ = client.XRange(ctx, "tollgate:audit", "-", "+").Result()
	for i, e := range entries {
		if want := testRecord(5 + i).Event.ID; e.Values["id"] != want {
			t.Errorf("entry %d after restart = %v, want %s", i, e.Values["id"], want)
		}
	}

	// The stream is trimmed near max_len.
	writeN(t, p, 8, 60)
	waitFor(t, "the last record", func() bool {
		last, err := client.XRevRangeN(ctx, "tollgate:audit", "+", "-", 1).Result()
		return err == nil && len(last) == 1 && last[0].Values["id"] == testRecord(67).Event.ID
	})
	if n := client.XLen(ctx, "tollgate:audit").Val(); n < 20 || n > 30 {
		t.Errorf("stream length %d after 63 records with max_len 20", n)
	}
}
