// Package pgtest gives each test its own PostgreSQL database: created fresh on the server
// named by TOLLGATE_TEST_PG and dropped when the test ends. Tests that need PostgreSQL fail,
// rather than skip, when no server answers, so a green run always means the PostgreSQL code
// was exercised.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the environment variable holding the DSN of a PostgreSQL server where the
// tests may create and drop databases (a superuser, or a role with CREATEDB).
const EnvVar = "TOLLGATE_TEST_PG"

// DefaultDSN is used when EnvVar is unset: the local server's postgres superuser over TCP,
// as a stock Debian install with trust authentication for loopback offers it.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// timeout bounds each administrative statement, so an unreachable or stuck server fails the
// test quickly instead of hanging it.
const timeout = 10 * time.Second

// Open creates a uniquely named, empty database and returns a DSN for it. The database is
// dropped, with any connections still open to it, when the test ends.
func Open(t testing.TB) string {
	t.Helper()
	admin := ServerDSN()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: cannot reach PostgreSQL at %s: %v\n"+
			"Set %s to the DSN of a server where tests may create databases (default %s), "+
			"or install and start one, e.g. `apt-get install postgresql && service postgresql start`, "+
			"with trust authentication for 127.0.0.1 in pg_hba.conf.",
			redact(admin), err, EnvVar, DefaultDSN)
	}
	defer func() { _ = conn.Close(context.Background()) }()

	name := "tollgate_test_" + randomHex(t, 8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s on %s: %v", name, redact(admin), err)
	}
	t.Cleanup(func() { drop(t, admin, name) })
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// ServerDSN is the DSN of the server the tests use.
func ServerDSN() string {
	if dsn := strings.TrimSpace(os.Getenv(EnvVar)); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

func drop(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
		return
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
	}
}

// withDatabase returns dsn pointed at another database, in the DSN's own form (URL or
// key=value).
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s is not a valid URL: %w", EnvVar, err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In key=value form a later key wins.
	return dsn + " dbname=" + name, nil
}

// redact hides a password in dsn for messages.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	if strings.Contains(dsn, "password") {
		return "(a key=value DSN with a password)"
	}
	return dsn
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return hex.EncodeToString(b)
}
