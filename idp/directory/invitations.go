package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/idp"
)

// invitationPrefix marks invitation tokens, so that a leaked one is recognisable (by secret
// scanners, by people reading a log).
const invitationPrefix = "inv_"

// CreateInvitation issues an invitation for an invited user, valid for ttl, and returns its
// token: shown once, kept by the store only as a hash. A new invitation replaces the user's
// earlier unused ones, so that only the latest link works. ErrConflict when the user is not
// in the invited state.
func (s *SQLStore) CreateInvitation(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("%w: an invitation needs a positive lifetime", ErrInvalid)
	}
	token, err := s.newSecret(invitationPrefix)
	if err != nil {
		return "", err
	}
	now := s.clock()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		u, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u.Status != StatusInvited {
			return fmt.Errorf("%w: %s is %s, not invited", ErrConflict, u.ID, u.Status)
		}
		if _, err := s.exec(ctx, tx, "DELETE FROM invitations WHERE user_id = ? AND used_at IS NULL", userID); err != nil {
			return fmt.Errorf("directory: replace invitations: %w", err)
		}
		_, err = s.exec(ctx, tx, "INSERT INTO invitations (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
			hashSecret(token), userID, s.d.time(now), s.d.time(now.Add(ttl)))
		if err != nil {
			return fmt.Errorf("directory: create invitation: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// RedeemInvitation uses an invitation once: the person signed in with email (in any case)
// must be the one invited, the invitation unused and unexpired, and the user still invited.
// The user becomes active and is returned. ErrNotFound for an unknown or used token (or a
// user no longer invited), ErrExpired, ErrEmailMismatch (the invitation stays usable). Of
// concurrent redemptions of one token exactly one succeeds.
func (s *SQLStore) RedeemInvitation(ctx context.Context, token, email string) (User, error) {
	hash := hashSecret(token)
	now := s.clock()
	var u User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			userID, userEmail, status string
			expires, used             time.Time
		)
		err := tx.QueryRowContext(ctx, s.d.bind(`SELECT i.user_id, i.expires_at, i.used_at, u.email, u.status
			FROM invitations i JOIN users u ON u.id = i.user_id WHERE i.token_hash = ?`+s.d.forUpdate), hash).
			Scan(&userID, dbTime{&expires}, dbTime{&used}, &userEmail, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: invitation", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("directory: read invitation: %w", err)
		}
		switch {
		case !used.IsZero():
			return fmt.Errorf("%w: the invitation was used already", ErrNotFound)
		case Status(status) != StatusInvited:
			return fmt.Errorf("%w: the invited user is %s", ErrNotFound, status)
		case !now.Before(expires):
			return fmt.Errorf("%w: the invitation ran out at %s", ErrExpired, expires.Format(time.RFC3339))
		case idp.CanonicalEmail(email) != userEmail:
			return ErrEmailMismatch
		}
		// The conditions repeat the checks above, so that the statement alone decides who
		// wins even where the read did not lock.
		n, err := s.exec(ctx, tx, "UPDATE invitations SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
			s.d.time(now), hash)
		if err != nil {
			return fmt.Errorf("directory: use invitation: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("%w: the invitation was used already", ErrNotFound)
		}
		n, err = s.exec(ctx, tx, "UPDATE users SET status = ? WHERE id = ? AND status = ?",
			string(StatusActive), userID, string(StatusInvited))
		if err != nil {
			return fmt.Errorf("directory: activate user: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("%w: the invited user is no longer invited", ErrNotFound)
		}
		u, err = s.getUser(ctx, tx, "u.id = ?", userID)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}
