package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// loadStats is one target driven for one round.
type loadStats struct {
	ok, failed int
	elapsed    time.Duration
	lat        []time.Duration // every answered request, sorted
	firstErr   error
}

func (s loadStats) rps() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.ok) / s.elapsed.Seconds()
}

// quantile of the latencies, nearest rank; 0 without samples.
func (s loadStats) quantile(q float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	return s.lat[min(len(s.lat)-1, int(q*float64(len(s.lat))))]
}

// merge is the round-independent view of several rounds of one target.
func merge(rounds []loadStats) loadStats {
	var m loadStats
	for _, r := range rounds {
		m.ok, m.failed, m.elapsed = m.ok+r.ok, m.failed+r.failed, m.elapsed+r.elapsed
		m.lat = append(m.lat, r.lat...)
		if m.firstErr == nil {
			m.firstErr = r.firstErr
		}
	}
	slices.Sort(m.lat)
	return m
}

// rawRequest is one HTTP/1.1 keep-alive GET of path with the session cookie, written once
// and sent as it is: the load generator should cost the machine as little as it can, since
// it shares the cores with what it measures.
func rawRequest(host, path, cookie, token string) []byte {
	return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tollgate-bench\r\nAccept: */*\r\nCookie: %s=%s\r\n\r\n",
		path, host, cookie, token)
}

// drive holds len(reqs) keep-alive connections to addr for d; connection i sends reqs[i]
// over and over, one at a time, and times each request from writing it to reading the last
// byte of the answer. Anything but a 200 counts as failed.
func drive(ctx context.Context, addr string, reqs [][]byte, d time.Duration) loadStats {
	var wg sync.WaitGroup
	results := make([]loadStats, len(reqs))
	start := time.Now()
	end := start.Add(d)
	for i, req := range reqs {
		wg.Go(func() { results[i] = connectionLoop(ctx, addr, req, end) })
	}
	wg.Wait()
	total := merge(results)
	total.elapsed = time.Since(start)
	return total
}

func connectionLoop(ctx context.Context, addr string, req []byte, end time.Time) loadStats {
	s := loadStats{lat: make([]time.Duration, 0, 1<<14)}
	fail := func(err error) {
		s.failed++
		if s.firstErr == nil {
			s.firstErr = err
		}
	}
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for time.Now().Before(end) && ctx.Err() == nil {
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				fail(err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			// A stuck server must not hold the run past its end.
			_ = c.SetDeadline(end.Add(5 * time.Second))
			conn, br = c, bufio.NewReaderSize(c, 16<<10)
		}
		t0 := time.Now()
		status, keep, err := roundTrip(conn, br, req)
		if err != nil {
			fail(err)
			_ = conn.Close()
			conn = nil
			continue
		}
		s.lat = append(s.lat, time.Since(t0))
		if status == http.StatusOK {
			s.ok++
		} else {
			fail(fmt.Errorf("status %d", status))
		}
		if !keep {
			_ = conn.Close()
			conn = nil
		}
	}
	return s
}

// roundTrip writes req and reads the whole answer; keep is false when the server will close.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (status int, keep bool, err error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return 0, false, err
	}
	return resp.StatusCode, !resp.Close, nil
}
