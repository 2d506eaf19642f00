package directory

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var tokenSecret = regexp.MustCompile(`^tgt_[A-Za-z0-9_-]{43}$`)

func testAPITokens(t *testing.T, h harness) {
	ctx := t.Context()
	secret, tok, err := h.CreateAPIToken(ctx, APIToken{Name: "billing export", Scopes: []string{"users:read", "audit:read", "users:read"}, CreatedBy: "usr_boss"})
	if err != nil {
		t.Fatal(err)
	}
	want := APIToken{ID: tok.ID, Name: "billing export", Scopes: []string{"audit:read", "users:read"},
		CreatedAt: stamp(suiteStart), CreatedBy: "usr_boss"}
	if diff := cmp.Diff(want, tok); diff != "" {
		t.Errorf("CreateAPIToken (-want +got):\n%s", diff)
	}
	if !tokenSecret.MatchString(secret) {
		t.Errorf("secret %q: want tgt_ and 256 bits base64url", secret)
	}
	raw := rawTables(t, h.SQLStore)
	if strings.Contains(raw, secret) || strings.Contains(raw, strings.TrimPrefix(secret, apiTokenPrefix)) {
		t.Error("the database holds the token's secret")
	}
	if !strings.Contains(raw, hashSecret(secret)) {
		t.Error("the database does not hold the secret's hash: the raw check above proves nothing")
	}
	got, err := h.LookupAPIToken(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LookupAPIToken (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "tgt_", secret + "x", secret[:len(secret)-1], strings.TrimPrefix(secret, "tgt_"), hashSecret(secret)} {
		_, err := h.LookupAPIToken(ctx, bad)
		wantErr(t, "LookupAPIToken("+bad+")", err, ErrNotFound)
	}

	h.clock.Advance(time.Second) // listed oldest first
	otherSecret, other, err := h.CreateAPIToken(ctx, APIToken{Name: "ci", Scopes: []string{"users:write"}})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	if err := h.RevokeAPIToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.LookupAPIToken(ctx, secret)
	wantErr(t, "revoked token", err, ErrNotFound)
	if _, err := h.LookupAPIToken(ctx, otherSecret); err != nil {
		t.Errorf("the other token after a revocation: %v", err)
	}
	h.clock.Advance(time.Minute)
	if err := h.RevokeAPIToken(ctx, tok.ID); err != nil {
		t.Errorf("revoke twice: %v", err)
	}
	wantErr(t, "revoke unknown", h.RevokeAPIToken(ctx, "tok_nobody"), ErrNotFound)

	list, err := h.ListAPITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want.RevokedAt = stamp(suiteStart.Add(time.Second + time.Minute)) // the first revocation counts
	if diff := cmp.Diff([]APIToken{want, other}, list); diff != "" {
		t.Errorf("ListAPITokens (-want +got):\n%s", diff)
	}

	for name, bad := range map[string]APIToken{
		"no name":        {Scopes: []string{"x"}},
		"no scope":       {Name: "n"},
		"bad scope":      {Name: "n", Scopes: []string{"users read"}},
		"past expiry":    {Name: "n", Scopes: []string{"x"}, ExpiresAt: suiteStart},
		"name with a LF": {Name: "n\nx", Scopes: []string{"x"}},
	} {
		_, _, err := h.CreateAPIToken(ctx, bad)
		wantErr(t, name, err, ErrInvalid)
	}
}

func testAPITokenExpiry(t *testing.T, h harness) {
	ctx := t.Context()
	secret, tok, err := h.CreateAPIToken(ctx, APIToken{Name: "short", Scopes: []string{"users:read"}, ExpiresAt: suiteStart.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !tok.ExpiresAt.Equal(stamp(suiteStart.Add(time.Hour))) {
		t.Errorf("ExpiresAt = %v", tok.ExpiresAt)
	}
	h.clock.Advance(time.Hour - time.Microsecond)
	if _, err := h.LookupAPIToken(ctx, secret); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	h.clock.Advance(time.Microsecond)
	_, err = h.LookupAPIToken(ctx, secret)
	wantErr(t, "at expiry", err, ErrNotFound)
}
