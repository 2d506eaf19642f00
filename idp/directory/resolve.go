package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tollgate/tollgate/idp"
)

// Errors of Resolve that refuse a login. Each has its own page, so that the person knows what
// to ask their administrator.
var (
	// ErrNotInvited: the person is not in the directory and the deployment is invite-only.
	ErrNotInvited = errors.New("directory: this person has not been invited")
	// ErrDisabled: the person's account is disabled.
	ErrDisabled = errors.New("directory: this account is disabled")
	// ErrInvitationNeeded: the person was invited but signed in without the invitation link.
	ErrInvitationNeeded = errors.New("directory: sign in through the invitation link first")
)

// Mode says who may sign in when the durable directory does not know them yet.
type Mode string

// The modes of a deployment.
const (
	// ModeInviteOnly lets in only people the directory knows (or whom the file directory or a
	// group mapping gives a role); others get an "ask your administrator" page.
	ModeInviteOnly Mode = "invite-only"
	// ModeAutoProvision creates an active user with no roles at first login.
	ModeAutoProvision Mode = "auto-provision"
)

// Account is what a login resolves to: who the person is in the directory and their roles.
type Account struct {
	UserID string // "" when no durable directory is configured
	Roles  []string
	Owns   map[string][]string
}

// Resolver combines the durable store (optional), the file directory and the group mapping.
type Resolver struct {
	store  *SQLStore
	file   *File
	groups map[string][]string
	mode   Mode
	now    func() time.Time
}

// NewResolver builds a resolver. store may be nil: then only the file directory and the group
// mapping give roles, and everyone the IdP signs in gets through with the roles they map to.
func NewResolver(store *SQLStore, file FileConfig, mode Mode, now func() time.Time) *Resolver {
	if now == nil {
		now = time.Now
	}
	if mode == "" {
		mode = ModeInviteOnly
	}
	return &Resolver{store: store, file: NewFile(file), groups: file.GroupRoles, mode: mode, now: now}
}

// Resolve finds the account for a completed IdP login and records the login. invitation is the
// token of an invitation link the browser came through, or "".
func (r *Resolver) Resolve(ctx context.Context, id idp.Identity, invitation string) (Account, error) {
	fileRoles, err := r.file.Roles(ctx, id)
	if err != nil {
		return Account{}, err
	}
	if r.store == nil {
		return Account{Roles: fileRoles}, nil
	}
	u, err := r.findOrBind(ctx, id, invitation, len(fileRoles) > 0)
	if err != nil {
		return Account{}, err
	}
	if u.ID == "" { // known only to the file directory or the group mapping
		return Account{Roles: fileRoles}, nil
	}
	if err := r.store.RecordLogin(ctx, u.ID, r.now()); err != nil {
		return Account{}, err
	}
	return Account{UserID: u.ID, Roles: union(u.Roles, fileRoles), Owns: u.Owns}, nil
}

// findOrBind returns the durable user of this login, binding it to (issuer, subject) at the
// first login. A zero User with no error means "not in the store, but let in by other means".
func (r *Resolver) findOrBind(ctx context.Context, id idp.Identity, invitation string, otherwiseKnown bool) (User, error) {
	u, err := r.store.GetUserBySubject(ctx, id.Issuer, id.Subject)
	if err == nil {
		return usable(u)
	}
	if !errors.Is(err, ErrNotFound) {
		return User{}, err
	}
	if id.Email == "" {
		return r.unknown(ctx, id, otherwiseKnown)
	}
	u, err = r.store.GetUserByEmail(ctx, id.Email)
	if errors.Is(err, ErrNotFound) {
		return r.unknown(ctx, id, otherwiseKnown)
	}
	if err != nil {
		return User{}, err
	}
	if u.Subject != "" {
		// The email belongs to a user already bound to another IdP account.
		return User{}, ErrBoundElsewhere
	}
	switch u.Status {
	case StatusDisabled:
		return User{}, ErrDisabled
	case StatusInvited:
		if invitation == "" {
			return User{}, ErrInvitationNeeded
		}
		if u, err = r.store.RedeemInvitation(ctx, invitation, id.Email); err != nil {
			return User{}, fmt.Errorf("redeem invitation: %w", err)
		}
	}
	if err := r.store.BindIdentity(ctx, u.ID, id.Issuer, id.Subject); err != nil {
		return User{}, err
	}
	return r.store.GetUser(ctx, u.ID)
}

func (r *Resolver) unknown(ctx context.Context, id idp.Identity, otherwiseKnown bool) (User, error) {
	switch {
	case r.mode == ModeAutoProvision && id.Email != "":
		u, err := r.store.CreateUser(ctx, User{Email: id.Email, Name: id.Name, Status: StatusActive, InvitedBy: "auto-provision"})
		if err != nil {
			return User{}, err
		}
		if err := r.store.BindIdentity(ctx, u.ID, id.Issuer, id.Subject); err != nil {
			return User{}, err
		}
		return r.store.GetUser(ctx, u.ID)
	case otherwiseKnown:
		return User{}, nil
	}
	return User{}, ErrNotInvited
}

func usable(u User) (User, error) {
	switch u.Status {
	case StatusActive:
		return u, nil
	case StatusDisabled:
		return User{}, ErrDisabled
	}
	return User{}, ErrInvitationNeeded
}

// Seen records that the person used the gate; the store writes at most once a minute.
func (r *Resolver) Seen(ctx context.Context, userID string) error {
	if r.store == nil || userID == "" {
		return nil
	}
	return r.store.TouchSeen(ctx, userID, r.now())
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	sort.Strings(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// Config is the `directory` section of the configuration file: the sign-in mode, and the
// read-only file directory with its group mapping.
type Config struct {
	// Mode applies when a durable store is configured: invite-only (default) or auto-provision.
	Mode       Mode `yaml:"mode"`
	FileConfig `yaml:",inline"`
}

// Validate reports every problem at once. known are the roles the policy defines.
func (c Config) Validate(known []string) error {
	var errs []error
	switch c.Mode {
	case "", ModeInviteOnly, ModeAutoProvision:
	default:
		errs = append(errs, fmt.Errorf("directory.mode: %q is not a mode; use invite-only or auto-provision", c.Mode))
	}
	return errors.Join(append(errs, c.FileConfig.Validate(known))...)
}
