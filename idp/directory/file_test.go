package directory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/idp"
)

var roles = []string{"accountant", "administrator", "billing_manager", "sales_rep", "support"}

func TestFileDirectoryRolesFromEmailAndGroups(t *testing.T) {
	d := NewFile(FileConfig{
		Users:      []FileUser{{Email: "Ada@Example.com", Roles: []string{"administrator"}}},
		GroupRoles: map[string][]string{"finance": {"accountant"}, "helpdesk": {"support", "accountant"}},
	})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		id   idp.Identity
		want []string
	}{
		{"listed email", idp.Identity{Issuer: "i", Subject: "ada", Email: "ada@example.com"}, []string{"administrator"}},
		{"groups merged", idp.Identity{Issuer: "i", Subject: "ada", Email: "ada@example.com", Groups: []string{"finance"}}, []string{"accountant", "administrator"}},
		{"groups only, deduplicated", idp.Identity{Issuer: "i", Subject: "bob", Email: "bob@example.com", Groups: []string{"finance", "helpdesk"}}, []string{"accountant", "support"}},
		{"unknown person", idp.Identity{Issuer: "i", Subject: "eve", Email: "eve@example.com", Groups: []string{"admins"}}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Roles(ctx, tc.id)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Roles = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	// The email is now bound to (i, ada): another account carrying the same email is refused.
	for _, other := range []idp.Identity{
		{Issuer: "i", Subject: "mallory", Email: "ada@example.com"},
		{Issuer: "other-issuer", Subject: "ada", Email: "ada@example.com"},
	} {
		if _, err := d.Roles(ctx, other); !errors.Is(err, ErrBoundElsewhere) {
			t.Errorf("%+v: err = %v, want ErrBoundElsewhere", other, err)
		}
	}
}

func TestFileDirectoryPinnedSubject(t *testing.T) {
	d := NewFile(FileConfig{Users: []FileUser{{Email: "ada@example.com", Roles: []string{"administrator"}, Subject: "s-1"}}})
	if _, err := d.Roles(context.Background(), idp.Identity{Issuer: "i", Subject: "s-2", Email: "ada@example.com"}); !errors.Is(err, ErrBoundElsewhere) {
		t.Fatalf("wrong subject: err = %v, want ErrBoundElsewhere", err)
	}
	got, err := d.Roles(context.Background(), idp.Identity{Issuer: "i", Subject: "s-1", Email: "ada@example.com"})
	if err != nil || !slices.Equal(got, []string{"administrator"}) {
		t.Fatalf("pinned subject: %v, %v", got, err)
	}
}

func TestFileConfigValidate(t *testing.T) {
	err := FileConfig{
		Users: []FileUser{
			{Email: "not-an-email", Roles: []string{"administrator"}},
			{Email: "a@example.com", Roles: []string{"root"}},
			{Email: "A@example.com"},
		},
		GroupRoles: map[string][]string{"g": {"superuser"}},
	}.Validate(roles)
	for _, want := range []string{
		`directory.users[0].email: "not-an-email" is not an email address`,
		`directory.users[1].roles: unknown role "root"`,
		`directory.users[2].email: a@example.com is listed twice`,
		`directory.group_roles.g: unknown role "superuser"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	if err := (FileConfig{Users: []FileUser{{Email: "a@example.com", Roles: []string{"support"}}}}).Validate(roles); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}
