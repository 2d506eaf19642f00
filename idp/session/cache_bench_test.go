package session

import (
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/redistest"
)

// BenchmarkCachedGet measures a Get served from memory (ns/op, allocs/op) against a Get from
// the Redis store on the same server in the same run: x-redis is cached ÷ Redis.
func BenchmarkCachedGet(b *testing.B) {
	srv := redistest.Start(b)
	client := redisClientTB(b, srv)
	opt := Options{Idle: time.Hour}
	c := newCached(b, client, opt, CacheOptions{TTL: time.Hour})
	plain := NewRedis(client, opt)
	ctx := b.Context()
	tok, err := c.Create(ctx, sample(alice))
	if err != nil {
		b.Fatal(err)
	}
	const baseline = 2000
	for range 200 { // connections and script cache warm
		if _, err := plain.Get(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for range baseline {
		if _, err := plain.Get(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	redisT := time.Since(start) / baseline
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Get(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cached := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(redisT.Nanoseconds()), "redis-ns/op")
	b.ReportMetric(float64(cached)/float64(redisT), "x-redis")
}
