package proxy_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/tollgate/tollgate/examples/assertion"
)

func TestUpstreamCanVerifyTheIdentityAssertion(t *testing.T) {
	e := newEnv(t, envOpts{})
	c, _ := e.login(t, "accountant", "/")
	spoofed := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	r := do(t, c, "GET", e.gateURL+"/reports", http.Header{"X-Tollgate-Assertion": {spoofed}}, nil)
	got := e.app.got(r)
	if r.StatusCode != http.StatusOK || got == nil {
		t.Fatalf("positive control: %d", r.StatusCode)
	}
	tok := got.Header.Values("X-Tollgate-Assertion")
	if len(tok) != 1 || tok[0] == spoofed {
		t.Fatalf("app received assertions %q", tok)
	}
	v := &assertion.Verifier{JWKSURL: e.gateURL + "/_tollgate/jwks.json", Issuer: e.gateURL, Audience: e.upstreamURL}
	claims, err := v.Verify(context.Background(), tok[0])
	if err != nil {
		t.Fatalf("the app cannot verify the gate's assertion: %v", err)
	}
	if claims.Email != "accountant@example.com" || !slices.Equal(claims.Roles, []string{"accountant"}) || !claims.MFA || claims.ID == "" {
		t.Fatalf("claims = %+v", claims)
	}
	// What the verifier must refuse: a forged token, a token for another audience, a tampered one.
	for name, bad := range map[string]string{
		"alg none":  spoofed,
		"garbage":   "not.a.jwt",
		"empty":     "",
		"tampered":  tok[0][:len(tok[0])-4] + "AAAA",
		"truncated": tok[0][:len(tok[0])/2],
	} {
		if _, err := v.Verify(context.Background(), bad); err == nil {
			t.Errorf("%s assertion verified", name)
		}
	}
	other := &assertion.Verifier{JWKSURL: e.gateURL + "/_tollgate/jwks.json", Issuer: e.gateURL, Audience: "https://other.example"}
	if _, err := other.Verify(context.Background(), tok[0]); err == nil {
		t.Error("an assertion for another audience verified")
	}
}
