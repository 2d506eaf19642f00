package directory

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// person sets up someone with something in every table.
func person(t *testing.T, h harness) (User, string) {
	t.Helper()
	ctx := t.Context()
	u := mustCreate(t, h, User{Email: "erasmus.unique@billing.example", Name: "Erasmus Uniquename",
		Roles: []string{"accountant"}, Status: StatusInvited, Owns: map[string][]string{"customers": {"77"}}})
	if _, err := h.CreateInvitation(ctx, u.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	tok, err := h.CreateInvitation(ctx, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.RedeemInvitation(ctx, tok, u.Email); err != nil {
		t.Fatal(err)
	}
	if err := h.BindIdentity(ctx, u.ID, "https://idp", "sub-erasmus"); err != nil {
		t.Fatal(err)
	}
	if err := h.PutSecret(ctx, u.ID, "totp", []byte("SEALED-TOTP-BYTES")); err != nil {
		t.Fatal(err)
	}
	if err := h.PutRecoveryCodes(ctx, u.ID, []string{"rc-hash-1", "rc-hash-2"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.CreateAPIToken(ctx, APIToken{Name: "nightly export", Scopes: []string{"users:read"}, CreatedBy: u.ID}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, h, User{Email: "invitee@billing.example", InvitedBy: u.ID})
	return mustGet(t, h, u.ID), tok
}

func testExportUser(t *testing.T, h harness) {
	u, _ := person(t, h)
	// Someone else's data must not appear in the export.
	other := mustCreate(t, h, User{Email: "other@billing.example"})
	if err := h.PutSecret(t.Context(), other.ID, "totp", []byte("OTHER")); err != nil {
		t.Fatal(err)
	}
	x, err := h.ExportUser(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.APITokens) != 1 {
		t.Fatalf("exported tokens %+v; want the one they created", x.APITokens)
	}
	t0 := stamp(suiteStart)
	t1 := stamp(suiteStart.Add(time.Minute))
	want := Export{
		User:          u,
		Secrets:       []ExportedSecret{{Kind: "totp", UpdatedAt: t1, Value: "present"}},
		RecoveryCodes: 2,
		// The first invitation was replaced by the second; the second was used.
		Invitations: []Invitation{{CreatedAt: t1, ExpiresAt: t1.Add(time.Hour), UsedAt: t1}},
		APITokens:   []APIToken{{ID: x.APITokens[0].ID, Name: "nightly export", Scopes: []string{"users:read"}, CreatedAt: t1, CreatedBy: u.ID}},
	}
	if diff := cmp.Diff(want, x); diff != "" {
		t.Errorf("ExportUser (-want +got):\n%s", diff)
	}
	if !u.CreatedAt.Equal(t0) || u.Issuer != "https://idp" || u.Status != StatusActive {
		t.Errorf("exported user = %+v", u)
	}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "SEALED") || strings.Contains(string(b), "U0VBTEVE") || strings.Contains(string(b), "rc-hash") {
		t.Errorf("the export holds second-factor material: %s", b)
	}
	_, err = h.ExportUser(t.Context(), "usr_nobody")
	wantErr(t, "export unknown", err, ErrNotFound)
}

func testEraseUser(t *testing.T, h harness) {
	ctx := t.Context()
	u, _ := person(t, h)
	keep := mustCreate(t, h, User{Email: "keep@billing.example", Name: "Kept Person"})
	traces := []string{u.ID, "erasmus", "Erasmus", "Uniquename", "sub-erasmus", "SEALED-TOTP", "rc-hash", "customers\":[\"77"}
	before := rawTables(t, h.SQLStore)
	for _, s := range traces {
		if !strings.Contains(before, s) {
			t.Fatalf("before erasure the tables do not hold %q: the check below would prove nothing", s)
		}
	}
	if err := h.EraseUser(ctx, u.ID, "pseudonym-7f3a"); err != nil {
		t.Fatal(err)
	}
	after := rawTables(t, h.SQLStore)
	for _, s := range traces {
		if strings.Contains(after, s) {
			t.Errorf("after erasure the tables still hold %q:\n%s", s, after)
		}
	}
	if n := strings.Count(after, "pseudonym-7f3a"); n != 2 {
		t.Errorf("the pseudonym replaces the inviter and the token creator: found %d times, want 2:\n%s", n, after)
	}
	if !strings.Contains(after, "keep@billing.example") || !strings.Contains(after, "Kept Person") {
		t.Error("erasure removed someone else")
	}
	if _, err := h.GetUser(ctx, u.ID); err == nil {
		t.Error("the erased user can still be read")
	}
	if err := h.EraseUser(ctx, keep.ID, "p"); err != nil {
		t.Errorf("erase another: %v", err)
	}
	wantErr(t, "erase unknown", h.EraseUser(ctx, u.ID, "p"), ErrNotFound)
	wantErr(t, "bad pseudonym", h.EraseUser(ctx, keep.ID, "a\nb"), ErrInvalid)
}
