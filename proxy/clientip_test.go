package proxy

import (
	"net/http"
	"testing"
)

func TestClientIPTrustsForwardedForOnlyFromTrustedProxies(t *testing.T) {
	trusted, err := parseTrusted([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		trusted    trustedProxies
		want       string
	}{
		// Positive controls: a trusted front proxy names the client.
		{"trusted proxy", "10.1.2.3:5000", []string{"198.51.100.9"}, trusted, "198.51.100.9"},
		{"chain of trusted proxies", "10.1.2.3:5000", []string{"198.51.100.9, 10.9.9.9", "192.0.2.7"}, trusted, "198.51.100.9"},
		// Spoofing attempts.
		{"untrusted peer", "203.0.113.5:5000", []string{"198.51.100.9"}, trusted, "203.0.113.5"},
		{"no trusted proxies configured", "10.1.2.3:5000", []string{"198.51.100.9"}, nil, "10.1.2.3"},
		{"client prepends a fake hop", "10.1.2.3:5000", []string{"127.0.0.1, 198.51.100.9"}, trusted, "198.51.100.9"},
		{"client claims a trusted address", "10.1.2.3:5000", []string{"10.0.0.1, 198.51.100.9"}, trusted, "198.51.100.9"},
		{"garbage from the proxy", "10.1.2.3:5000", []string{"not-an-ip"}, trusted, "10.1.2.3"},
		{"garbage after the client", "10.1.2.3:5000", []string{"198.51.100.9, evil"}, trusted, "10.1.2.3"},
		{"ipv6 peer untrusted", "[2001:db8::1]:5000", []string{"198.51.100.9"}, trusted, "2001:db8::1"},
		{"mapped trusted peer", "[::ffff:10.1.2.3]:5000", []string{"198.51.100.9"}, trusted, "198.51.100.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{"X-Forwarded-For": tc.xff}}
			if got := tc.trusted.clientIP(r); got != tc.want {
				t.Errorf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := parseTrusted([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}
