package audit

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// syslogSink sends each record as an RFC 5424 message whose MSG is the record's JSON, framed
// by octet counting (RFC 6587) over TCP or TLS (RFC 5425). It keeps one connection and dials
// again after an error.
//
// Syslog over TCP has no acknowledgement: a batch written into a connection the server has
// just dropped can be lost without an error. Before each batch the sink checks whether the
// server closed the connection, which catches the common case (a restarted server); a sink
// that must never lose a record should be an HTTP or Redis sink.
type syslogSink struct {
	addr     string
	tls      *tls.Config // nil for plain TCP
	facility int
	header   string // " HOSTNAME APP-NAME PROCID "

	mu   sync.Mutex
	conn net.Conn
}

func newSyslogSink(cfg SinkConfig) (*syslogSink, error) {
	s := &syslogSink{addr: cfg.Address, facility: facilities[cfg.Facility]}
	host := cfg.Hostname
	if host == "" {
		h, _ := os.Hostname()
		host = sanitizeASCII(h, 255)
	}
	s.header = " " + host + " " + cfg.AppName + " " + strconv.Itoa(os.Getpid()) + " "
	if cfg.TLS.Enabled {
		name, _, _ := net.SplitHostPort(cfg.Address)
		t, err := clientTLS(cfg.TLS, name)
		if err != nil {
			return nil, err
		}
		s.tls = t
	}
	return s, nil
}

func (s *syslogSink) Deliver(ctx context.Context, batch []Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && peerClosed(s.conn) {
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		conn, err := s.dial(ctx)
		if err != nil {
			return err
		}
		s.conn = conn
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.conn.SetWriteDeadline(dl)
	}
	var buf []byte
	for _, e := range batch {
		msg := s.message(e)
		buf = append(strconv.AppendInt(buf, int64(len(msg)), 10), ' ')
		buf = append(buf, msg...)
	}
	if _, err := s.conn.Write(buf); err != nil {
		s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

func (s *syslogSink) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	if s.tls == nil {
		return d.DialContext(ctx, "tcp", s.addr)
	}
	return (&tls.Dialer{NetDialer: d, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
}

// message is "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG".
func (s *syslogSink) message(e Entry) []byte {
	sev := 6 // informational
	if e.Outcome == OutcomeFailure {
		sev = 5 // notice
	}
	b := make([]byte, 0, len(e.Line)+128)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.facility*8+sev), 10)
	b = append(b, ">1 "...)
	if e.Time.IsZero() {
		b = append(b, '-')
	} else {
		b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	}
	b = append(b, s.header...)
	msgid := sanitizeASCII(e.Action, 32)
	b = append(b, msgid...)
	b = append(b, " - "...)
	return append(b, e.Line...)
}

func (s *syslogSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// peerClosed reports whether the server has closed the connection: a short read times out on
// a live connection and returns EOF at once on a closed one. (A deadline already in the past
// would not do: the runtime then fails the read without looking at the socket.)
func peerClosed(c net.Conn) bool {
	if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return true
	}
	var one [1]byte
	_, err := c.Read(one[:])
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// sanitizeASCII makes s a valid RFC 5424 header field of at most max characters: printable
// ASCII without spaces, or "-" when nothing is left.
func sanitizeASCII(s string, max int) string {
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}
