package directory

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/pgtest"

	"github.com/tollgate/tollgate/internal/testclock"
)

// The conformance suite: every case runs against a fresh SQLite file and a fresh PostgreSQL
// database, so that both backends keep one behaviour.

func TestSQLiteStore(t *testing.T)   { runSuite(t, sqliteDB) }
func TestPostgresStore(t *testing.T) { runSuite(t, postgresDB) }

// opener opens (again) one database.
type opener func(ctx context.Context, opt StoreOptions) (*SQLStore, error)

func sqliteDB(t *testing.T) opener {
	path := filepath.Join(t.TempDir(), "data", "directory.db")
	return func(ctx context.Context, opt StoreOptions) (*SQLStore, error) { return OpenSQLite(ctx, path, opt) }
}

func postgresDB(t *testing.T) opener {
	dsn := pgtest.Open(t)
	return func(ctx context.Context, opt StoreOptions) (*SQLStore, error) { return OpenPostgres(ctx, dsn, opt) }
}

// harness is a fresh, empty store with its clock and a way to open its database again.
type harness struct {
	*SQLStore
	clock *fakeClock
	open  opener
	opt   StoreOptions
}

type fakeClock = testclock.Clock

// suiteStart has nanoseconds on purpose: the store must keep microseconds on both backends.
var suiteStart = time.Date(2030, 3, 4, 9, 0, 0, 123456789, time.UTC)

// suiteAdmin is not the default, so that a store that ignored AdminRole fails.
const suiteAdmin = "admin"

func runSuite(t *testing.T, newDB func(t *testing.T) opener) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, h harness)
	}{
		{"create and get", testCreateAndGet},
		{"duplicate email in any case is a conflict", testDuplicateEmail},
		{"invalid users are refused", testInvalidUsers},
		{"update is read-modify-write", testUpdateUser},
		{"bind identity", testBindIdentity},
		{"login and last seen", testLoginAndSeen},
		{"last active administrator is kept", testLastAdmin},
		{"racing changes on the last two administrators", testLastAdminRace},
		{"disable inactive users", testDisableInactive},
		{"disable inactive on two replicas at once", testDisableInactiveRace},
		{"list pages through everyone once", testListPaging},
		{"list filters", testListFilters},
		{"invitation round trip", testInvitation},
		{"invitation rules", testInvitationRules},
		{"invitation has one winner under concurrency", testInvitationRace},
		{"API tokens", testAPITokens},
		{"API token expiry", testAPITokenExpiry},
		{"secrets", testSecrets},
		{"recovery codes are single use", testRecoveryCodes},
		{"export", testExportUser},
		{"erase leaves nothing of the person", testEraseUser},
		{"reopening migrates nothing and keeps data", testReopen},
		{"a newer schema is refused", testSchemaTooNew},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := testclock.At(suiteStart)
			opt := StoreOptions{AdminRole: suiteAdmin, Now: clock.Now}
			open := newDB(t)
			st, err := open(t.Context(), opt)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			c.run(t, harness{SQLStore: st, clock: clock, open: open, opt: opt})
		})
	}
}

func mustCreate(t *testing.T, h harness, u User) User {
	t.Helper()
	got, err := h.CreateUser(t.Context(), u)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Email, err)
	}
	return got
}

func mustGet(t *testing.T, h harness, id string) User {
	t.Helper()
	u, err := h.GetUser(t.Context(), id)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", id, err)
	}
	return u
}

// admin creates an active administrator.
func admin(t *testing.T, h harness, email string) User {
	t.Helper()
	return mustCreate(t, h, User{Email: email, Roles: []string{suiteAdmin}, Status: StatusActive})
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

// rawTables returns every row of every table as text, as someone reading the database
// directly would see it.
func rawTables(t *testing.T, s *SQLStore) string {
	t.Helper()
	ctx := t.Context()
	list := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if s.d.name == "postgres" {
		list = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	}
	tables := queryStrings(t, s, list)
	sort.Strings(tables)
	if len(tables) < 7 {
		t.Fatalf("found only tables %v", tables)
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := s.w.QueryContext(ctx, "SELECT * FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s:", table)
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " %s=%v", cols[i], v)
			}
			b.WriteString("\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		_ = rows.Close()
	}
	return b.String()
}

func queryStrings(t *testing.T, s *SQLStore, q string, args ...any) []string {
	t.Helper()
	rows, err := s.w.QueryContext(t.Context(), s.d.bind(q), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// race runs fn n times at once and returns the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}
