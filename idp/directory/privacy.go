package directory

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Export is everything the store holds about a person, for a data-subject access request.
// Second-factor material is named but not included: it is a credential, not information
// about the person.
type Export struct {
	User          User             `json:"user"`
	Secrets       []ExportedSecret `json:"second_factor_secrets"`
	RecoveryCodes int              `json:"recovery_codes_left"`
	Invitations   []Invitation     `json:"invitations"`
	// APITokens are the tokens this person created.
	APITokens []APIToken `json:"api_tokens_created"`
}

// ExportedSecret names a stored secret without its contents.
type ExportedSecret struct {
	Kind      string    `json:"kind"`
	UpdatedAt time.Time `json:"updated_at"`
	Value     string    `json:"value"` // always "present"
}

// Invitation is an invitation as the store keeps it: without its token.
type Invitation struct {
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
}

// ExportUser gathers what the store holds about the user, read in one consistent snapshot.
func (s *SQLStore) ExportUser(ctx context.Context, id string) (Export, error) {
	var x Export
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		if x.User, err = s.getUser(ctx, tx, "u.id = ?", id); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.d.bind("SELECT kind, updated_at FROM user_secrets WHERE user_id = ? ORDER BY kind"), id)
		if err != nil {
			return fmt.Errorf("directory: export secrets: %w", err)
		}
		for rows.Next() {
			e := ExportedSecret{Value: "present"}
			if err := rows.Scan(&e.Kind, dbTime{&e.UpdatedAt}); err != nil {
				_ = rows.Close()
				return fmt.Errorf("directory: export secrets: %w", err)
			}
			x.Secrets = append(x.Secrets, e)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("directory: export secrets: %w", err)
		}
		if err := tx.QueryRowContext(ctx, s.d.bind("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?"), id).
			Scan(&x.RecoveryCodes); err != nil {
			return fmt.Errorf("directory: export recovery codes: %w", err)
		}
		rows, err = tx.QueryContext(ctx, s.d.bind(`SELECT created_at, expires_at, used_at FROM invitations
			WHERE user_id = ? ORDER BY created_at`), id)
		if err != nil {
			return fmt.Errorf("directory: export invitations: %w", err)
		}
		for rows.Next() {
			var inv Invitation
			if err := rows.Scan(dbTime{&inv.CreatedAt}, dbTime{&inv.ExpiresAt}, dbTime{&inv.UsedAt}); err != nil {
				_ = rows.Close()
				return fmt.Errorf("directory: export invitations: %w", err)
			}
			x.Invitations = append(x.Invitations, inv)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("directory: export invitations: %w", err)
		}
		x.APITokens, err = s.listTokens(ctx, tx, id)
		return err
	})
	if err != nil {
		return Export{}, err
	}
	return x, nil
}

func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return err
	}
	return rows.Close()
}

// EraseUser removes the person: their row and everything stored with it (roles, secrets,
// recovery codes, invitations), and rewrites the places that name them — the inviter of other
// users, the creator of API tokens — to pseudonym, the caller's stand-in for them in the
// audit trail. The last active administrator cannot be erased. On SQLite the deleted bytes
// are also wiped from the file (secure_delete zeroes them; a WAL checkpoint drops the older
// page images, or a later one does if a long read holds it back). On PostgreSQL dead rows
// stay on disk until vacuumed.
func (s *SQLStore) EraseUser(ctx context.Context, id, pseudonym string) error {
	if err := checkText("pseudonym", pseudonym); err != nil {
		return err
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.deleteUser(ctx, tx, id); err != nil {
			return err
		}
		for _, q := range []string{
			"UPDATE users SET invited_by = ? WHERE invited_by = ?",
			"UPDATE api_tokens SET created_by = ? WHERE created_by = ?",
		} {
			if _, err := s.exec(ctx, tx, q, pseudonym, id); err != nil {
				return fmt.Errorf("directory: erase references: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.d.afterErase != "" {
		if _, err := s.w.ExecContext(ctx, s.d.afterErase); err != nil {
			return fmt.Errorf("directory: wipe erased data: %w", err)
		}
	}
	return nil
}
