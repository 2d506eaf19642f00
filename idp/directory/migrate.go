package directory

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

// The schema is a numbered list of migrations. A file NNNN_name.sql serves both databases;
// NNNN_name.sqlite.sql and NNNN_name.postgres.sql stand in for it where the two must differ
// (column types, mostly). Versions run 1, 2, 3… without gaps for each dialect.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$`)

// loadMigrations returns the migrations of the named dialect, in order.
func loadMigrations(fsys fs.FS, dialect string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("directory: read migrations: %w", err)
	}
	shared := map[int]migration{}
	own := map[int]migration{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("directory: migration file %s: name must be NNNN_name.sql or NNNN_name.(sqlite|postgres).sql", e.Name())
		}
		if m[3] != "" && m[3] != dialect {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("directory: read migration %s: %w", e.Name(), err)
		}
		into := shared
		if m[3] != "" {
			into = own
		}
		if prev, dup := into[v]; dup {
			return nil, fmt.Errorf("directory: migrations %s and %d_%s share version %d", e.Name(), v, prev.name, v)
		}
		into[v] = migration{version: v, name: m[2], sql: string(body)}
	}
	for v := range own {
		if _, both := shared[v]; both {
			return nil, fmt.Errorf("directory: migration version %d has both a shared file and a %s variant; keep one", v, dialect)
		}
		shared[v] = own[v]
	}
	out := make([]migration, 0, len(shared))
	for _, m := range shared {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	if len(out) == 0 {
		return nil, fmt.Errorf("directory: no %s migrations", dialect)
	}
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("directory: %s migration version %d is missing (the next is %d)", dialect, i+1, m.version)
		}
	}
	return out, nil
}

// migrate brings the schema up to date in one transaction. On PostgreSQL an advisory lock
// makes replicas that start together take turns: the first applies, the others find nothing
// left to do. A database migrated by a newer release is refused rather than guessed at.
func (s *SQLStore) migrate(ctx context.Context, ms []migration) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.d.takeLock(ctx, tx, lockMigrate); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.migrationsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("%w: the database is at schema version %d and this release knows versions up to %d; run a release at least as new as the one that last used this database, or restore a backup taken before it",
				ErrSchemaTooNew, current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %04d_%s: %w", m.version, m.name, err)
			}
			if _, err := s.exec(ctx, tx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, s.d.time(s.clock())); err != nil {
				return fmt.Errorf("record migration %04d_%s: %w", m.version, m.name, err)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrSchemaTooNew) {
		return fmt.Errorf("directory: migrate %s schema: %w", s.d.name, err)
	}
	return err
}
