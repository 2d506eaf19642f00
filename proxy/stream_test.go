package proxy_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Server-sent events reach the browser as the upstream writes them, not when it finishes.
func TestServerSentEventsStreamWithoutBuffering(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.app.events = make(chan string)
	defer close(e.app.events)
	c, _ := e.login(t, "support", "/")
	req, _ := http.NewRequest("GET", e.gateURL+"/whoami", nil)
	req.Header.Set("Accept", "text/event-stream")
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.Do(req)
		done <- result{resp, err}
	}()
	// Headers and the first event travel together; the upstream then waits with the stream open.
	e.app.events <- "one"
	var res result
	select {
	case res = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive while the stream was open: the gate buffers")
	}
	if res.err != nil || res.resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", res.err, res.resp)
	}
	defer res.resp.Body.Close()
	br := bufio.NewReader(res.resp.Body)
	read := func(want string) {
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			br.ReadString('\n') // the blank line that ends the event
			got <- line
		}()
		select {
		case line := <-got:
			if strings.TrimSpace(line) != "data: "+want {
				t.Fatalf("got %q, want event %q", line, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %q did not arrive while the stream was open: the gate buffers", want)
		}
	}
	read("one")
	e.app.events <- "two"
	read("two")
}
