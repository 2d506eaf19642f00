package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeAndStop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()

	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/whoami", nil)
	req.Header.Set("X-Tollgate-User", "u-ada")
	req.Header.Set("X-Tollgate-Email", "ada@example.com")
	req.Header.Set("X-Tollgate-Name", "Ada Admin")
	req.Header.Set("X-Tollgate-Roles", "administrator")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "ada@example.com") {
		t.Errorf("GET /whoami = %d, body without the email from the headers:\n%s", resp.StatusCode, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	var stderr strings.Builder
	if code := run(t.Context(), []string{"--nope"}, &stderr); code != 2 {
		t.Errorf("run --nope = %d, want 2", code)
	}
	if code := run(t.Context(), []string{"--addr", "256.0.0.1:1"}, &stderr); code != 1 {
		t.Errorf("run with a bad address = %d, want 1", code)
	}
}
