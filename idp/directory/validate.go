package directory

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tollgate/tollgate/idp"
)

// Limits on stored values: generous for real data, small enough that nobody stores a novel.
const (
	maxEmail  = 254 // RFC 5321 path limit
	maxText   = 256 // names, issuers, subjects, token names
	maxIdent  = 64  // roles, scopes, ownership kinds, secret kinds
	maxSecret = 64 << 10
)

// normalize checks u and brings it to its stored form: canonical email, sorted unique roles
// and ownership lists, nil for empty collections.
func normalize(u *User) error {
	u.Email = idp.CanonicalEmail(u.Email)
	if err := checkEmail(u.Email); err != nil {
		return err
	}
	if err := checkText("name", u.Name); err != nil {
		return err
	}
	if err := checkText("invited_by", u.InvitedBy); err != nil {
		return err
	}
	if !u.Status.valid() {
		return fmt.Errorf("%w: status %q: use invited, active or disabled", ErrInvalid, u.Status)
	}
	if (u.Issuer == "") != (u.Subject == "") {
		return fmt.Errorf("%w: issuer and subject are set together or not at all", ErrInvalid)
	}
	if err := checkText("issuer", u.Issuer); err != nil {
		return err
	}
	if err := checkText("subject", u.Subject); err != nil {
		return err
	}
	roles, err := identSet("role", u.Roles)
	if err != nil {
		return err
	}
	u.Roles = roles
	var owns map[string][]string
	for kind, values := range u.Owns {
		if err := checkIdent("ownership kind", kind); err != nil {
			return err
		}
		for _, v := range values {
			if v == "" {
				return fmt.Errorf("%w: owns.%s holds an empty value", ErrInvalid, kind)
			}
			if err := checkText("owns."+kind, v); err != nil {
				return err
			}
		}
		if len(values) == 0 {
			continue
		}
		if owns == nil {
			owns = map[string][]string{}
		}
		owns[kind] = slices.Compact(slices.Sorted(slices.Values(values)))
	}
	u.Owns = owns
	return nil
}

func checkEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > maxEmail {
		return fmt.Errorf("%w: %q is not an email address", ErrInvalid, email)
	}
	return nil
}

// checkText refuses over-long values, invalid UTF-8 and control characters, which have no
// place in a name and could forge lines in logs and headers.
func checkText(what, s string) error {
	if len(s) > maxText {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, what, maxText)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: %s holds a control character", ErrInvalid, what)
	}
	return nil
}

// checkIdent accepts the names used for roles, scopes and kinds: letters, digits and
// _ . : -, so that they can be joined with commas and shown in headers unchanged.
func checkIdent(what, s string) error {
	ok := s != "" && len(s) <= maxIdent
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: %s %q: use 1 to %d letters, digits, _ . : or -", ErrInvalid, what, s, maxIdent)
	}
	return nil
}

// identSet checks a list of names and returns it sorted without duplicates, nil when empty.
func identSet(what string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	for _, s := range in {
		if err := checkIdent(what, s); err != nil {
			return nil, err
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(in))), nil
}

// CheckSelfChange returns ErrSelfChange when actorID changes their own roles or status from
// before to after; run it inside an UpdateUser function that an administrator drives.
func CheckSelfChange(actorID string, before, after User) error {
	if actorID == "" || actorID != before.ID {
		return nil
	}
	set := func(r []string) []string { return slices.Compact(slices.Sorted(slices.Values(r))) }
	if !slices.Equal(set(before.Roles), set(after.Roles)) || before.Status != after.Status {
		return ErrSelfChange
	}
	return nil
}
