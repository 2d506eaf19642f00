package mfa

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Recovery codes: ten codes like "abcd-efgh-jkmn", from an alphabet without look-alikes
// (no i, l, o, 0 or 1), about 59 bits each. Each is shown once and stored only as an HMAC
// (see sealer.recoveryHashes); the directory's single DELETE makes each usable once.
const (
	recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	recoveryCount    = 10
	recoveryGroups   = 3
	recoveryGroupLen = 4
)

// newRecoveryCodes returns fresh codes for display and their hashes under the current key.
func (h *Handler) newRecoveryCodes(userID string) (codes, hashes []string, err error) {
	for range recoveryCount {
		c, err := randomCode(h.deps.Rand)
		if err != nil {
			return nil, nil, err
		}
		codes = append(codes, c)
		hashes = append(hashes, h.seal.recoveryHashes(userID, normalizeRecovery(c))[0])
	}
	return codes, hashes, nil
}

func randomCode(rand io.Reader) (string, error) {
	n := recoveryGroups * recoveryGroupLen
	out := make([]byte, 0, n+recoveryGroups-1)
	// Rejection sampling keeps every character equally likely: 248 is the largest multiple
	// of the alphabet's 31 characters below 256.
	limit := byte(256 / len(recoveryAlphabet) * len(recoveryAlphabet))
	var buf [1]byte
	for len(out) < cap(out) {
		if _, err := io.ReadFull(rand, buf[:]); err != nil {
			return "", fmt.Errorf("mfa: read randomness: %w", err)
		}
		if buf[0] >= limit {
			continue
		}
		if l := len(out); l > 0 && (l+1)%(recoveryGroupLen+1) == 0 {
			out = append(out, '-')
		}
		out = append(out, recoveryAlphabet[int(buf[0])%len(recoveryAlphabet)])
	}
	return string(out), nil
}

// normalizeRecovery turns what a person typed into the form that is hashed: lower case,
// without spaces and hyphens. It returns "" for anything that cannot be a code.
func normalizeRecovery(s string) string {
	if len(s) > 64 {
		return ""
	}
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(recoveryAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != recoveryGroups*recoveryGroupLen {
		return ""
	}
	return b.String()
}

// useRecoveryCode consumes the code if it is one of the user's, trying the hash under each
// key so that codes issued before a key rotation keep working.
func (h *Handler) useRecoveryCode(ctx context.Context, userID, typed string) (bool, error) {
	code := normalizeRecovery(typed)
	if code == "" {
		return false, nil
	}
	for _, hash := range h.seal.recoveryHashes(userID, code) {
		ok, err := h.deps.Directory.UseRecoveryCode(ctx, userID, hash)
		if err != nil {
			return false, fmt.Errorf("mfa: use recovery code: %w", err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}
