// Package testport hands out loopback ports for servers that a test must name a port to before
// they listen: a redis-server, a gate started from a configuration file.
package testport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Free returns a port on 127.0.0.1 that nothing listens on. It is chosen below the kernel's
// ephemeral range: a port from "port 0" comes from that range, where any outgoing connection
// of a test running in parallel can take it between this check and the server's bind.
func Free() (int, error) {
	low := ephemeralLow()
	if low < 2048 {
		return viaPortZero() // no room below the range; take the kernel's pick
	}
	from := max(1024, low-12000)
	for range 200 {
		p := from + rand.IntN(low-from)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("testport: no free port between %d and %d", from, low)
}

// Addr is Free as "127.0.0.1:port".
func Addr() (string, error) {
	p, err := Free()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// ephemeralLow is the first port of Linux's ephemeral range, or 32768 (its default) when it
// cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

func viaPortZero() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		return a.Port, nil
	}
	return 0, errors.New("testport: not a TCP address")
}
