package devidp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp/devidp"

	"github.com/tollgate/tollgate/internal/testclock"
)

func TestLogoutRedirectsOnlyToRegisteredURIs(t *testing.T) {
	clock := testclock.At(time.Now())
	h := newHarness(t, func(c *devidp.Config) { c.Now = clock.Now })
	a := newAuthRequest()
	q := h.login(t, a, "admin", "demo")
	tok, _, _ := h.exchange(t, t.Context(), q.Get("code"), a.verifier)
	hint := tok.Extra("id_token").(string)
	signedOut := h.cb.srv.URL + "/signed-out"

	// Another provider that happens to share the signing key is still another issuer.
	foreign := newHarness(t)
	fa := newAuthRequest()
	fq := foreign.login(t, fa, "admin", "demo")
	foreignTok, _, _ := foreign.exchange(t, t.Context(), fq.Get("code"), fa.verifier)
	foreignHint := foreignTok.Extra("id_token").(string)

	tests := []struct {
		name     string
		params   url.Values
		status   int
		location string
	}{
		{"no parameters", url.Values{}, http.StatusOK, ""},
		{"registered URI with client_id", url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {signedOut}, "state": {"s1"}},
			http.StatusFound, signedOut + "?state=s1"},
		{"registered URI with id_token_hint", url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {signedOut}},
			http.StatusFound, signedOut},
		{"unregistered URI", url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {"https://evil.example/"}}, http.StatusOK, ""},
		{"login redirect URI is not a logout URI", url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {h.callback}}, http.StatusOK, ""},
		{"URI with no client named", url.Values{"post_logout_redirect_uri": {signedOut}}, http.StatusOK, ""},
		{"URI of another client", url.Values{"client_id": {otherID}, "post_logout_redirect_uri": {signedOut}}, http.StatusOK, ""},
		{"tampered id_token_hint", url.Values{"id_token_hint": {tamper(hint)}, "post_logout_redirect_uri": {signedOut}}, http.StatusBadRequest, ""},
		{"unsigned id_token_hint", url.Values{"id_token_hint": {unsigned(hint)}, "post_logout_redirect_uri": {signedOut}}, http.StatusBadRequest, ""},
		{"id_token_hint from another issuer", url.Values{"id_token_hint": {foreignHint}, "post_logout_redirect_uri": {signedOut}}, http.StatusBadRequest, ""},
		{"id_token_hint for another client", url.Values{"id_token_hint": {hint}, "client_id": {otherID}, "post_logout_redirect_uri": {signedOut}},
			http.StatusBadRequest, ""},
	}
	// The hint has expired by now; logout must still accept it.
	clock.Advance(time.Hour)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, noRedirects(), h.issuer+"/logout?"+tc.params.Encode())
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Fatalf("status %d Location %q; want %d %q", resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
			if tc.status == http.StatusOK && !strings.Contains(body, "signed out") {
				t.Errorf("page does not say signed out:\n%s", body)
			}
		})
	}
	if n := h.cb.hitCount(); n != 1 { // the login callback only
		t.Errorf("relying party contacted %d times", n)
	}
}

func TestLogoutWithHintRevokesThatLoginOnly(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	var toks [2]struct{ access, refresh, id string }
	for i := range toks {
		a := newAuthRequest()
		q := h.login(t, a, "manager", "demo")
		tok, _, _ := h.exchange(t, ctx, q.Get("code"), a.verifier)
		toks[i].access, toks[i].refresh, toks[i].id = tok.AccessToken, tok.RefreshToken, tok.Extra("id_token").(string)
	}
	resp, err := noRedirects().PostForm(h.issuer+"/logout", url.Values{"id_token_hint": {toks[0].id}})
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	for i, revoked := range []bool{true, false} {
		userinfoWant, refreshWant := http.StatusOK, http.StatusOK
		if revoked {
			userinfoWant, refreshWant = http.StatusUnauthorized, http.StatusBadRequest
		}
		if got := userinfoStatus(t, h, toks[i].access); got != userinfoWant {
			t.Errorf("login %d: userinfo %d, want %d", i, got, userinfoWant)
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {toks[i].refresh}}
		if got, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, clientID, clientSecret); got != refreshWant {
			t.Errorf("login %d: refresh %d %v, want %d", i, got, body, refreshWant)
		}
	}
}

// tamper changes the signature of a compact JWS.
func tamper(jws string) string {
	last := jws[len(jws)-2]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return jws[:len(jws)-2] + string(repl) + jws[len(jws)-1:]
}

// unsigned turns a JWS into an alg=none token with the same claims.
func unsigned(jws string) string {
	parts := strings.Split(jws, ".")
	return "eyJhbGciOiJub25lIn0." + parts[1] + "."
}
