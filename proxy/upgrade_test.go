package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/proxy"
)

// openUpgrade sends a WebSocket-style handshake and returns the connection and the status.
func openUpgrade(t *testing.T, gateURL, path, cookie, origin string) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(gateURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: gate\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	if cookie != "" {
		req += "Cookie: tollgate=" + cookie + "\r\n"
	}
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, resp.StatusCode
}

func TestWebSocketsAreAuthorizedAndClosedOnRevocation(t *testing.T) {
	e := newEnv(t, envOpts{gate: func(c *proxy.Config) { c.UpgradeRecheck = 50 * time.Millisecond }})
	c, _ := e.login(t, "sales", "/")
	token := e.sessionCookie(t, c)
	for _, tc := range []struct {
		name, path, cookie, origin string
		want                       int
	}{
		{"no session", "/whoami", "", e.gateURL, http.StatusUnauthorized},
		{"foreign origin", "/whoami", token, "https://evil.example", http.StatusForbidden},
		{"no origin", "/whoami", token, "", http.StatusForbidden},
		{"origin look-alike", "/whoami", token, e.gateURL + ".evil.example", http.StatusForbidden},
		{"route the role may not use", "/payments", token, e.gateURL, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.app.count()
			if _, _, status := openUpgrade(t, e.gateURL, tc.path, tc.cookie, tc.origin); status != tc.want || e.app.count() != before {
				t.Errorf("status %d, app reached %v; want %d and nothing forwarded", status, e.app.count() != before, tc.want)
			}
		})
	}
	// Positive control: an allowed route from the gate's origin is upgraded and echoes.
	conn, br, status := openUpgrade(t, e.gateURL, "/whoami", token, e.gateURL)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("allowed upgrade: status %d", status)
	}
	io.WriteString(conn, "ping")
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	// Revoke the session on the server: the connection is closed.
	if err := e.store.Delete(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the connection stayed open after the session was revoked")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the connection was still open 5 s after the session was revoked")
	}
}
