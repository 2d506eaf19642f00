package mfa

import (
	"bytes"
	"crypto/rand"
	"regexp"
	"testing"
	"testing/iotest"
)

func TestRandomRecoveryCodes(t *testing.T) {
	shape := regexp.MustCompile(`^[abcdefghjkmnpqrstuvwxyz23456789]{4}-[abcdefghjkmnpqrstuvwxyz23456789]{4}-[abcdefghjkmnpqrstuvwxyz23456789]{4}$`)
	seen := map[string]bool{}
	for range 200 {
		c, err := randomCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(c) {
			t.Fatalf("code %q has the wrong shape", c)
		}
		if seen[c] {
			t.Fatalf("code %q came twice", c)
		}
		seen[c] = true
		if normalizeRecovery(c) == "" {
			t.Fatalf("a generated code %q does not normalise", c)
		}
	}
	// Bytes at or above 248 are skipped, so every character is equally likely.
	c, err := randomCode(bytes.NewReader(append(bytes.Repeat([]byte{255, 248}, 3), make([]byte, 12)...)))
	if err != nil || c != "aaaa-aaaa-aaaa" {
		t.Errorf("randomCode with rejected bytes first = %q, %v", c, err)
	}
	if _, err := randomCode(iotest.ErrReader(iotest.ErrTimeout)); err == nil {
		t.Error("randomCode without randomness succeeded")
	}
}

func TestNormalizeRecovery(t *testing.T) {
	for in, want := range map[string]string{
		"abcd-efgh-jkmn":     "abcdefghjkmn",
		"ABCD-EFGH-JKMN":     "abcdefghjkmn",
		" abcd efgh jkmn ":   "abcdefghjkmn",
		"abcdefghjkmn":       "abcdefghjkmn",
		"abcd-efgh-jkm":      "",
		"abcd-efgh-jkmnp":    "",
		"abcd-efgh-jkm0":     "", // 0 is not in the alphabet
		"abcd-efgh-jkmi":     "",
		"abcd-efgh-jkm\x00n": "",
		"":                   "",
		"ａbcd-efgh-jkmn":     "",
	} {
		if got := normalizeRecovery(in); got != want {
			t.Errorf("normalizeRecovery(%q) = %q, want %q", in, got, want)
		}
	}
}
