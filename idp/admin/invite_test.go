package admin

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/tollgate/tollgate/idp/directory"
)

// TestInvitationRedeemsOnce: the link's token activates the invited user once, for the
// matching email only.
func TestInvitationRedeemsOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)
		r := e.do(t, req{as: "admin", method: "POST", path: "/users", body: `{"email":"new@example.com","name":"New","roles":["support"]}`})
		want(t, r, http.StatusCreated)
		var cu createdUser
		r.json(t, &cu)
		token := tokenOf(t, cu.Invitation.Link)
		if !cu.Invitation.ExpiresAt.Equal(e.clock.Now().Add(DefaultInvitationTTL)) {
			t.Errorf("expires %v", cu.Invitation.ExpiresAt)
		}
		for _, rec := range e.audit.records {
			if strings.Contains(string(mustJSON(t, rec)), token) {
				t.Fatal("the invitation token is in the audit trail")
			}
		}
		if _, err := e.store.RedeemInvitation(t.Context(), token, "someone@example.com"); !errors.Is(err, directory.ErrEmailMismatch) {
			t.Fatalf("redeem with another email: %v", err)
		}
		u, err := e.store.RedeemInvitation(t.Context(), token, "NEW@example.com")
		if err != nil || u.Status != directory.StatusActive {
			t.Fatalf("redeem: %+v, %v", u, err)
		}
		if _, err := e.store.RedeemInvitation(t.Context(), token, "new@example.com"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("second redemption: %v, want ErrNotFound", err)
		}

		// A new invitation replaces the old one; the old link stops working.
		r = e.do(t, req{as: "admin", method: "POST", path: "/users", body: `{"email":"late@example.com","name":"Late"}`})
		r.json(t, &cu)
		first := tokenOf(t, cu.Invitation.Link)
		r = e.do(t, req{as: "admin", method: "POST", path: "/users/" + cu.User.ID + "/invitation"})
		want(t, r, http.StatusCreated)
		r.json(t, &cu)
		if _, err := e.store.RedeemInvitation(t.Context(), first, "late@example.com"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("the replaced invitation still works: %v", err)
		}
		if _, err := e.store.RedeemInvitation(t.Context(), tokenOf(t, cu.Invitation.Link), "late@example.com"); err != nil {
			t.Errorf("the new invitation: %v", err)
		}
	})
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Path != InvitePath {
		t.Fatalf("link %q", link)
	}
	return u.Query().Get("token")
}

// TestInvitationEmail: with SMTP configured, the link reaches the invitee's mailbox over
// STARTTLS with authentication, on a real SMTP server.
func TestInvitationEmail(t *testing.T) {
	srv := startSMTP(t)
	e := newEnv(t, backends[0].open, func(c *Config) {
		c.SMTP = SMTPConfig{Host: "127.0.0.1", Port: srv.port, Username: "tollgate", PasswordFile: srv.passwordFile,
			From: "Tollgate <tollgate@example.com>", StartTLS: true, CAFile: srv.caFile}
	})
	r := e.do(t, req{as: "admin", method: "POST", path: "/users", body: `{"email":"Mia@Example.com","name":"Mia Müller","roles":["support"]}`})
	want(t, r, http.StatusCreated)
	var cu createdUser
	r.json(t, &cu)
	if !cu.Invitation.Emailed || cu.Invitation.EmailError != "" {
		t.Fatalf("invitation %+v", cu.Invitation)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages delivered", len(msgs))
	}
	m := msgs[0]
	if !m.tls || m.user != "tollgate" || m.from != "tollgate@example.com" || m.to != "mia@example.com" {
		t.Errorf("envelope %+v", m)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	to, err := parsed.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Mia Müller" || to[0].Address != "mia@example.com" {
		t.Errorf("To %v (%v)", to, err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), cu.Invitation.Link) {
		t.Errorf("the mail does not carry the link %s:\n%s", cu.Invitation.Link, body)
	}
	if _, err := e.store.RedeemInvitation(t.Context(), tokenOf(t, cu.Invitation.Link), "mia@example.com"); err != nil {
		t.Errorf("the mailed link does not redeem: %v", err)
	}

	// The mail server goes away: the user is still created, and the administrator gets the
	// link with a note.
	srv.stop()
	r = e.do(t, req{as: "admin", method: "POST", path: "/users", body: `{"email":"no@example.com","name":"No Mail"}`})
	want(t, r, http.StatusCreated)
	r.json(t, &cu)
	if cu.Invitation.Emailed || cu.Invitation.EmailError == "" || cu.Invitation.Link == "" {
		t.Errorf("invitation after a failed mail %+v", cu.Invitation)
	}
}

// TestSMTPNeedsTLS: a server that does not offer STARTTLS gets no mail (the link would
// travel in clear text).
func TestSMTPNeedsTLS(t *testing.T) {
	srv := startSMTP(t)
	srv.server.TLSConfig = nil
	m, err := newMailer(SMTPConfig{Host: "127.0.0.1", Port: srv.port, From: "t@example.com", StartTLS: true, Timeout: Duration(5 * time.Second)}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	err = m.sendInvitation(t.Context(), "a@example.com", "A", "https://x/_tollgate/invite?token=inv_x", time.Now())
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("send without STARTTLS: %v", err)
	}
	if len(srv.messages()) != 0 {
		t.Fatal("a message was delivered without TLS")
	}
}

type delivered struct {
	from, to, user string
	tls            bool
	data           []byte
}

type smtpServer struct {
	server       *gosmtp.Server
	port         int
	caFile       string
	passwordFile string
	mu           sync.Mutex
	got          []delivered
	stopOnce     sync.Once
}

func (s *smtpServer) messages() []delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivered(nil), s.got...)
}

func (s *smtpServer) stop() { s.stopOnce.Do(func() { _ = s.server.Close() }) }

// startSMTP runs a go-smtp server on a free loopback port with a fresh certificate for
// 127.0.0.1 (trusted through caFile) and one account, tollgate / its password file.
func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	dir := t.TempDir()
	cert, caPEM := selfSigned(t)
	s := &smtpServer{caFile: filepath.Join(dir, "ca.pem"), passwordFile: filepath.Join(dir, "password")}
	if err := os.WriteFile(s.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.passwordFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.server = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &smtpSession{srv: s, conn: c}, nil
	}))
	s.server.Domain = "localhost"
	s.server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.server.ReadTimeout, s.server.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = s.server.Serve(l) }()
	t.Cleanup(s.stop)
	return s
}

type smtpSession struct {
	srv  *smtpServer
	conn *gosmtp.Conn
	cur  delivered
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "tollgate" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.cur.user = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.cur.from = from
	_, s.cur.tls = s.conn.TLSConnectionState()
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error { s.cur.to = to; return nil }

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.srv.mu.Lock()
	s.srv.got = append(s.srv.got, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test mail server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
