package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"
)

// DemoUsers returns one user per role of the default billing policy, each with the password
// "demo", a second factor asserted by the IdP (amr pwd+mfa) and the group "billing-<role>".
// It returns a fresh slice on every call.
func DemoUsers() []User {
	demo := []struct{ username, name, role string }{
		{"admin", "Ada Admin", "administrator"},
		{"manager", "Mona Manager", "billing_manager"},
		{"sales", "Sam Sales", "sales_rep"},
		{"accountant", "Alan Accountant", "accountant"},
		{"support", "Sue Support", "support"},
	}
	users := make([]User, 0, len(demo))
	for _, d := range demo {
		users = append(users, User{
			Username: d.username,
			Password: "demo",
			Subject:  DefaultSubject(d.username),
			Email:    d.username + "@example.com",
			Name:     d.name,
			Groups:   []string{"billing-" + d.role},
			AMR:      []string{"pwd", "mfa"},
		})
	}
	return users
}

// DefaultSubject is the "sub" of a user configured without one: an opaque value derived from
// the canonical username, so it stays the same across restarts but is not the username itself
// (relying parties must bind accounts to "sub", not to a name they could be tricked into matching).
func DefaultSubject(username string) string {
	sum := sha256.Sum256([]byte("devidp-subject\x00" + canonicalUsername(username)))
	return "u-" + hex.EncodeToString(sum[:12])
}

// SetUser adds u, or replaces the user with the same (canonical) username. Logins that start
// afterwards see the new values; tokens already issued keep the amr/acr of their login.
func (p *Provider) SetUser(u User) error {
	if err := validateUser(u); err != nil {
		return fmt.Errorf("devidp: set user: %w", err)
	}
	u = normalizeUser(u)
	key := canonicalUsername(u.Username)
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, other := range p.users {
		if k != key && other.Subject == u.Subject {
			return fmt.Errorf("devidp: set user %q: subject %q belongs to %q", u.Username, u.Subject, other.Username)
		}
	}
	p.users[key] = u
	return nil
}

// SetAuthTime makes every later login of username assert t as "auth_time" instead of the
// moment the password was checked, so that relying parties' freshness rules can be tested.
// A zero t removes the override.
func (p *Provider) SetAuthTime(username string, t time.Time) {
	key := canonicalUsername(username)
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.IsZero() {
		delete(p.authTimes, key)
		return
	}
	p.authTimes[key] = t
}

// checkPasswordLocked returns the user when username and password match. The comparison takes
// the same time whether or not the user exists and whatever the length of the guess. The caller
// holds p.mu.
func (p *Provider) checkPasswordLocked(username, password string) (User, bool) {
	u, found := p.users[canonicalUsername(username)]
	want := sha256.Sum256([]byte("\x00no such user"))
	if found {
		want = sha256.Sum256([]byte(u.Password))
	}
	got := sha256.Sum256([]byte(password))
	match := subtle.ConstantTimeCompare(want[:], got[:]) == 1
	if !found || !match {
		return User{}, false
	}
	return normalizeUser(u), true
}
