package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the networks whose forwarding headers the gate believes. With none (the
// default) the client address is the TCP peer, whatever the request claims.
type trustedProxies []netip.Prefix

func parseTrusted(cidrs []string) (trustedProxies, error) {
	var out trustedProxies
	for i, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, fmt.Errorf("gate.trusted_proxies[%d]: %q is neither a CIDR (10.0.0.0/8) nor an address", i, c)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (t trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the address of the person's browser: the TCP peer, or — when the peer is a
// trusted proxy — the right-most address in X-Forwarded-For that is not a trusted proxy
// itself (the left part of that header is whatever the client wrote). A malformed header from
// a trusted proxy is not guessed at: the peer is used.
func (t trustedProxies) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(t) == 0 || !t.contains(peer) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return peer.Unmap().String()
		}
		client = a
		if !t.contains(a) {
			break
		}
	}
	return client.Unmap().String()
}
