package mfa

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: what every authenticator app understands (RFC 6238 defaults). Skew is one
// step either side, never more: each extra step doubles a guesser's odds.
const (
	totpPeriod = 30 * time.Second
	totpSkew   = 1
	totpDigits = 6
)

// Kinds of sealed secrets: those the directory keeps, and the pending enrolment that the
// session store keeps. The kind is authenticated with the blob.
const (
	kindTOTP        = "totp"
	kindTOTPPending = "totp-pending"
	kindWebAuthn    = "webauthn"
)

// totpRecord is what the directory keeps (sealed) for an enrolled user.
type totpRecord struct {
	Secret     string    `json:"secret"` // base32, as the authenticator app holds it
	EnrolledAt time.Time `json:"enrolled_at"`
}

// pendingTOTP is an enrolment shown but not yet confirmed, kept (sealed) in the session store
// for one session.
type pendingTOTP struct {
	URL string `json:"url"` // otpauth://… with the secret; the QR code encodes it
}

func (p pendingTOTP) key() (*otp.Key, error) { return otp.NewKeyFromURL(p.URL) }

// newTOTPKey makes a fresh 160-bit secret for the account.
func newTOTPKey(issuer, account string, rand io.Reader) (*otp.Key, error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: uint(totpPeriod / time.Second),
		SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand,
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: generate TOTP secret: %w", err)
	}
	return k, nil
}

// wellFormedCode reports whether code is exactly six ASCII digits. The library trims spaces
// before comparing, so " 123456" would pass it: the format is checked here first.
func wellFormedCode(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// matchStep returns the time step at which code is valid for secret, within ±totpSkew steps
// of now. The library's ValidateCustom checks one step at a time here (Skew 0 at each of the
// three instants), because the replay guard needs to know which step matched.
func matchStep(secret, code string, now time.Time) (step int64, ok bool, err error) {
	if !wellFormedCode(code) {
		return 0, false, nil
	}
	opts := totp.ValidateOpts{Period: uint(totpPeriod / time.Second), Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for _, off := range []int64{0, -1, 1} {
		at := now.Add(time.Duration(off) * totpPeriod)
		valid, err := totp.ValidateCustom(code, secret, at, opts)
		if err != nil {
			return 0, false, fmt.Errorf("mfa: validate TOTP: %w", err)
		}
		if valid {
			return at.Unix() / int64(totpPeriod/time.Second), true, nil
		}
	}
	return 0, false, nil
}

// replayTTL keeps a claimed step until no clock within the skew can accept it any more, plus
// a margin for clocks of replicas that disagree a little.
const replayTTL = (2*totpSkew+2)*totpPeriod + 30*time.Second

func (h *Handler) loadTOTP(userID string, blob []byte) (totpRecord, bool, error) {
	plain, current, err := h.seal.open(userID, kindTOTP, blob)
	if err != nil {
		return totpRecord{}, false, err
	}
	var rec totpRecord
	if err := json.Unmarshal(plain, &rec); err != nil || rec.Secret == "" {
		return totpRecord{}, false, fmt.Errorf("mfa: damaged TOTP record for %s", userID)
	}
	return rec, current, nil
}
