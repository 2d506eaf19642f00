package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"time"
)

// mailer sends invitation emails over SMTP, upgraded with STARTTLS unless the server is on
// this machine.
type mailer struct {
	cfg      SMTPConfig
	password string
	tls      *tls.Config
	now      func() time.Time
}

func newMailer(cfg SMTPConfig, now func() time.Time) (*mailer, error) {
	m := &mailer{cfg: cfg, now: now, tls: &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}}
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("admin.smtp.password_file: %w", err)
		}
		m.password = strings.TrimRight(string(b), "\r\n")
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("admin.smtp.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("admin.smtp.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		m.tls.RootCAs = pool
	}
	return m, nil
}

// sendInvitation mails the link to the invitee.
func (m *mailer) sendInvitation(ctx context.Context, to, name, link string, expires time.Time) error {
	body := fmt.Sprintf("Hello %s,\n\nyou have been invited to sign in to the billing application.\n\n"+
		"Open this link and sign in with your company account (%s):\n\n%s\n\n"+
		"The link works once and until %s. If you did not expect this message, ignore it.\n",
		strings.TrimSpace(name+" "), to, link, expires.UTC().Format("2 January 2006 15:04 MST"))
	return m.send(ctx, to, name, "Your invitation to the billing application", body)
}

func (m *mailer) send(ctx context.Context, to, name, subject, body string) error {
	msg, err := m.message(to, name, subject, body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout.std())
	defer cancel()
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp: %s: %w", addr, err)
	}
	defer func() { _ = c.Close() }()
	if m.cfg.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("smtp: %s does not offer STARTTLS, which admin.smtp.starttls requires", addr)
		}
		if err := c.StartTLS(m.tls); err != nil {
			return fmt.Errorf("smtp: STARTTLS with %s: %w", addr, err)
		}
	}
	if m.cfg.Username != "" {
		// PlainAuth itself refuses to send the password over a connection that is neither
		// TLS nor to localhost.
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.password, m.cfg.Host)); err != nil {
			return fmt.Errorf("smtp: authenticate to %s: %w", addr, err)
		}
	}
	from, _ := mail.ParseAddress(m.cfg.From)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := wc.Write(msg); err != nil {
		_ = wc.Close()
		return fmt.Errorf("smtp: send message: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("smtp: send message: %w", err)
	}
	return c.Quit()
}

// message builds the mail. Header values come from validated directory fields, and CR or LF
// is refused anyway, so that no value can add a header.
func (m *mailer) message(to, name, subject, body string) ([]byte, error) {
	for _, v := range []string{to, name, subject} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("smtp: a header value holds a line break")
		}
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	from, _ := mail.ParseAddress(m.cfg.From)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: %s\r\n", (&mail.Address{Name: name, Address: to}).String())
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", m.now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), from.Address[strings.LastIndexByte(from.Address, '@')+1:])
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
