package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between the two databases. Everything else — upserts
// (ON CONFLICT … DO UPDATE), RETURNING, LIKE … ESCAPE, COALESCE — is written once in the
// syntax both accept.
type dialect struct {
	name string
	// dollar numbers placeholders ($1, $2…) instead of ?.
	dollar bool
	// forUpdate locks the rows a read-modify-write transaction selects. SQLite needs none:
	// its single writer connection and IMMEDIATE transactions serialise every write.
	forUpdate string
	// rolesAgg joins a user's roles into one comma-separated value.
	rolesAgg string
	// lock takes a transaction-scoped lock named by a key; empty where writes are already
	// serialised.
	lock string
	// time is how a time is written to the database: unix microseconds in SQLite, a
	// timestamptz in PostgreSQL. Both are UTC.
	time func(time.Time) any
	// unique reports a unique-constraint violation.
	unique func(error) bool
	// retryable reports an error after which the whole transaction may simply be run again.
	retryable func(error) bool
	// migrationsTable creates the table that records applied migrations.
	migrationsTable string
	// afterErase runs after a user is erased, outside the transaction, to remove what the
	// database still holds of deleted rows; empty when nothing can be done.
	afterErase string
}

// Keys of the transaction-scoped locks taken on PostgreSQL. Arbitrary but fixed, so every
// replica takes the same lock.
const (
	lockMigrate int64 = 0x746f6c6c67617401 // schema migrations
	lockAdmins  int64 = 0x746f6c6c67617402 // changes that may reduce the set of active admins
)

var sqliteDialect = dialect{
	name:     "sqlite",
	rolesAgg: "group_concat(role, ',')",
	time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMicro()
	},
	unique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) &&
			(e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	retryable: func(error) bool { return false },
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`,
	// With secure_delete on, freed pages are zeroed; checkpointing into the main file and
	// truncating the WAL drops the older page images that still hold the erased rows.
	afterErase: "PRAGMA wal_checkpoint(TRUNCATE)",
}

var postgresDialect = dialect{
	name:      "postgres",
	dollar:    true,
	forUpdate: " FOR UPDATE",
	rolesAgg:  "string_agg(role, ',')",
	lock:      "SELECT pg_advisory_xact_lock(?)",
	time: func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC()
	},
	unique: func(err error) bool { return pgCode(err) == "23505" },
	retryable: func(err error) bool {
		c := pgCode(err)
		return c == "40001" || c == "40P01" // serialization_failure, deadlock_detected
	},
	migrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL
	)`,
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// bind rewrites the ? placeholders of query for the dialect. Queries in this package never
// hold a ? inside a literal.
func (d dialect) bind(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := range len(query) {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// takeLock takes the transaction-scoped lock key, where the dialect needs one.
func (d dialect) takeLock(ctx context.Context, tx *sql.Tx, key int64) error {
	if d.lock == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, d.bind(d.lock), key); err != nil {
		return fmt.Errorf("directory: take lock: %w", err)
	}
	return nil
}

// dbTime reads a time column written by either dialect; NULL reads as the zero time.
type dbTime struct{ t *time.Time }

func (c dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(x).UTC()
	case time.Time:
		*c.t = x.UTC()
	default:
		return fmt.Errorf("directory: cannot read a %T as a time", v)
	}
	return nil
}

// nullString writes "" as NULL, for columns where NULL means "not set" and must not collide
// with another row's "" under a unique index.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
