package directory

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pool limits for PostgreSQL. Directory traffic is light (a read per request at most); a
// small pool per replica keeps many replicas within the server's connection limit.
const (
	pgMaxOpen     = 10
	pgMaxIdle     = 4
	pgMaxIdleTime = 5 * time.Minute
)

// OpenPostgres connects to the PostgreSQL database named by dsn (a URL or key=value string,
// as libpq accepts) and brings its schema up to date. Replicas may start at the same time:
// migrations take turns under an advisory lock.
func OpenPostgres(ctx context.Context, dsn string, opt StoreOptions) (*SQLStore, error) {
	ms, err := loadMigrations(migrationFiles, postgresDialect.name)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in this error.
		return nil, fmt.Errorf("directory: PostgreSQL DSN: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxOpen)
	db.SetMaxIdleConns(pgMaxIdle)
	db.SetConnMaxIdleTime(pgMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("directory: connect to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	s := newStore(db, db, postgresDialect, opt)
	if err := s.migrate(ctx, ms); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}
