package directory

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func testInvitation(t *testing.T, h harness) {
	ctx := t.Context()
	ann := mustCreate(t, h, User{Email: "ann@billing.example", Roles: []string{"support"}, InvitedBy: "usr_boss"})
	token, err := h.CreateInvitation(ctx, ann.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, invitationPrefix) || len(token) != len(invitationPrefix)+43 {
		t.Errorf("token %q: want inv_ and 43 base64url characters (256 bits)", token)
	}
	raw := rawTables(t, h.SQLStore)
	if strings.Contains(raw, token) || strings.Contains(raw, strings.TrimPrefix(token, invitationPrefix)) {
		t.Error("the database holds the invitation token")
	}
	if !strings.Contains(raw, hashSecret(token)) {
		t.Error("the database does not hold the token's hash: the raw check above proves nothing")
	}
	u, err := h.RedeemInvitation(ctx, token, "  ANN@Billing.Example")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != ann.ID || u.Status != StatusActive {
		t.Errorf("redeemed user = %+v; want ann, active", u)
	}
	if got := mustGet(t, h, ann.ID); got.Status != StatusActive {
		t.Errorf("stored status %s, want active", got.Status)
	}
	_, err = h.RedeemInvitation(ctx, token, "ann@billing.example")
	wantErr(t, "second redemption", err, ErrNotFound)
	_, err = h.CreateInvitation(ctx, ann.ID, time.Hour)
	wantErr(t, "invite an active user", err, ErrConflict)
}

func testInvitationRules(t *testing.T, h harness) {
	ctx := t.Context()
	invite := func(email string) (User, string) {
		u := mustCreate(t, h, User{Email: email})
		tok, err := h.CreateInvitation(ctx, u.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return u, tok
	}

	// Wrong email: refused, and the invitation stays for the right person.
	_, tok := invite("ann@billing.example")
	_, err := h.RedeemInvitation(ctx, tok, "mallory@billing.example")
	wantErr(t, "wrong email", err, ErrEmailMismatch)
	if _, err := h.RedeemInvitation(ctx, tok, "ann@billing.example"); err != nil {
		t.Errorf("right email after a wrong one: %v", err)
	}

	// Expiry: usable until just before the deadline, not at it.
	bob, tok := invite("bob@billing.example")
	h.clock.Advance(time.Hour)
	_, err = h.RedeemInvitation(ctx, tok, "bob@billing.example")
	wantErr(t, "expired", err, ErrExpired)
	tok2, err := h.CreateInvitation(ctx, bob.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour - time.Microsecond)
	if _, err := h.RedeemInvitation(ctx, tok2, "bob@billing.example"); err != nil {
		t.Errorf("just before expiry: %v", err)
	}

	// A user disabled after the invitation was sent cannot be activated by it.
	cid, tok := invite("cid@billing.example")
	if err := update(h, cid.ID, func(u *User) { u.Status = StatusDisabled }); err != nil {
		t.Fatal(err)
	}
	_, err = h.RedeemInvitation(ctx, tok, "cid@billing.example")
	wantErr(t, "disabled user", err, ErrNotFound)
	if got := mustGet(t, h, cid.ID); got.Status != StatusDisabled {
		t.Errorf("disabled user became %s", got.Status)
	}

	// A new invitation replaces the earlier one.
	dan, old := invite("dan@billing.example")
	fresh, err := h.CreateInvitation(ctx, dan.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.RedeemInvitation(ctx, old, "dan@billing.example")
	wantErr(t, "replaced invitation", err, ErrNotFound)
	if _, err := h.RedeemInvitation(ctx, fresh, "dan@billing.example"); err != nil {
		t.Errorf("latest invitation: %v", err)
	}

	_, err = h.RedeemInvitation(ctx, "inv_unknown", "dan@billing.example")
	wantErr(t, "unknown token", err, ErrNotFound)
	_, err = h.RedeemInvitation(ctx, "", "dan@billing.example")
	wantErr(t, "empty token", err, ErrNotFound)
	_, err = h.CreateInvitation(ctx, "usr_nobody", time.Hour)
	wantErr(t, "unknown user", err, ErrNotFound)
	eve := mustCreate(t, h, User{Email: "eve@billing.example"})
	_, err = h.CreateInvitation(ctx, eve.ID, 0)
	wantErr(t, "no lifetime", err, ErrInvalid)
}

func testInvitationRace(t *testing.T, h harness) {
	ann := mustCreate(t, h, User{Email: "ann@billing.example"})
	tok, err := h.CreateInvitation(t.Context(), ann.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	errs := race(20, func(int) error {
		_, err := h.RedeemInvitation(context.Background(), tok, "ann@billing.example")
		return err
	})
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrNotFound):
			t.Errorf("a losing redemption failed with %v; want ErrNotFound", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d redemptions succeeded; want exactly 1", wins)
	}
}
