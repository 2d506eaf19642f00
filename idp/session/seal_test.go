package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTokenAndID(t *testing.T) {
	r := newRules(Options{})
	seen := map[string]bool{}
	for range 100 {
		tok, err := newToken(r.rand)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tokenEncoding.DecodeString(tok)
		if err != nil || len(b) != 32 || !validToken(tok) {
			t.Fatalf("token %q: %d bytes, %v", tok, len(b), err)
		}
		id := sessionID(tok)
		if !validID(id) || strings.Contains(id, tok) || seen[id] {
			t.Fatalf("id %q for %q is malformed, contains the token or repeats", id, tok)
		}
		seen[id] = true
		// The domain prefix keeps the ID from being a plain hash of the token.
		plain := sha256.Sum256([]byte(tok))
		if id == hex.EncodeToString(plain[:]) {
			t.Fatal("session id is an unprefixed hash of the token")
		}
	}
}

func TestTokenWithoutRandomnessFails(t *testing.T) {
	r := newRules(Options{Rand: iotest.ErrReader(errors.New("no entropy"))})
	_, _, _, err := r.begin(sample(alice))
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("begin without randomness = %v, want an error", err)
	}
}

func TestValidTokenRejectsNonCanonical(t *testing.T) {
	tok, err := newToken(newRules(Options{}).rand)
	if err != nil {
		t.Fatal(err)
	}
	// The last character carries two unused bits; setting one is a second spelling of the
	// same bytes.
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	other := tok[:len(tok)-1] + string(alphabet[last^1])
	if validToken(other) {
		t.Errorf("non-canonical spelling %q of %q accepted", other, tok)
	}
	if !validToken(tok) {
		t.Errorf("control: %q refused", tok)
	}
}

func TestSealBindsTokenAndID(t *testing.T) {
	r := newRules(Options{})
	tok, _ := newToken(r.rand)
	other, _ := newToken(r.rand)
	id := sessionID(tok)
	in := sample(alice)
	sealed, err := seal(r.rand, tok, id, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{in.Identity.Email, in.RefreshToken, tok} {
		if bytes.Contains(sealed, []byte(secret)) {
			t.Fatalf("sealed bytes contain %q", secret)
		}
	}
	got, err := unseal(tok, id, sealed)
	if err != nil {
		t.Fatalf("control: %v", err)
	}
	in.ID = id
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("unseal (-want +got):\n%s", diff)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, c := range map[string]struct {
		tok, id string
		sealed  []byte
	}{
		"other token": {other, id, sealed},
		"other id":    {tok, sessionID(other), sealed},
		"flipped bit": {tok, id, tampered},
		"truncated":   {tok, id, sealed[:20]},
		"empty":       {tok, id, nil},
	} {
		if _, err := unseal(c.tok, c.id, c.sealed); !errors.Is(err, errSealed) {
			t.Errorf("%s: unseal = %v, want errSealed", name, err)
		}
	}
	again, _ := seal(r.rand, tok, id, sample(alice))
	if bytes.Equal(again, sealed) {
		t.Error("two seals of the same session are identical: nonce reused")
	}
}

func TestRulesDefaultsAndTouchInterval(t *testing.T) {
	r := newRules(Options{})
	if r.idle != DefaultIdle || r.absolute != DefaultAbsolute || r.now == nil || r.rand == nil {
		t.Errorf("defaults not applied: %+v", r)
	}
	for _, c := range []struct{ idle, want time.Duration }{
		{5 * time.Minute, 30 * time.Second},
		{10 * time.Minute, time.Minute},
		{8 * time.Hour, time.Minute},
	} {
		if got := newRules(Options{Idle: c.idle}).touchEvery(); got != c.want {
			t.Errorf("touchEvery for Idle %v = %v, want %v", c.idle, got, c.want)
		}
	}
}

// The plain record fields can be edited by anyone who can write to the store; the sealed
// copy decides.
func TestOpenChecksSealedFields(t *testing.T) {
	clock := newFakeClock()
	r := newRules(Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now})
	tok, s, rec, err := r.begin(sample(alice))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.open(tok, s.ID, rec, clock.Now()); err != nil {
		t.Fatalf("control: %v", err)
	}
	far := clock.Now().Add(1000 * time.Hour)
	extended := rec
	extended.Created, extended.Expires, extended.LastSeen = far, far, far
	if _, err := r.open(tok, s.ID, extended, clock.Now().Add(suiteAbsolute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("open with extended plain expiry after the sealed one = %v, want ErrNotFound", err)
	}
	moved := rec
	moved.User = bob.UserKey()
	if _, err := r.open(tok, s.ID, moved, clock.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("open with the record moved to another user = %v, want ErrNotFound", err)
	}
	// A shortened Absolute applies to sessions created before the change.
	short := newRules(Options{Idle: suiteIdle, Absolute: 5 * time.Minute, Now: clock.Now})
	if _, err := short.open(tok, s.ID, rec, clock.Now().Add(5*time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("open after a shortened Absolute = %v, want ErrNotFound", err)
	}
}
