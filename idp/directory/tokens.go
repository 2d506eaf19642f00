package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// apiTokenPrefix marks API token secrets, so that a leaked one is recognisable.
const apiTokenPrefix = "tgt_"

// APIToken is a credential for automation. Its secret is shown once, at creation; the store
// keeps only a hash of it.
type APIToken struct {
	ID        string    `json:"id"` // "tok_" and 20 base32 characters
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"` // sorted, unique, at least one
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

const tokenColumns = "id, name, scopes, created_at, created_by, expires_at, revoked_at"

func scanToken(row rowScanner) (APIToken, error) {
	var (
		t      APIToken
		scopes string
	)
	err := row.Scan(&t.ID, &t.Name, &scopes, dbTime{&t.CreatedAt}, &t.CreatedBy, dbTime{&t.ExpiresAt}, dbTime{&t.RevokedAt})
	if err != nil {
		return APIToken{}, err
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return APIToken{}, fmt.Errorf("directory: token %s: stored scopes: %w", t.ID, err)
	}
	return t, nil
}

// CreateAPIToken stores a new token described by t (Name, Scopes, ExpiresAt, CreatedBy) and
// returns its secret, "tgt_" and 256 random bits, with the token as stored.
func (s *SQLStore) CreateAPIToken(ctx context.Context, t APIToken) (string, APIToken, error) {
	now := s.clock()
	if t.Name == "" {
		return "", APIToken{}, fmt.Errorf("%w: an API token needs a name", ErrInvalid)
	}
	if err := errors.Join(checkText("name", t.Name), checkText("created_by", t.CreatedBy)); err != nil {
		return "", APIToken{}, err
	}
	scopes, err := identSet("scope", t.Scopes)
	if err != nil {
		return "", APIToken{}, err
	}
	if len(scopes) == 0 {
		return "", APIToken{}, fmt.Errorf("%w: an API token needs at least one scope", ErrInvalid)
	}
	t.Scopes, t.ExpiresAt, t.CreatedAt, t.RevokedAt = scopes, stamp(t.ExpiresAt), now, time.Time{}
	if !t.ExpiresAt.IsZero() && !t.ExpiresAt.After(now) {
		return "", APIToken{}, fmt.Errorf("%w: the expiry %s is not in the future", ErrInvalid, t.ExpiresAt.Format(time.RFC3339))
	}
	if t.ID, err = s.newID("tok_"); err != nil {
		return "", APIToken{}, err
	}
	secret, err := s.newSecret(apiTokenPrefix)
	if err != nil {
		return "", APIToken{}, err
	}
	enc, err := json.Marshal(t.Scopes)
	if err != nil {
		return "", APIToken{}, fmt.Errorf("directory: encode scopes: %w", err)
	}
	_, err = s.exec(ctx, s.w, `INSERT INTO api_tokens (id, name, token_hash, scopes, created_at, created_by, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, t.ID, t.Name, hashSecret(secret), string(enc), s.d.time(t.CreatedAt),
		t.CreatedBy, s.d.time(t.ExpiresAt))
	if err != nil {
		return "", APIToken{}, fmt.Errorf("directory: create API token: %w", err)
	}
	return secret, t, nil
}

// LookupAPIToken returns the live token whose secret this is. ErrNotFound for an unknown,
// revoked or expired one; the wrapped message says which, for the log only.
func (s *SQLStore) LookupAPIToken(ctx context.Context, secret string) (APIToken, error) {
	if !strings.HasPrefix(secret, apiTokenPrefix) {
		return APIToken{}, fmt.Errorf("%w: API token", ErrNotFound)
	}
	// The lookup is by hash: what an observer could learn from its timing is about the hash,
	// which tells nothing about other secrets.
	t, err := scanToken(s.r.QueryRowContext(ctx, s.d.bind("SELECT "+tokenColumns+" FROM api_tokens WHERE token_hash = ?"),
		hashSecret(secret)))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return APIToken{}, fmt.Errorf("%w: API token", ErrNotFound)
	case err != nil:
		return APIToken{}, fmt.Errorf("directory: look up API token: %w", err)
	case !t.RevokedAt.IsZero():
		return APIToken{}, fmt.Errorf("%w: API token %s was revoked", ErrNotFound, t.ID)
	case !t.ExpiresAt.IsZero() && !s.clock().Before(t.ExpiresAt):
		return APIToken{}, fmt.Errorf("%w: API token %s expired", ErrNotFound, t.ID)
	}
	return t, nil
}

// ListAPITokens returns every token, revoked and expired ones included, oldest first.
func (s *SQLStore) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	return s.listTokens(ctx, s.r, "")
}

func (s *SQLStore) listTokens(ctx context.Context, q queryer, createdBy string) ([]APIToken, error) {
	query, args := "SELECT "+tokenColumns+" FROM api_tokens", []any{}
	if createdBy != "" {
		query += " WHERE created_by = ?"
		args = append(args, createdBy)
	}
	rows, err := q.QueryContext(ctx, s.d.bind(query+" ORDER BY created_at, id"), args...)
	if err != nil {
		return nil, fmt.Errorf("directory: list API tokens: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("directory: list API tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: list API tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken ends a token at once. Revoking a revoked token does nothing; ErrNotFound for
// an unknown id.
func (s *SQLStore) RevokeAPIToken(ctx context.Context, id string) error {
	n, err := s.exec(ctx, s.w, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
		s.d.time(s.clock()), id)
	if err != nil {
		return fmt.Errorf("directory: revoke API token: %w", err)
	}
	if n == 1 {
		return nil
	}
	var one int
	err = s.w.QueryRowContext(ctx, s.d.bind("SELECT 1 FROM api_tokens WHERE id = ?"), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: API token", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("directory: revoke API token: %w", err)
	}
	return nil
}
