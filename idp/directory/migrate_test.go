package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/pgtest"
)

func knownVersions(t *testing.T, dialect string) int {
	t.Helper()
	ms, err := loadMigrations(migrationFiles, dialect)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func testReopen(t *testing.T, h harness) {
	ann := mustCreate(t, h, User{Email: "ann@billing.example", Roles: []string{"support"}})
	for range 2 {
		again, err := h.open(t.Context(), h.opt)
		if err != nil {
			t.Fatalf("open again: %v", err)
		}
		if diff := cmp.Diff(ann, mustGet(t, harness{SQLStore: again}, ann.ID)); diff != "" {
			t.Errorf("user after reopening (-want +got):\n%s", diff)
		}
		if err := again.Close(); err != nil {
			t.Fatal(err)
		}
	}
	versions := queryStrings(t, h.SQLStore, "SELECT CAST(version AS TEXT) FROM schema_migrations ORDER BY version")
	var want []string
	for v := range knownVersions(t, h.d.name) {
		want = append(want, fmt.Sprint(v+1))
	}
	if diff := cmp.Diff(want, versions); diff != "" {
		t.Errorf("schema_migrations: each version once (-want +got):\n%s", diff)
	}
	if err := h.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testSchemaTooNew(t *testing.T, h harness) {
	n := knownVersions(t, h.d.name)
	if _, err := h.exec(t.Context(), h.w, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		n+1, "from_the_future", h.d.time(suiteStart)); err != nil {
		t.Fatal(err)
	}
	st, err := h.open(t.Context(), h.opt)
	if err == nil {
		_ = st.Close()
	}
	wantErr(t, "open a newer schema", err, ErrSchemaTooNew)
	if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("version %d", n+1)) {
		t.Errorf("the error does not say which version the database has: %v", err)
	}
}

// Two replicas starting together on an empty database: both must come up, and the schema
// must be applied once.
func TestPostgresConcurrentFirstStart(t *testing.T) {
	dsn := pgtest.Open(t)
	stores := make([]*SQLStore, 4)
	errs := race(len(stores), func(i int) error {
		var err error
		stores[i], err = OpenPostgres(context.Background(), dsn, StoreOptions{})
		return err
	})
	for i, st := range stores {
		if st != nil {
			defer func() { _ = stores[i].Close() }()
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	rows := queryStrings(t, stores[0], "SELECT name FROM schema_migrations")
	if len(rows) != knownVersions(t, "postgres") {
		t.Errorf("schema_migrations = %v; want each version once", rows)
	}
}

// Both dialects must describe one schema: the same tables with the same columns.
func TestSchemaParity(t *testing.T) {
	ctx := t.Context()
	lite, err := OpenSQLite(ctx, t.TempDir()+"/d.db", StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lite.Close() }()
	pg, err := OpenPostgres(ctx, pgtest.Open(t), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pg.Close() }()
	// table.column and whether it may be NULL (primary keys never may).
	liteCols := queryStrings(t, lite, `SELECT m.name || '.' || p.name ||
		CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN ' not null' ELSE '' END
		FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY 1`)
	pgCols := queryStrings(t, pg, `SELECT c FROM (SELECT table_name || '.' || column_name ||
		CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END AS c
		FROM information_schema.columns WHERE table_schema = current_schema()) x ORDER BY c COLLATE "C"`)
	if diff := cmp.Diff(liteCols, pgCols); diff != "" {
		t.Errorf("columns (-sqlite +postgres):\n%s", diff)
	}
	for _, want := range []string{"users.email not null", "users.last_seen", "api_tokens.token_hash not null"} {
		if !slices.Contains(liteCols, want) {
			t.Errorf("%q not among the columns %v", want, liteCols)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, c := range []struct {
		name    string
		files   fstest.MapFS
		want    []string // "version name sql" per migration, for sqlite
		wantErr string
	}{
		{"shared and variants", fstest.MapFS{
			"migrations/0001_init.sqlite.sql":   file("lite1"),
			"migrations/0001_init.postgres.sql": file("pg1"),
			"migrations/0002_more.sql":          file("both2"),
		}, []string{"1 init lite1", "2 more both2"}, ""},
		{"gap", fstest.MapFS{
			"migrations/0001_a.sql": file("1"),
			"migrations/0003_c.sql": file("3"),
		}, nil, "version 2 is missing"},
		{"missing variant is a gap for that dialect", fstest.MapFS{
			"migrations/0001_a.postgres.sql": file("1"),
		}, nil, "no sqlite migrations"},
		{"shared beside a variant", fstest.MapFS{
			"migrations/0001_a.sql":        file("1"),
			"migrations/0001_a.sqlite.sql": file("1"),
		}, nil, "both a shared file"},
		{"two shared files for one version", fstest.MapFS{
			"migrations/0001_a.sql": file("1"),
			"migrations/0001_b.sql": file("1"),
		}, nil, "share version 1"},
		{"bad name", fstest.MapFS{
			"migrations/1_init.sql": file("1"),
		}, nil, "name must be"},
		{"unknown dialect suffix", fstest.MapFS{
			"migrations/0001_init.mysql.sql": file("1"),
		}, nil, "name must be"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ms, err := loadMigrations(c.files, "sqlite")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("%d %s %s", m.version, m.name, m.sql))
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
