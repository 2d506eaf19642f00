package directory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// StoreConfig is the `store` section of the configuration: where the durable directory lives.
type StoreConfig struct {
	// Driver is "sqlite" (one node; a file on local disk) or "postgres" (many replicas).
	Driver string `yaml:"driver"`
	// Path is the SQLite file.
	Path string `yaml:"path"`
	// DSN, DSNFile or DSNEnv give the PostgreSQL connection string (it may hold a password,
	// hence the file and environment forms); exactly one is set.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
}

// Validate reports every problem at once, naming the key and the fix. It reads nothing: a
// missing DSN file or variable is reported by Open.
func (c StoreConfig) Validate() error {
	var errs []error
	dsnKeys := c.dsnKeys()
	switch c.Driver {
	case "sqlite":
		if c.Path == "" {
			errs = append(errs, errors.New("store.path: required for driver sqlite; give the database file, e.g. /var/lib/tollgate/directory.db"))
		}
		for _, k := range dsnKeys {
			errs = append(errs, fmt.Errorf("store.%s: only for driver postgres; remove it or set store.driver: postgres", k))
		}
	case "postgres":
		if c.Path != "" {
			errs = append(errs, errors.New("store.path: only for driver sqlite; remove it or set store.driver: sqlite"))
		}
		switch len(dsnKeys) {
		case 0:
			errs = append(errs, errors.New("store.dsn_file: driver postgres needs a connection string; set one of store.dsn_file, store.dsn_env or store.dsn"))
		case 1:
		default:
			errs = append(errs, fmt.Errorf("store.%s: set only one of store.dsn, store.dsn_file and store.dsn_env (found %s)",
				dsnKeys[1], strings.Join(dsnKeys, ", ")))
		}
	case "":
		errs = append(errs, errors.New("store.driver: required; use sqlite (one node) or postgres (many replicas)"))
	default:
		errs = append(errs, fmt.Errorf("store.driver: unknown driver %q; use sqlite or postgres", c.Driver))
	}
	return errors.Join(errs...)
}

func (c StoreConfig) dsnKeys() []string {
	var keys []string
	for _, kv := range []struct{ key, val string }{{"dsn", c.DSN}, {"dsn_file", c.DSNFile}, {"dsn_env", c.DSNEnv}} {
		if kv.val != "" {
			keys = append(keys, kv.key)
		}
	}
	return keys
}

// Open validates cfg and opens the store it names, migrating its schema.
func Open(ctx context.Context, cfg StoreConfig, opt StoreOptions) (*SQLStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Driver == "sqlite" {
		return OpenSQLite(ctx, cfg.Path, opt)
	}
	dsn, err := cfg.dsn()
	if err != nil {
		return nil, err
	}
	return OpenPostgres(ctx, dsn, opt)
}

func (c StoreConfig) dsn() (string, error) {
	switch {
	case c.DSNFile != "":
		b, err := os.ReadFile(c.DSNFile)
		if err != nil {
			return "", fmt.Errorf("store.dsn_file: %w", err)
		}
		dsn := strings.TrimSpace(string(b))
		if dsn == "" {
			return "", fmt.Errorf("store.dsn_file: %s is empty; put the PostgreSQL connection string in it", c.DSNFile)
		}
		return dsn, nil
	case c.DSNEnv != "":
		dsn := strings.TrimSpace(os.Getenv(c.DSNEnv))
		if dsn == "" {
			return "", fmt.Errorf("store.dsn_env: the environment variable %s is empty or unset; set it to the PostgreSQL connection string", c.DSNEnv)
		}
		return dsn, nil
	}
	return c.DSN, nil
}
