// Package directory answers "which roles does this person hold?". This file is the read-only
// directory kept in the configuration (for GitOps setups): users listed by email with their
// roles, plus a mapping from IdP groups to roles.
package directory

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"sync"

	"github.com/tollgate/tollgate/idp"
)

// ErrBoundElsewhere means the email is already bound to another (issuer, subject): someone else
// at the IdP now carries this address, and must not inherit the first person's roles.
var ErrBoundElsewhere = errors.New("directory: this email is bound to another account at the identity provider")

// FileConfig is the `directory` section of the configuration file.
type FileConfig struct {
	Users []FileUser `yaml:"users"`
	// GroupRoles maps an IdP group (from the groups claim) to the roles it grants.
	GroupRoles map[string][]string `yaml:"group_roles"`
}

// FileUser is one person in the file directory.
type FileUser struct {
	Email string   `yaml:"email"`
	Name  string   `yaml:"name"`
	Roles []string `yaml:"roles"`
	// Subject optionally pins the user to an IdP subject from the start.
	Subject string `yaml:"subject"`
}

// Validate reports every problem at once. known are the roles the policy defines.
func (c FileConfig) Validate(known []string) error {
	var errs []error
	seen := map[string]int{}
	for i, u := range c.Users {
		key := fmt.Sprintf("directory.users[%d]", i)
		if _, err := mail.ParseAddress(u.Email); err != nil || u.Email == "" {
			errs = append(errs, fmt.Errorf("%s.email: %q is not an email address", key, u.Email))
		}
		e := idp.CanonicalEmail(u.Email)
		if j, dup := seen[e]; dup {
			errs = append(errs, fmt.Errorf("%s.email: %s is listed twice (also directory.users[%d]); keep one entry", key, e, j))
		}
		seen[e] = i
		for _, r := range u.Roles {
			if !slices.Contains(known, r) {
				errs = append(errs, fmt.Errorf("%s.roles: unknown role %q; the policy defines %v", key, r, known))
			}
		}
	}
	groups := make([]string, 0, len(c.GroupRoles))
	for g := range c.GroupRoles {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		for _, r := range c.GroupRoles[g] {
			if !slices.Contains(known, r) {
				errs = append(errs, fmt.Errorf("directory.group_roles.%s: unknown role %q; the policy defines %v", g, r, known))
			}
		}
	}
	return errors.Join(errs...)
}

// File is the directory read from the configuration.
type File struct {
	users  map[string]FileUser // by canonical email
	groups map[string][]string

	mu    sync.Mutex
	bound map[string]string // canonical email → user key of the first login
}

// NewFile builds the directory; cfg must have passed Validate.
func NewFile(cfg FileConfig) *File {
	d := &File{users: map[string]FileUser{}, groups: cfg.GroupRoles, bound: map[string]string{}}
	for _, u := range cfg.Users {
		e := idp.CanonicalEmail(u.Email)
		d.users[e] = u
		if u.Subject != "" {
			// A pinned subject is bound from the start, whatever issuer asserts it first is
			// checked against it in Roles.
			d.bound[e] = "subject:" + u.Subject
		}
	}
	return d
}

// Roles returns the sorted roles of the person: those listed for their email (once bound to
// their (issuer, subject)) merged with those their IdP groups map to. A person the directory
// does not know and whose groups map to nothing has no roles.
func (d *File) Roles(_ context.Context, id idp.Identity) ([]string, error) {
	set := map[string]bool{}
	for _, g := range id.Groups {
		for _, r := range d.groups[g] {
			set[r] = true
		}
	}
	if u, ok := d.users[id.Email]; ok && id.Email != "" {
		if err := d.bind(id, u); err != nil {
			return nil, err
		}
		for _, r := range u.Roles {
			set[r] = true
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles, nil
}

func (d *File) bind(id idp.Identity, u FileUser) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := idp.CanonicalEmail(u.Email)
	b, ok := d.bound[e]
	switch {
	case !ok:
		d.bound[e] = id.UserKey()
		return nil
	case b == id.UserKey(), b == "subject:"+id.Subject:
		return nil
	}
	return ErrBoundElsewhere
}
