package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The listener bounds what a client can send before the gate sees a request: oversized headers
// are refused with 431, and a client that stops sending headers is cut off.
func TestServerLimits(t *testing.T) {
	reached := make(chan struct{}, 10)
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached <- struct{}{} }), newLogger("error", io.Discard))
	srv.ReadHeaderTimeout = 300 * time.Millisecond // the production value is 10s; the rule is the same
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	send := func(req string) (int, error) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
	for _, size := range []int{70 << 10, 200 << 10, 1 << 20} {
		status, err := send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", size) + "\r\n\r\n")
		if err == nil && status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%d KiB header: status %d, want 431", size>>10, status)
		}
	}
	for _, n := range []int{200, 10000} {
		many := strings.Repeat("X-A: b\r\n", n)
		status, err := send("GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n")
		if n == 10000 && err == nil && status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%d headers: status %d, want 431", n, status)
		}
		if n == 200 && (err != nil || status != http.StatusOK) {
			t.Errorf("positive control, %d small headers: %d %v", n, status, err)
		}
	}
	// Slowloris: headers that never end are cut off after ReadHeaderTimeout.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a connection with unfinished headers was kept open for 5 s")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("unfinished headers cut off after %s", d)
	}
	if len(reached) != 1 { // only the positive control
		t.Errorf("the handler ran %d times, want 1", len(reached))
	}
}
