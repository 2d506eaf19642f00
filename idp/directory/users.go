package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/idp"
)

// userColumns are read by every query that returns users, in the order scanUser expects.
const userColumns = `u.id, u.email, u.name, u.status, u.created_at, u.invited_by, u.last_login,
	u.last_seen, u.issuer, u.subject, u.mfa_enrolled, u.owns,
	(SELECT %s FROM user_roles r WHERE r.user_id = u.id) AS roles`

func (s *SQLStore) selectUsers() string {
	return "SELECT " + fmt.Sprintf(userColumns, s.d.rolesAgg) + " FROM users u"
}

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(row rowScanner) (User, error) {
	var (
		u                      User
		status, owns           string
		issuer, subject, roles sql.NullString
	)
	err := row.Scan(&u.ID, &u.Email, &u.Name, &status, dbTime{&u.CreatedAt}, &u.InvitedBy,
		dbTime{&u.LastLogin}, dbTime{&u.LastSeen}, &issuer, &subject, &u.MFAEnrolled, &owns, &roles)
	if err != nil {
		return User{}, err
	}
	u.Status, u.Issuer, u.Subject = Status(status), issuer.String, subject.String
	if roles.String != "" {
		u.Roles = slices.Compact(slices.Sorted(slices.Values(strings.Split(roles.String, ","))))
	}
	if err := json.Unmarshal([]byte(owns), &u.Owns); err != nil {
		return User{}, fmt.Errorf("directory: user %s: stored owns: %w", u.ID, err)
	}
	if len(u.Owns) == 0 {
		u.Owns = nil
	}
	return u, nil
}

// getUser reads one user through q; where is a condition on u with ? placeholders.
func (s *SQLStore) getUser(ctx context.Context, q queryer, where string, args ...any) (User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, s.d.bind(s.selectUsers()+" WHERE "+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("%w: user", ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("directory: read user: %w", err)
	}
	return u, nil
}

// lockUser reads a user inside a write transaction and keeps others from changing the row
// until the transaction ends.
func (s *SQLStore) lockUser(ctx context.Context, tx *sql.Tx, id string) (User, error) {
	return s.getUser(ctx, tx, "u.id = ?"+s.d.forUpdate, id)
}

// CreateUser stores a new user and returns it as stored, with its id and creation time. An
// empty Status means StatusInvited. ErrConflict when the email or (issuer, subject) is taken.
func (s *SQLStore) CreateUser(ctx context.Context, u User) (User, error) {
	if u.ID != "" || !u.CreatedAt.IsZero() || !u.LastLogin.IsZero() || !u.LastSeen.IsZero() {
		return User{}, fmt.Errorf("%w: id, created_at, last_login and last_seen are set by the store", ErrInvalid)
	}
	if u.Status == "" {
		u.Status = StatusInvited
	}
	u = u.clone()
	if err := normalize(&u); err != nil {
		return User{}, err
	}
	id, err := s.newID("usr_")
	if err != nil {
		return User{}, err
	}
	u.ID, u.CreatedAt = id, s.clock()
	owns, err := encodeOwns(u.Owns)
	if err != nil {
		return User{}, err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO users (id, email, name, name_fold, status, created_at,
			invited_by, issuer, subject, mfa_enrolled, owns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.Name, strings.ToLower(u.Name), string(u.Status), s.d.time(u.CreatedAt),
			u.InvitedBy, nullString(u.Issuer), nullString(u.Subject), u.MFAEnrolled, owns)
		if err != nil {
			return s.writeErr("create user", err)
		}
		return s.putRoles(ctx, tx, u.ID, u.Roles)
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// encodeOwns is the stored form of User.Owns: a JSON object, {} when empty.
func encodeOwns(owns map[string][]string) (string, error) {
	if len(owns) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(owns)
	if err != nil {
		return "", fmt.Errorf("directory: encode owns: %w", err)
	}
	return string(b), nil
}

// writeErr turns a unique violation into ErrConflict and wraps anything else.
func (s *SQLStore) writeErr(what string, err error) error {
	if s.d.unique(err) {
		return fmt.Errorf("%w: %s: the email or the identity-provider account belongs to another user", ErrConflict, what)
	}
	return fmt.Errorf("directory: %s: %w", what, err)
}

// putRoles replaces the roles of a user.
func (s *SQLStore) putRoles(ctx context.Context, tx *sql.Tx, id string, roles []string) error {
	if _, err := s.exec(ctx, tx, "DELETE FROM user_roles WHERE user_id = ?", id); err != nil {
		return fmt.Errorf("directory: replace roles: %w", err)
	}
	for _, r := range roles {
		if _, err := s.exec(ctx, tx, "INSERT INTO user_roles (user_id, role) VALUES (?, ?)", id, r); err != nil {
			return fmt.Errorf("directory: replace roles: %w", err)
		}
	}
	return nil
}

// GetUser returns the user with this id, or ErrNotFound.
func (s *SQLStore) GetUser(ctx context.Context, id string) (User, error) {
	return s.getUser(ctx, s.r, "u.id = ?", id)
}

// GetUserByEmail returns the user with this email in any case, or ErrNotFound.
func (s *SQLStore) GetUserByEmail(ctx context.Context, email string) (User, error) {
	return s.getUser(ctx, s.r, "u.email = ?", idp.CanonicalEmail(email))
}

// GetUserBySubject returns the user bound to this IdP account, or ErrNotFound.
func (s *SQLStore) GetUserBySubject(ctx context.Context, issuer, subject string) (User, error) {
	if issuer == "" || subject == "" {
		return User{}, fmt.Errorf("%w: user", ErrNotFound)
	}
	return s.getUser(ctx, s.r, "u.issuer = ? AND u.subject = ?", issuer, subject)
}

// BindIdentity binds the user to an IdP account at their first login. Binding again to the
// same account does nothing; ErrConflict when the user is bound to another account, or the
// account to another user.
func (s *SQLStore) BindIdentity(ctx context.Context, id, issuer, subject string) error {
	if issuer == "" || subject == "" {
		return fmt.Errorf("%w: issuer and subject are required", ErrInvalid)
	}
	if err := errors.Join(checkText("issuer", issuer), checkText("subject", subject)); err != nil {
		return err
	}
	// One conditional statement: two first logins at once cannot both bind.
	n, err := s.exec(ctx, s.w, "UPDATE users SET issuer = ?, subject = ? WHERE id = ? AND issuer IS NULL",
		issuer, subject, id)
	if err != nil {
		return s.writeErr("bind identity", err)
	}
	if n == 1 {
		return nil
	}
	u, err := s.getUser(ctx, s.w, "u.id = ?", id)
	if err != nil {
		return err
	}
	if u.Issuer == issuer && u.Subject == subject {
		return nil
	}
	return fmt.Errorf("%w: the user is bound to another identity-provider account", ErrConflict)
}

// RecordLogin notes a successful login (which also counts as being seen).
func (s *SQLStore) RecordLogin(ctx context.Context, id string, at time.Time) error {
	at = stamp(at)
	n, err := s.exec(ctx, s.w, `UPDATE users SET last_login = ?,
		last_seen = CASE WHEN last_seen IS NULL OR last_seen < ? THEN ? ELSE last_seen END
		WHERE id = ?`, s.d.time(at), s.d.time(at), s.d.time(at), id)
	if err != nil {
		return fmt.Errorf("directory: record login: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: user", ErrNotFound)
	}
	return nil
}

// seenGranularity is how stale last_seen may get before TouchSeen writes it: activity is
// tracked to the minute, so a busy user costs one write a minute, not one per request.
const seenGranularity = time.Minute

// TouchSeen notes activity. It is meant for every request: one UPDATE that changes nothing
// unless last_seen is a minute old. It does not report an unknown user, since telling that
// apart would cost a read.
func (s *SQLStore) TouchSeen(ctx context.Context, id string, at time.Time) error {
	at = stamp(at)
	_, err := s.exec(ctx, s.w, "UPDATE users SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)",
		s.d.time(at), id, s.d.time(at.Add(-seenGranularity)))
	if err != nil {
		return fmt.Errorf("directory: touch last seen: %w", err)
	}
	return nil
}

// CountActiveAdmins counts the active users who hold the administrator role.
func (s *SQLStore) CountActiveAdmins(ctx context.Context) (int, error) {
	return s.countActiveAdmins(ctx, s.r)
}

func (s *SQLStore) countActiveAdmins(ctx context.Context, q queryer) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, s.d.bind(`SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id
		WHERE r.role = ? AND u.status = ?`), s.adminRole, string(StatusActive)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("directory: count administrators: %w", err)
	}
	return n, nil
}
