package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
)

// sqliteBusyTimeoutMS is how long a connection waits for another process's lock on the file
// before giving up with "database is locked".
const sqliteBusyTimeoutMS = 5000

// sqliteReaders is the size of the read pool. WAL lets readers run beside the one writer.
const sqliteReaders = 4

// OpenSQLite opens (or creates) the directory database file at path and brings its schema up
// to date. The file is private to its owner (0600, in a folder created 0700), in WAL mode,
// with foreign keys enforced. All writes go through one connection whose transactions start
// IMMEDIATE, so a read-modify-write never meets a concurrent write; reads use a small
// read-only pool.
func OpenSQLite(ctx context.Context, path string, opt StoreOptions) (*SQLStore, error) {
	if path == "" {
		return nil, errors.New("directory: the SQLite store needs a file path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("directory: SQLite path %q: ? and # are not allowed in the file name", path)
	}
	ms, err := loadMigrations(migrationFiles, sqliteDialect.name)
	if err != nil {
		return nil, err
	}
	if err := privateFile(path); err != nil {
		return nil, err
	}
	w, err := openSQLite(path, "_txlock=immediate&_journal_mode=WAL&_synchronous=FULL&_pragma=secure_delete(1)")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("directory: open %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		_ = w.Close()
		return nil, fmt.Errorf("directory: open %s: the file system does not support WAL mode (journal mode is %q); put the file on a local disk", path, mode)
	}
	s := newStore(w, w, sqliteDialect, opt)
	if err := s.migrate(ctx, ms); err != nil {
		_ = w.Close()
		return nil, err
	}
	r, err := openSQLite(path, "_query_only=1")
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(sqliteReaders)
	s.r = r
	return s, nil
}

func openSQLite(path, params string) (*sql.DB, error) {
	dsn := fmt.Sprintf("%s?_busy_timeout=%d&_foreign_keys=1&%s", path, sqliteBusyTimeoutMS, params)
	conn, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("directory: open %s: %w", path, err)
	}
	return sql.OpenDB(conn), nil
}

// privateFile creates the database file 0600 before SQLite does (SQLite would use the
// umask, typically 0644), and makes an existing file private. SQLite gives its -wal and -shm
// files the mode of the database file.
func privateFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("directory: create data folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("directory: open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("directory: open %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("directory: stat %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("directory: make %s private: %w", p, err)
			}
		}
	}
	return nil
}
