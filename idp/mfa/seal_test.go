package mfa

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, keyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSealer(t *testing.T, keys ...[]byte) *sealer {
	t.Helper()
	s, err := newSealer(keys, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	k := randomKey(t)
	s := mustSealer(t, k)
	secret := []byte(`{"secret":"JBSWY3DPEHPK3PXPJBSWY3DP"}`)
	blob, err := s.seal("usr_a", kindTOTP, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("JBSWY3DP")) {
		t.Fatal("the sealed blob holds the secret in clear")
	}
	again, _ := s.seal("usr_a", kindTOTP, secret)
	if bytes.Equal(blob, again) {
		t.Error("two seals of the same secret are equal: the nonce is not random")
	}
	got, current, err := s.open("usr_a", kindTOTP, blob)
	if err != nil || !current || !bytes.Equal(got, secret) {
		t.Fatalf("open = %q, %v, %v", got, current, err)
	}
	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1
	for name, c := range map[string]struct {
		s          *sealer
		user, kind string
		blob       []byte
	}{
		"another user":  {s, "usr_b", kindTOTP, blob},
		"another kind":  {s, "usr_a", kindWebAuthn, blob},
		"another key":   {mustSealer(t, randomKey(t)), "usr_a", kindTOTP, blob},
		"tampered":      {s, "usr_a", kindTOTP, tampered},
		"truncated":     {s, "usr_a", kindTOTP, blob[:20]},
		"empty":         {s, "usr_a", kindTOTP, nil},
		"other version": {s, "usr_a", kindTOTP, append([]byte{2}, blob[1:]...)},
	} {
		if _, _, err := c.s.open(c.user, c.kind, c.blob); !errors.Is(err, errOpen) {
			t.Errorf("%s: open = %v, want errOpen", name, err)
		}
	}
}

func TestSealRotation(t *testing.T) {
	oldKey, newKey := randomKey(t), randomKey(t)
	blob, err := mustSealer(t, oldKey).seal("usr_a", kindTOTP, []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustSealer(t, newKey, oldKey)
	got, current, err := rotated.open("usr_a", kindTOTP, blob)
	if err != nil || current || string(got) != "s" {
		t.Fatalf("open with [new, old] = %q, current %v, %v; want opened by an old key", got, current, err)
	}
	if _, _, err := mustSealer(t, newKey).open("usr_a", kindTOTP, blob); !errors.Is(err, errOpen) {
		t.Errorf("the new key alone opened the old blob: %v", err)
	}
	fresh, _ := rotated.seal("usr_a", kindTOTP, []byte("s"))
	if _, current, err := mustSealer(t, newKey).open("usr_a", kindTOTP, fresh); err != nil || !current {
		t.Errorf("a blob sealed after rotation does not open with the new key alone: %v", err)
	}
	// Recovery hashes: one per key, current first, and different keys give different hashes.
	hs := rotated.recoveryHashes("usr_a", "abcdefghjkmn")
	if len(hs) != 2 || hs[0] == hs[1] || hs[1] != mustSealer(t, oldKey).recoveryHashes("usr_a", "abcdefghjkmn")[0] {
		t.Errorf("recovery hashes after rotation = %q", hs)
	}
	if rotated.recoveryHashes("usr_b", "abcdefghjkmn")[0] == hs[0] {
		t.Error("two users' hashes of one code are equal")
	}
}

func TestParseKey(t *testing.T) {
	k := randomKey(t)
	for name, in := range map[string]string{
		"hex":        hex.EncodeToString(k),
		"hex upper":  strings.ToUpper(hex.EncodeToString(k)),
		"base64":     base64.StdEncoding.EncodeToString(k) + "\n",
		"raw base64": base64.RawStdEncoding.EncodeToString(k),
		"base64url":  base64.RawURLEncoding.EncodeToString(k),
	} {
		got, err := parseKey(in)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("%s: parseKey = %x, %v", name, got, err)
		}
	}
	short := base64.StdEncoding.EncodeToString(k[:16])
	for name, in := range map[string]string{
		"empty":    "",
		"16 bytes": short,
		"33 bytes": base64.StdEncoding.EncodeToString(append(k, 1)),
		"text":     "correct horse battery staple correct horse battery",
		"hex 31":   hex.EncodeToString(k[:31]),
	} {
		_, err := parseKey(in)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if in != "" && strings.Contains(err.Error(), in) {
			t.Errorf("%s: the error repeats the key material: %v", name, err)
		}
	}
}
