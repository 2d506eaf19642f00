package directory

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp"
)

func TestResolver(t *testing.T) {
	for name, open := range map[string]func(*testing.T) opener{"sqlite": sqliteDB, "postgres": postgresDB} {
		t.Run(name, func(t *testing.T) { testResolver(t, open(t)) })
	}
}

func testResolver(t *testing.T, open opener) {
	ctx := context.Background()
	st, err := open(ctx, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mustCreate := func(u User) User {
		t.Helper()
		u, err := st.CreateUser(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	ada := mustCreate(User{Email: "ada@example.com", Name: "Ada", Roles: []string{"administrator"}, Status: StatusActive})
	mustCreate(User{Email: "gone@example.com", Roles: []string{"support"}, Status: StatusDisabled})
	invited := mustCreate(User{Email: "new@example.com", Roles: []string{"support"}, Status: StatusInvited})
	link, err := st.CreateInvitation(ctx, invited.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	file := FileConfig{Users: []FileUser{{Email: "gitops@example.com", Roles: []string{"accountant"}}},
		GroupRoles: map[string][]string{"finance": {"accountant"}}}
	r := NewResolver(st, file, ModeInviteOnly, nil)
	id := func(sub, email string, groups ...string) idp.Identity {
		return idp.Identity{Issuer: "https://idp.example", Subject: sub, Email: email, Groups: groups}
	}

	// Positive controls: a known active user binds at the first login and keeps their roles.
	acct, err := r.Resolve(ctx, id("s-ada", "ada@example.com", "finance"), "")
	if err != nil || acct.UserID != ada.ID || !slices.Equal(acct.Roles, []string{"accountant", "administrator"}) {
		t.Fatalf("ada: %+v, %v", acct, err)
	}
	if u, _ := st.GetUser(ctx, ada.ID); u.Subject != "s-ada" || u.LastLogin.IsZero() {
		t.Fatalf("ada not bound or login not recorded: %+v", u)
	}
	// People the file directory or the group mapping know are let in even when invite-only.
	if acct, err := r.Resolve(ctx, id("s-g", "gitops@example.com"), ""); err != nil || !slices.Equal(acct.Roles, []string{"accountant"}) || acct.UserID != "" {
		t.Fatalf("gitops user: %+v, %v", acct, err)
	}
	if acct, err := r.Resolve(ctx, id("s-f", "fin@example.com", "finance"), ""); err != nil || !slices.Equal(acct.Roles, []string{"accountant"}) {
		t.Fatalf("group-mapped user: %+v, %v", acct, err)
	}

	for _, tc := range []struct {
		name       string
		id         idp.Identity
		invitation string
		want       error
	}{
		{"stranger", id("s-x", "x@example.com"), "", ErrNotInvited},
		{"stranger without email", id("s-y", ""), "", ErrNotInvited},
		{"disabled", id("s-gone", "gone@example.com"), "", ErrDisabled},
		{"invited without the link", id("s-new", "new@example.com"), "", ErrInvitationNeeded},
		{"invited with a wrong link", id("s-new", "new@example.com"), "inv_wrong", ErrNotFound},
		{"another IdP account with ada's email", id("s-mallory", "ada@example.com"), "", ErrBoundElsewhere},
		{"invitation used by another email", id("s-eve", "eve@example.com"), link, ErrNotInvited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Resolve(ctx, tc.id, tc.invitation); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The invitation, used by the right person, activates and binds them; it works once.
	acct, err = r.Resolve(ctx, id("s-new", "new@example.com"), link)
	if err != nil || acct.UserID != invited.ID || !slices.Equal(acct.Roles, []string{"support"}) {
		t.Fatalf("invited user with the link: %+v, %v", acct, err)
	}
	if acct, err := r.Resolve(ctx, id("s-new", "new@example.com"), ""); err != nil || acct.UserID != invited.ID {
		t.Fatalf("invited user's second login: %+v, %v", acct, err)
	}
	// A user disabled after binding is refused by subject.
	if _, _, err := st.UpdateUser(ctx, invited.ID, func(u *User) error { u.Status = StatusDisabled; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(ctx, id("s-new", "new@example.com"), ""); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled after binding: %v", err)
	}

	// Auto-provision creates an active user with no roles, bound to the login.
	auto := NewResolver(st, FileConfig{}, ModeAutoProvision, nil)
	acct, err = auto.Resolve(ctx, id("s-z", "Zed@Example.com"), "")
	if err != nil || acct.UserID == "" || len(acct.Roles) != 0 {
		t.Fatalf("auto-provision: %+v, %v", acct, err)
	}
	if u, err := st.GetUserByEmail(ctx, "zed@example.com"); err != nil || u.Status != StatusActive || u.Subject != "s-z" {
		t.Fatalf("auto-provisioned user: %+v, %v", u, err)
	}
	if _, err := auto.Resolve(ctx, id("s-gone", "gone@example.com"), ""); !errors.Is(err, ErrDisabled) {
		t.Fatalf("auto-provision must not revive a disabled user: %v", err)
	}
}
