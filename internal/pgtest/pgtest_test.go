package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestOpenCreatesAndDrops(t *testing.T) {
	ctx := t.Context()
	var dsns []string
	t.Run("use", func(t *testing.T) {
		for range 2 {
			dsn := Open(t)
			dsns = append(dsns, dsn)
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatalf("connect to the new database: %v", err)
			}
			if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
				t.Fatal(err)
			}
			// Left open on purpose: the drop must end it.
			t.Cleanup(func() { _ = conn.Close(context.Background()) })
		}
	})
	if len(dsns) != 2 || dsns[0] == dsns[1] {
		t.Fatalf("DSNs %v; want two different ones", dsns)
	}
	admin, err := pgx.Connect(ctx, ServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(context.Background()) }()
	for _, dsn := range dsns {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", cfg.Database).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after the test", cfg.Database)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://u:p@h:5/postgres?sslmode=disable", "postgres://u:p@h:5/db1?sslmode=disable"},
		{"postgresql://h/", "postgresql://h/db1"},
		{"host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=db1"},
	} {
		got, err := withDatabase(c.in, "db1")
		if err != nil || got != c.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if c.in[0] == 'h' {
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Database != "db1" {
				t.Errorf("key=value result names database %q, want db1", cfg.Database)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://u:hunter2@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"host=h password=hunter2", "(a key=value DSN with a password)"},
	} {
		if got := redact(c.in); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
