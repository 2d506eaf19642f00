package directory

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The changes in this file may leave the deployment without an administrator, so each one
// runs under one rule: the last active administrator cannot be disabled, deleted or lose the
// role. Each takes the admin lock first (on PostgreSQL an advisory lock; SQLite serialises
// all writes anyway) and counts after it, so two changes racing on the last two
// administrators cannot both pass the count.

func (s *SQLStore) activeAdmin(u User) bool {
	return u.Status == StatusActive && slices.Contains(u.Roles, s.adminRole)
}

// keepAnAdmin refuses a change from before to after (nil for a deletion) that takes away the
// last active administrator. The caller holds the admin lock.
func (s *SQLStore) keepAnAdmin(ctx context.Context, tx *sql.Tx, before User, after *User) error {
	if !s.activeAdmin(before) || (after != nil && s.activeAdmin(*after)) {
		return nil
	}
	n, err := s.countActiveAdmins(ctx, tx)
	if err != nil {
		return err
	}
	if n <= 1 {
		return fmt.Errorf("%w: %s is the only one", ErrLastAdmin, before.Email)
	}
	return nil
}

// UpdateUser changes a user by read-modify-write in one transaction: fn receives the stored
// user and changes it in place; returning an error from fn abandons the change with that
// error. fn may run more than once (when PostgreSQL asks for a retry), so it must not have
// effects of its own, and it must not write through the store (on SQLite the one writer
// connection is busy with this transaction). The id and the times are the store's to set:
// changing them is ErrInvalid. Returns the user before and after the change.
func (s *SQLStore) UpdateUser(ctx context.Context, id string, fn func(*User) error) (before, after User, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.d.takeLock(ctx, tx, lockAdmins); err != nil {
			return err
		}
		b, err := s.lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		a := b.clone()
		if err := fn(&a); err != nil {
			return err
		}
		if a.ID != b.ID || !a.CreatedAt.Equal(b.CreatedAt) || !a.LastLogin.Equal(b.LastLogin) || !a.LastSeen.Equal(b.LastSeen) {
			return fmt.Errorf("%w: id, created_at, last_login and last_seen are set by the store", ErrInvalid)
		}
		if err := normalize(&a); err != nil {
			return err
		}
		if err := s.keepAnAdmin(ctx, tx, b, &a); err != nil {
			return err
		}
		owns, err := encodeOwns(a.Owns)
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, `UPDATE users SET email = ?, name = ?, name_fold = ?, status = ?, invited_by = ?,
			issuer = ?, subject = ?, mfa_enrolled = ?, owns = ? WHERE id = ?`,
			a.Email, a.Name, strings.ToLower(a.Name), string(a.Status), a.InvitedBy,
			nullString(a.Issuer), nullString(a.Subject), a.MFAEnrolled, owns, id)
		if err != nil {
			return s.writeErr("update user", err)
		}
		if !slices.Equal(a.Roles, b.Roles) {
			if err := s.putRoles(ctx, tx, id, a.Roles); err != nil {
				return err
			}
		}
		before, after = b, a
		return nil
	})
	if err != nil {
		return User{}, User{}, err
	}
	return before, after, nil
}

// DeleteUser removes a user with everything stored for them (secrets, recovery codes,
// invitations) and returns the user as they were. Other records keep their id (an API token
// they created still names them). See EraseUser to leave no trace.
func (s *SQLStore) DeleteUser(ctx context.Context, id string) (User, error) {
	var u User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = s.deleteUser(ctx, tx, id)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

func (s *SQLStore) deleteUser(ctx context.Context, tx *sql.Tx, id string) (User, error) {
	if err := s.d.takeLock(ctx, tx, lockAdmins); err != nil {
		return User{}, err
	}
	u, err := s.lockUser(ctx, tx, id)
	if err != nil {
		return User{}, err
	}
	if err := s.keepAnAdmin(ctx, tx, u, nil); err != nil {
		return User{}, err
	}
	// Roles, secrets, recovery codes and invitations go with the row (ON DELETE CASCADE).
	if _, err := s.exec(ctx, tx, "DELETE FROM users WHERE id = ?", id); err != nil {
		return User{}, fmt.Errorf("directory: delete user: %w", err)
	}
	return u, nil
}

// DisableInactive disables the active users not seen since before (never seen: created
// before it) and returns them as disabled, oldest activity first, for the audit trail. The
// last active administrator is never disabled: when every administrator is inactive, the most
// recently active one stays. Replicas running it at once each disable a user at most once
// between them.
func (s *SQLStore) DisableInactive(ctx context.Context, before time.Time) ([]User, error) {
	before = stamp(before)
	var out []User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = nil
		if err := s.d.takeLock(ctx, tx, lockAdmins); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.d.bind(s.selectUsers()+
			` WHERE u.status = ? AND COALESCE(u.last_seen, u.created_at) < ?
			ORDER BY COALESCE(u.last_seen, u.created_at), u.id`), string(StatusActive), s.d.time(before))
		if err != nil {
			return fmt.Errorf("directory: find inactive users: %w", err)
		}
		var found []User
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				_ = rows.Close()
				return fmt.Errorf("directory: find inactive users: %w", err)
			}
			found = append(found, u)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("directory: find inactive users: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("directory: find inactive users: %w", err)
		}
		admins, err := s.countActiveAdmins(ctx, tx)
		if err != nil {
			return err
		}
		for _, u := range found {
			if s.activeAdmin(u) {
				if admins <= 1 {
					continue
				}
				admins--
			}
			if _, err := s.exec(ctx, tx, "UPDATE users SET status = ? WHERE id = ?", string(StatusDisabled), u.ID); err != nil {
				return fmt.Errorf("directory: disable %s: %w", u.ID, err)
			}
			u.Status = StatusDisabled
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
