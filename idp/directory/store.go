package directory

// This file and its siblings (sqlite.go, postgres.go, users.go, …) are the durable directory:
// what must never be lost — users, second-factor material, recovery codes, API tokens and
// invitations — in one SQL schema served by SQLite (one node) or PostgreSQL (many replicas).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Errors of the durable store. Each is wrapped with detail; match them with errors.Is. Any
// other error means the database could not answer, and the caller must fail closed.
var (
	// ErrNotFound means there is no such user, token, invitation or secret, or the secret
	// presented is unknown, used or revoked.
	ErrNotFound = errors.New("directory: not found")
	// ErrConflict means the change would make two users share an email or an (issuer,
	// subject), or a user is already in a state that forbids the change.
	ErrConflict = errors.New("directory: conflict")
	// ErrInvalid means the input itself is wrong (a malformed email, an unknown status…).
	ErrInvalid = errors.New("directory: invalid input")
	// ErrLastAdmin refuses a change that would leave no active administrator.
	ErrLastAdmin = errors.New("directory: the last active administrator cannot be removed, disabled or deleted")
	// ErrSelfChange refuses a change by a person to their own roles or status; see
	// CheckSelfChange.
	ErrSelfChange = errors.New("directory: nobody can change their own roles or status")
	// ErrExpired means an invitation was presented after its deadline.
	ErrExpired = errors.New("directory: expired")
	// ErrEmailMismatch means an invitation was presented by someone signed in with another
	// email address than the one it was issued for. The invitation stays usable.
	ErrEmailMismatch = errors.New("directory: the invitation was issued for another email address")
	// ErrSchemaTooNew means the database was migrated by a newer release than this one.
	ErrSchemaTooNew = errors.New("directory: the database schema is newer than this release")
)

// Status is where a user stands.
type Status string

// The statuses of a user. Only an active user may sign in.
const (
	StatusInvited  Status = "invited"
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

func (s Status) valid() bool {
	return s == StatusInvited || s == StatusActive || s == StatusDisabled
}

// User is one person in the durable directory. Roles and the lists in Owns are kept sorted
// and free of duplicates; empty ones are nil.
type User struct {
	ID        string    `json:"id"`    // assigned by the store: "usr_" and 20 base32 characters
	Email     string    `json:"email"` // canonical (idp.CanonicalEmail); unique
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	// InvitedBy is the id of the user who invited this one, or a word such as "bootstrap"
	// or "cli"; empty when unknown.
	InvitedBy string    `json:"invited_by,omitempty"`
	LastLogin time.Time `json:"last_login,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Issuer and Subject are the IdP account this user is bound to (at the first login);
	// both empty until then. No two users share a pair.
	Issuer      string `json:"issuer,omitempty"`
	Subject     string `json:"subject,omitempty"`
	MFAEnrolled bool   `json:"mfa_enrolled"`
	// Owns lists what the user owns, by kind, for policy conditions
	// (for example {"customers": ["1", "4"]}).
	Owns map[string][]string `json:"owns,omitempty"`
}

// clone copies u deeply, so that an update function cannot change the "before" value.
func (u User) clone() User {
	u.Roles = slices.Clone(u.Roles)
	if u.Owns != nil {
		owns := make(map[string][]string, len(u.Owns))
		for k, v := range u.Owns {
			owns[k] = slices.Clone(v)
		}
		u.Owns = owns
	}
	return u
}

// StoreOptions are the rules, clock and randomness of a store.
type StoreOptions struct {
	// AdminRole is the role whose last active holder is protected; empty means
	// DefaultAdminRole.
	AdminRole string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of ids, tokens and secrets; nil means crypto/rand.Reader. It must
	// be safe for concurrent use.
	Rand io.Reader
}

// DefaultAdminRole is the administrator role of the default policy.
const DefaultAdminRole = "administrator"

// SQLStore is the durable directory in SQLite or PostgreSQL. Both backends run the same
// queries through database/sql; the few differences live in dialect. It is safe for
// concurrent use, by several goroutines and (on PostgreSQL) by several replicas.
type SQLStore struct {
	w, r      *sql.DB // writer and reader pools; the same pool on PostgreSQL
	d         dialect
	now       func() time.Time
	rand      io.Reader
	adminRole string
}

func newStore(w, r *sql.DB, d dialect, opt StoreOptions) *SQLStore {
	s := &SQLStore{w: w, r: r, d: d, now: opt.Now, rand: opt.Rand, adminRole: opt.AdminRole}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.adminRole == "" {
		s.adminRole = DefaultAdminRole
	}
	return s
}

// Close releases the database connections.
func (s *SQLStore) Close() error {
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Ping reports whether the database answers, for readiness checks. It uses the read pool, so
// that a long write on SQLite's single writer connection does not make the node look down.
func (s *SQLStore) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("directory: %s unreachable: %w", s.d.name, err)
	}
	return nil
}

// clock is the store's notion of now, at the precision both databases keep (microseconds).
func (s *SQLStore) clock() time.Time { return stamp(s.now()) }

// stamp brings t to UTC and microseconds, so that what is read back equals what was written
// on either backend.
func stamp(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// queryer is what both a pool and a transaction offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// maxTxAttempts bounds the retries of a transaction PostgreSQL aborted to resolve a deadlock
// or a serialization failure.
const maxTxAttempts = 5

// inTx runs fn in a write transaction and commits it. fn may run more than once when the
// database asks for a retry, so it must not have effects outside tx.
func (s *SQLStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for range maxTxAttempts {
		err = s.tryTx(ctx, s.w, nil, fn)
		if err == nil || !s.d.retryable(err) {
			return err
		}
	}
	return err
}

// readTx runs fn in a read-only transaction, for reads that must see one consistent state.
func (s *SQLStore) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.tryTx(ctx, s.r, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}, fn)
}

func (s *SQLStore) tryTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("directory: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("directory: commit: %w", err)
	}
	return nil
}

// exec runs one statement, written with ? placeholders, and returns the rows it changed.
func (s *SQLStore) exec(ctx context.Context, q queryer, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, s.d.bind(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// randomBytes reads n bytes from the store's source of randomness.
func (s *SQLStore) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, fmt.Errorf("directory: read randomness: %w", err)
	}
	return b, nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns prefix and 20 base32 characters: 100 random bits, lower case so that ids
// read well in URLs and logs.
func (s *SQLStore) newID(prefix string) (string, error) {
	b, err := s.randomBytes(13)
	if err != nil {
		return "", err
	}
	enc := idEncoding.EncodeToString(b)[:20]
	out := make([]byte, len(enc))
	for i := range len(enc) {
		c := enc[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return prefix + string(out), nil
}

// newSecret returns prefix and 256 random bits, base64url: a value shown once and stored
// only as hashSecret of it.
func (s *SQLStore) newSecret(prefix string) (string, error) {
	b, err := s.randomBytes(32)
	if err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// hashSecret is how the store keeps a secret it issued. A plain SHA-256 is enough: the
// secrets carry 256 random bits, so there is nothing to guess, and a lookup by hash reveals
// nothing through timing about the secret itself.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
