package directory

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Page sizes of ListUsers.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Filter selects users for ListUsers. Zero fields select everything.
type Filter struct {
	Role   string
	Status Status
	// InactiveSince selects users not seen since this time (never seen: created before it).
	InactiveSince time.Time
	// Query matches a substring of the email or the name, in any case.
	Query string
	// Limit is the page size: DefaultPageSize when zero, at most MaxPageSize.
	Limit int
	// Cursor continues a listing where the previous page ended; "" starts at the beginning.
	Cursor string
}

// ListUsers returns one page of the users that match f, ordered by email, and the cursor of
// the next page ("" after the last). A cursor stays valid while users change: a page starts
// after the last email of the previous one, so nobody is listed twice or skipped unless their
// email changes between pages.
func (s *SQLStore) ListUsers(ctx context.Context, f Filter) ([]User, string, error) {
	var (
		where []string
		args  []any
	)
	if f.Role != "" {
		if err := checkIdent("role", f.Role); err != nil {
			return nil, "", err
		}
		where = append(where, "EXISTS (SELECT 1 FROM user_roles fr WHERE fr.user_id = u.id AND fr.role = ?)")
		args = append(args, f.Role)
	}
	if f.Status != "" {
		if !f.Status.valid() {
			return nil, "", fmt.Errorf("%w: status %q: use invited, active or disabled", ErrInvalid, f.Status)
		}
		where = append(where, "u.status = ?")
		args = append(args, string(f.Status))
	}
	if !f.InactiveSince.IsZero() {
		where = append(where, "COALESCE(u.last_seen, u.created_at) < ?")
		args = append(args, s.d.time(stamp(f.InactiveSince)))
	}
	if f.Query != "" {
		// Both sides are lower-cased by Go (name_fold is written that way), so case folding
		// is the same on both databases, beyond ASCII too.
		pat := "%" + likeEscape.Replace(strings.ToLower(f.Query)) + "%"
		where = append(where, `(u.email LIKE ? ESCAPE '\' OR u.name_fold LIKE ? ESCAPE '\')`)
		args = append(args, pat, pat)
	}
	if f.Cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(after) == 0 {
			return nil, "", fmt.Errorf("%w: cursor %q is not one this listing returned", ErrInvalid, f.Cursor)
		}
		where = append(where, "u.email > ?")
		args = append(args, string(after))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	q := s.selectUsers()
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY u.email LIMIT ?"
	// One row more than the page tells whether another page follows.
	args = append(args, limit+1)

	rows, err := s.r.QueryContext(ctx, s.d.bind(q), args...)
	if err != nil {
		return nil, "", fmt.Errorf("directory: list users: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, "", fmt.Errorf("directory: list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("directory: list users: %w", err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	return out, base64.RawURLEncoding.EncodeToString([]byte(out[limit-1].Email)), nil
}

var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
