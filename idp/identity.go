// Package idp holds the identity value that the rest of Tollgate passes around: who signed in,
// through which issuer, and how strongly. It has no behaviour of its own and imports nothing of
// ours, so every other package can depend on it.
package idp

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Identity is what an OIDC login proved about a person. A user is bound to (Issuer, Subject),
// never to a mutable claim such as Email.
type Identity struct {
	Issuer   string    `json:"iss"`
	Subject  string    `json:"sub"`
	Email    string    `json:"email,omitempty"`
	Name     string    `json:"name,omitempty"`
	Groups   []string  `json:"groups,omitempty"`
	AMR      []string  `json:"amr,omitempty"`
	ACR      string    `json:"acr,omitempty"`
	AuthTime time.Time `json:"auth_time,omitzero"`
	// MFA is true when the login carried one of the second-factor values the deployment accepts.
	MFA bool `json:"mfa"`
}

// UserKey is a stable, opaque key for the person behind this identity: a hash of issuer and
// subject, safe to use in store keys and log lines.
func (id Identity) UserKey() string {
	return UserKey(id.Issuer, id.Subject)
}

// UserKey hashes (issuer, subject) into the key used by the session index. The NUL separator
// keeps ("a", "bc") and ("ab", "c") apart.
func UserKey(issuer, subject string) string {
	sum := sha256.Sum256([]byte(issuer + "\x00" + subject))
	return hex.EncodeToString(sum[:16])
}

// CanonicalEmail is the one form in which emails are compared and stored.
func CanonicalEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
