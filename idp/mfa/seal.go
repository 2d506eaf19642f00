package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// sealVersion is the first byte of every sealed blob, so that a later format can be told apart.
const sealVersion = 1

// errOpen means no configured key opens a blob: a wrong key, or a blob copied from another
// user or kind (the user id and kind are authenticated with it).
var errOpen = errors.New("mfa: the sealed secret cannot be opened with the configured keys")

// sealer encrypts second-factor secrets with AES-256-GCM. The first key seals; every key opens.
// The user id and the kind are additional data, so that a blob moved to another user or kind
// in the database does not open.
type sealer struct {
	aeads []cipher.AEAD
	// recovery holds per-key HMAC keys for recovery-code hashes, derived so that the sealing
	// key itself is used for one purpose only.
	recovery [][]byte
	rand     io.Reader
}

func newSealer(keys [][]byte, rand io.Reader) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("mfa: no key")
	}
	s := &sealer{rand: rand}
	for _, k := range keys {
		if len(k) != keyLen {
			return nil, fmt.Errorf("mfa: a key has %d bytes, want %d", len(k), keyLen)
		}
		block, err := aes.NewCipher(derive(k, "tollgate mfa seal v1"))
		if err != nil {
			return nil, fmt.Errorf("mfa: key: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("mfa: key: %w", err)
		}
		s.aeads = append(s.aeads, aead)
		s.recovery = append(s.recovery, derive(k, "tollgate mfa recovery v1"))
	}
	return s, nil
}

// derive gives a 32-byte subkey of k for one purpose.
func derive(k []byte, purpose string) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func additionalData(userID, kind string) []byte {
	return []byte("tollgate/mfa\x00" + userID + "\x00" + kind)
}

// seal encrypts plain for the user and kind with the current key.
func (s *sealer) seal(userID, kind string, plain []byte) ([]byte, error) {
	aead := s.aeads[0]
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, fmt.Errorf("mfa: read randomness: %w", err)
	}
	out := append([]byte{sealVersion}, nonce...)
	return aead.Seal(out, nonce, plain, additionalData(userID, kind)), nil
}

// open decrypts a blob sealed for the user and kind. current is false when an old key opened
// it, so that the caller seals it again with the current key.
func (s *sealer) open(userID, kind string, blob []byte) (plain []byte, current bool, err error) {
	if len(blob) < 1 || blob[0] != sealVersion {
		return nil, false, errOpen
	}
	for i, aead := range s.aeads {
		if len(blob) < 1+aead.NonceSize()+aead.Overhead() {
			return nil, false, errOpen
		}
		nonce, ct := blob[1:1+aead.NonceSize()], blob[1+aead.NonceSize():]
		if p, err := aead.Open(nil, nonce, ct, additionalData(userID, kind)); err == nil {
			return p, i == 0, nil
		}
	}
	return nil, false, errOpen
}

// recoveryHashes returns the stored forms of a normalised recovery code under every key,
// current first. HMAC rather than a plain hash: a copy of the database alone does not allow
// an offline search of the 60-bit code space, and the user id in the message keeps one
// user's hash from matching another's.
func (s *sealer) recoveryHashes(userID, code string) []string {
	out := make([]string, len(s.recovery))
	for i, k := range s.recovery {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(userID + "\x00" + code))
		out[i] = hex.EncodeToString(m.Sum(nil))
	}
	return out
}
