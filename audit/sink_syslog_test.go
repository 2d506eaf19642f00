package audit

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syslogReceiver is a syslog server speaking RFC 5424 over TCP (or TLS) with octet-counted
// framing (RFC 6587), as rsyslog's imtcp and syslog-ng's network() source do.
type syslogReceiver struct {
	ln net.Listener

	mu    sync.Mutex
	msgs  []string
	conns []net.Conn
	bad   []string
}

func newSyslogReceiver(t *testing.T, tlsConfig *tls.Config) *syslogReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	r := &syslogReceiver{ln: ln}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			wg.Go(func() { r.read(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		r.dropConnections()
		wg.Wait()
	})
	return r
}

// read parses "MSG-LEN SP SYSLOG-MSG" frames.
func (r *syslogReceiver) read(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil || size <= 0 || size > 1<<20 {
			r.mu.Lock()
			r.bad = append(r.bad, "bad frame length "+strconv.Quote(n))
			r.mu.Unlock()
			return
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, string(msg))
		r.mu.Unlock()
	}
}

// dropConnections closes every connection, as a restarting server does.
func (r *syslogReceiver) dropConnections() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

func (r *syslogReceiver) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// rfc5424 is HEADER SP STRUCTURED-DATA SP MSG with the fields this sink sends.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\d+) (\S+) - (\{.*\})$`)

func TestSyslogSink(t *testing.T) {
	cert, caFile := selfSignedCert(t)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{
		{"tcp", nil},
		{"tls", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSyslogReceiver(t, tc.tls)
			sink := SinkConfig{Type: SinkSyslog, Address: srv.ln.Addr().String(), Hostname: "gate-1"}
			if tc.tls != nil {
				sink.TLS = TLSConfig{Enabled: true, CAFile: caFile}
			}
			cfg := testConfig(t, sink)
			cfg.Checkpoint.EveryRecords = 1000
			p, _ := openTest(t, cfg, Deps{})
			writeN(t, p, 0, 5)
			waitFor(t, "5 messages", func() bool { return len(srv.messages()) >= 5 })

			// A restarted server: the sink must notice and send the next batch on a new connection.
			srv.dropConnections()
			writeN(t, p, 5, 7)
			closeTest(t, p)
			waitFor(t, "13 messages (12 records and a checkpoint)", func() bool { return len(srv.messages()) == 13 })

			var lines [][]byte
			for i, m := range srv.messages() {
				g := rfc5424.FindStringSubmatch(m)
				if g == nil {
					t.Fatalf("message %d is not RFC 5424 as sent: %q", i, m)
				}
				pri, _ := strconv.Atoi(g[1])
				if _, err := time.Parse(time.RFC3339Nano, g[2]); err != nil {
					t.Errorf("message %d: timestamp %q: %v", i, g[2], err)
				}
				if g[3] != "gate-1" || g[4] != "tollgate" {
					t.Errorf("message %d: hostname %q, app %q", i, g[3], g[4])
				}
				wantPRI, wantID := 10*8+5, "access" // authpriv.notice: access denied
				if i == 12 {
					wantPRI, wantID = 10*8+6, "checkpoint"
				}
				if pri != wantPRI || g[6] != wantID {
					t.Errorf("message %d: PRI %d MSGID %q, want %d %q", i, pri, g[6], wantPRI, wantID)
				}
				lines = append(lines, []byte(g[7]))
			}
			path := filepath.Join(t.TempDir(), "syslog.jsonl")
			writeTrail(t, path, lines)
			if _, err := Verify([]string{path}, VerifyOptions{}); err != nil {
				t.Errorf("the records in the messages do not verify: %v", err)
			}
		})
	}

	t.Run("tls refuses an unknown CA", func(t *testing.T) {
		srv := newSyslogReceiver(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		sink := SinkConfig{Type: SinkSyslog, Name: "syslog", Address: srv.ln.Addr().String(), TLS: TLSConfig{Enabled: true}}
		p, reg := openTest(t, testConfig(t, sink), Deps{})
		writeN(t, p, 0, 1)
		waitFor(t, "failed attempts", func() bool {
			return metricValue(t, reg, "tollgate_audit_records_total", "sink", "syslog", "result", "retried") >= 2
		})
		if n := len(srv.messages()); n != 0 {
			t.Errorf("%d messages went to a server whose certificate is not trusted", n)
		}
	})
}

// selfSignedCert makes a certificate for 127.0.0.1 and writes it as a CA file.
func selfSignedCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslog test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}
