package directory

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func testSecrets(t *testing.T, h harness) {
	ctx := t.Context()
	ann := mustCreate(t, h, User{Email: "ann@billing.example", Status: StatusActive})
	bob := mustCreate(t, h, User{Email: "bob@billing.example", Status: StatusActive})
	blob := []byte{0, 1, 2, 0xff, 'x'} // not text: NUL and high bytes must survive
	for _, p := range []struct {
		user, kind string
		data       []byte
	}{{ann.ID, "totp", []byte("old")}, {ann.ID, "totp", blob}, {ann.ID, "webauthn", []byte("w")}, {bob.ID, "totp", []byte("bob")}} {
		if err := h.PutSecret(ctx, p.user, p.kind, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := h.GetSecret(ctx, ann.ID, "totp"); err != nil || !bytes.Equal(got, blob) {
		t.Errorf("GetSecret = %x, %v; want the replacement %x", got, err, blob)
	}
	_, err := h.GetSecret(ctx, ann.ID, "sms")
	wantErr(t, "unknown kind", err, ErrNotFound)
	wantErr(t, "put for unknown user", h.PutSecret(ctx, "usr_nobody", "totp", blob), ErrNotFound)
	wantErr(t, "put empty", h.PutSecret(ctx, ann.ID, "totp", nil), ErrInvalid)
	wantErr(t, "put bad kind", h.PutSecret(ctx, ann.ID, "t o t p", blob), ErrInvalid)

	if err := update(h, ann.ID, func(u *User) { u.MFAEnrolled = true }); err != nil {
		t.Fatal(err)
	}
	if err := h.PutRecoveryCodes(ctx, ann.ID, []string{"h1", "h2"}); err != nil {
		t.Fatal(err)
	}
	if err := h.DeleteSecrets(ctx, ann.ID); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"totp", "webauthn"} {
		_, err := h.GetSecret(ctx, ann.ID, kind)
		wantErr(t, "after reset: "+kind, err, ErrNotFound)
	}
	if ok, err := h.UseRecoveryCode(ctx, ann.ID, "h1"); err != nil || ok {
		t.Errorf("recovery code after reset = %v, %v; want gone", ok, err)
	}
	if u := mustGet(t, h, ann.ID); u.MFAEnrolled {
		t.Error("still MFA-enrolled after reset")
	}
	if got, err := h.GetSecret(ctx, bob.ID, "totp"); err != nil || string(got) != "bob" {
		t.Errorf("bob's secret after ann's reset = %q, %v", got, err)
	}
	wantErr(t, "reset unknown user", h.DeleteSecrets(ctx, "usr_nobody"), ErrNotFound)
}

func testRecoveryCodes(t *testing.T, h harness) {
	ctx := t.Context()
	ann := mustCreate(t, h, User{Email: "ann@billing.example"})
	bob := mustCreate(t, h, User{Email: "bob@billing.example"})
	if err := h.PutRecoveryCodes(ctx, ann.ID, []string{"h1", "h2", "h3", "h2"}); err != nil {
		t.Fatal(err)
	}
	use := func(user, hash string) bool {
		t.Helper()
		ok, err := h.UseRecoveryCode(ctx, user, hash)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if use(bob.ID, "h1") {
		t.Error("bob used ann's code")
	}
	if !use(ann.ID, "h1") {
		t.Error("first use refused")
	}
	if use(ann.ID, "h1") {
		t.Error("second use accepted")
	}
	if use(ann.ID, "h9") {
		t.Error("unknown code accepted")
	}
	// New codes replace the old ones entirely.
	if err := h.PutRecoveryCodes(ctx, ann.ID, []string{"n1"}); err != nil {
		t.Fatal(err)
	}
	if use(ann.ID, "h2") {
		t.Error("a replaced code was accepted")
	}
	errs := race(10, func(int) error {
		ok, err := h.UseRecoveryCode(context.Background(), ann.ID, "n1")
		if err != nil {
			return err
		}
		if !ok {
			return errRefused
		}
		return nil
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, errRefused):
		default:
			t.Fatal(err)
		}
	}
	if wins != 1 {
		t.Errorf("%d concurrent uses of one code succeeded; want 1", wins)
	}
	wantErr(t, "codes for unknown user", h.PutRecoveryCodes(ctx, "usr_nobody", []string{"x"}), ErrNotFound)
	wantErr(t, "empty hash", h.PutRecoveryCodes(ctx, ann.ID, []string{""}), ErrInvalid)
}

var errRefused = errors.New("refused")
