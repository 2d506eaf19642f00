package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// tokenBytes is the entropy of a browser token: 256 bits, so it cannot be guessed and its
// hash cannot be inverted.
const tokenBytes = 32

// tokenEncoding is strict so that exactly one spelling of each token exists; a second
// spelling would hash to a different ID and merely miss, but one form is easier to reason about.
var tokenEncoding = base64.RawURLEncoding.Strict()

// errSealed is what opening a sealed entry reports for every kind of mismatch; callers turn it
// into ErrNotFound, since a wrong key and a damaged entry both mean "no usable session".
var errSealed = errors.New("session: sealed entry does not open")

func newToken(rnd io.Reader) (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", fmt.Errorf("session: random token: %w", err)
	}
	return tokenEncoding.EncodeToString(b), nil
}

// validToken reports whether tok could have been issued by newToken. Anything else is
// refused before it reaches the store, so odd input never becomes a key.
func validToken(tok string) bool {
	if len(tok) != tokenEncoding.EncodedLen(tokenBytes) {
		return false
	}
	b, err := tokenEncoding.DecodeString(tok)
	return err == nil && len(b) == tokenBytes
}

// sessionID is the store key for a token. The domain prefix keeps it apart from any other
// hash of the same token, such as the sealing key.
func sessionID(tok string) string {
	sum := sha256.Sum256([]byte("tollgate-session-id\x00" + tok))
	return hex.EncodeToString(sum[:])
}

// validID reports whether id has the shape sessionID produces; admin calls pass IDs in from
// outside.
func validID(id string) bool {
	if len(id) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// sealingAEAD derives the per-session cipher from the token, so only the token holder can
// read what the store keeps.
func sealingAEAD(tok string) (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, []byte(tok))
	mac.Write([]byte("tollgate-session-key v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("session: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session: cipher: %w", err)
	}
	return aead, nil
}

// seal encrypts s for the holder of tok. The ID is bound as additional data so that an
// entry copied under another ID does not open.
func seal(rnd io.Reader, tok, id string, s Session) ([]byte, error) {
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	aead, err := sealingAEAD(tok)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("session: random nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, []byte(id)), nil
}

// unseal reverses seal; any failure is errSealed.
func unseal(tok, id string, sealed []byte) (Session, error) {
	aead, err := sealingAEAD(tok)
	if err != nil {
		return Session{}, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return Session{}, errSealed
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return Session{}, errSealed
	}
	var s Session
	if err := json.Unmarshal(plain, &s); err != nil {
		return Session{}, errSealed
	}
	s.ID = id
	return s, nil
}
