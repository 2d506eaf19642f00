package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// command sends one command to addr and returns its reply as text: a status or bulk string
// as it is, an integer in decimal, an array as its elements on separate lines. An error
// reply is returned as an error. It speaks RESP itself so that the helpers that watch a
// topology change do not depend on the client the tests exercise.
func command(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(conn))
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = readReply(r); err != nil {
				return "", err
			}
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// infoField returns one field of an INFO section, such as "role" of "replication".
func infoField(addr, section, field string) (string, error) {
	info, err := command(addr, "INFO", section)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO %s of %s has no %s", section, addr, field)
}

// WaitReplicated waits until every replica has applied all that the primary had accepted
// when it was called, so that a test can kill the primary and still expect those writes to
// survive: the replication offset of each replica reaches the primary's.
func WaitReplicated(primary string, replicas []string, timeout time.Duration) error {
	s, err := infoField(primary, "replication", "master_repl_offset")
	if err != nil {
		return err
	}
	want, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("master_repl_offset %q: %w", s, err)
	}
	deadline := time.Now().Add(timeout)
	for _, r := range replicas {
		for {
			s, err := infoField(r, "replication", "slave_repl_offset")
			if err == nil {
				if got, perr := strconv.ParseInt(s, 10, 64); perr == nil && got >= want {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replica %s did not reach offset %d of %s within %s (at %q, %v)", r, want, primary, timeout, s, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// waitFor polls cond every 50ms until it returns nil or timeout passes, and returns its last
// error then.
func waitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
