package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Second-factor material. The store keeps bytes: secrets arrive encrypted by the caller and
// recovery codes arrive hashed, so that a reader of the database learns neither.

// userExists fails with ErrNotFound unless the user exists, and (on PostgreSQL) keeps the row
// from being deleted until tx ends.
func (s *SQLStore) userExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, s.d.bind("SELECT 1 FROM users WHERE id = ?"+s.d.forUpdate), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: user", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("directory: read user: %w", err)
	}
	return nil
}

// PutSecret stores (or replaces) the user's secret of a kind, such as "totp".
func (s *SQLStore) PutSecret(ctx context.Context, userID, kind string, data []byte) error {
	if err := checkIdent("secret kind", kind); err != nil {
		return err
	}
	if len(data) == 0 || len(data) > maxSecret {
		return fmt.Errorf("%w: a secret holds 1 to %d bytes", ErrInvalid, maxSecret)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.userExists(ctx, tx, userID); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `INSERT INTO user_secrets (user_id, kind, data, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, kind) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			userID, kind, data, s.d.time(s.clock()))
		if err != nil {
			return fmt.Errorf("directory: store secret: %w", err)
		}
		return nil
	})
}

// GetSecret returns the user's secret of a kind, or ErrNotFound.
func (s *SQLStore) GetSecret(ctx context.Context, userID, kind string) ([]byte, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, s.d.bind("SELECT data FROM user_secrets WHERE user_id = ? AND kind = ?"),
		userID, kind).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: secret", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("directory: read secret: %w", err)
	}
	return data, nil
}

// DeleteSecrets resets the user's second factor: every secret and recovery code goes, and
// the user is no longer MFA-enrolled. A reset that left recovery codes behind would leave a
// way in. ErrNotFound for an unknown user.
func (s *SQLStore) DeleteSecrets(ctx context.Context, userID string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.userExists(ctx, tx, userID); err != nil {
			return err
		}
		for _, q := range []string{
			"DELETE FROM user_secrets WHERE user_id = ?",
			"DELETE FROM recovery_codes WHERE user_id = ?",
		} {
			if _, err := s.exec(ctx, tx, q, userID); err != nil {
				return fmt.Errorf("directory: delete secrets: %w", err)
			}
		}
		if _, err := s.exec(ctx, tx, "UPDATE users SET mfa_enrolled = ? WHERE id = ?", false, userID); err != nil {
			return fmt.Errorf("directory: delete secrets: %w", err)
		}
		return nil
	})
}

// PutRecoveryCodes replaces the user's recovery codes with these hashes.
func (s *SQLStore) PutRecoveryCodes(ctx context.Context, userID string, hashes []string) error {
	for _, h := range hashes {
		if h == "" {
			return fmt.Errorf("%w: an empty recovery code hash", ErrInvalid)
		}
		if err := checkText("recovery code hash", h); err != nil {
			return err
		}
	}
	hashes = slices.Compact(slices.Sorted(slices.Values(hashes)))
	now := s.clock()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.userExists(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, "DELETE FROM recovery_codes WHERE user_id = ?", userID); err != nil {
			return fmt.Errorf("directory: replace recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := s.exec(ctx, tx, "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
				userID, h, s.d.time(now)); err != nil {
				return fmt.Errorf("directory: replace recovery codes: %w", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode consumes the recovery code with this hash and reports whether there was
// one. A code is used at most once, however many requests present it at the same time: the
// single DELETE decides.
func (s *SQLStore) UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error) {
	n, err := s.exec(ctx, s.w, "DELETE FROM recovery_codes WHERE user_id = ? AND code_hash = ?", userID, hash)
	if err != nil {
		return false, fmt.Errorf("directory: use recovery code: %w", err)
	}
	return n == 1, nil
}
