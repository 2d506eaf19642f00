package devidp_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/idp/devidp"
)

func TestCodeFlowWithRealRelyingParty(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	a := newAuthRequest()
	before := time.Now().Truncate(time.Second)
	q := h.login(t, a, "admin", "demo")
	after := time.Now()
	if got := q.Get("iss"); got != h.issuer {
		t.Errorf("authorization response iss = %q, want %q (RFC 9207)", got, h.issuer)
	}
	tok, idt, c := h.exchange(t, ctx, q.Get("code"), a.verifier)

	if idt.Issuer != h.issuer || idt.Subject != devidp.DefaultSubject("admin") {
		t.Errorf("iss/sub = %q/%q, want %q/%q", idt.Issuer, idt.Subject, h.issuer, devidp.DefaultSubject("admin"))
	}
	if diff := cmp.Diff([]string{clientID}, idt.Audience); diff != "" {
		t.Errorf("aud (-want +got):\n%s", diff)
	}
	want := idClaims{
		Nonce:             a.nonce,
		AMR:               []string{"pwd", "mfa"},
		AZP:               clientID,
		Email:             "admin@example.com",
		EmailVerified:     true,
		Name:              "Ada Admin",
		PreferredUsername: "admin",
		Groups:            []string{"billing-administrator"},
	}
	if diff := cmp.Diff(want, c, cmpopts.IgnoreFields(idClaims{}, "AuthTime", "SID")); diff != "" {
		t.Errorf("ID token claims (-want +got):\n%s", diff)
	}
	if at := time.Unix(c.AuthTime, 0); at.Before(before) || at.After(after) {
		t.Errorf("auth_time = %v, want between %v and %v", at, before, after)
	}
	if c.SID == "" {
		t.Error("no sid claim")
	}
	if got := idt.Expiry.Sub(idt.IssuedAt); got != 5*time.Minute {
		t.Errorf("ID token lifetime = %v, want 5m", got)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.Before(time.Now()) {
		t.Errorf("token = type %q, refresh %q, expiry %v", tok.TokenType, tok.RefreshToken, tok.Expiry)
	}

	ui, err := h.rp.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var uc idClaims
	if err := ui.Claims(&uc); err != nil {
		t.Fatal(err)
	}
	if ui.Subject != idt.Subject || ui.Email != "admin@example.com" || !ui.EmailVerified ||
		uc.Name != "Ada Admin" || !cmp.Equal(uc.Groups, []string{"billing-administrator"}) {
		t.Errorf("userinfo = %+v / %+v", ui, uc)
	}

	// The ID token names the key it was signed with, and the JWKS publishes that key.
	header, err := base64.RawURLEncoding.DecodeString(strings.Split(tok.Extra("id_token").(string), ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(header, &hdr); err != nil {
		t.Fatal(err)
	}
	_, jwksBody := get(t, newBrowser(), h.issuer+"/jwks")
	if hdr.Alg != "RS256" || hdr.Kid == "" || !strings.Contains(jwksBody, `"kid":"`+hdr.Kid+`"`) {
		t.Errorf("ID token header %+v does not name a key in the JWKS %s", hdr, jwksBody)
	}
}

func TestUsernameIsCaseInsensitive(t *testing.T) {
	h := newHarness(t)
	a := newAuthRequest()
	q := h.login(t, a, "  Sales ", "demo")
	_, idt, c := h.exchange(t, t.Context(), q.Get("code"), a.verifier)
	if idt.Subject != devidp.DefaultSubject("sales") || c.PreferredUsername != "sales" {
		t.Errorf("sub/preferred_username = %q/%q, want the one account %q", idt.Subject, c.PreferredUsername, "sales")
	}
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	a := newAuthRequest()
	q := h.login(t, a, "manager", "demo")
	first, firstID, firstClaims := h.exchange(t, ctx, q.Get("code"), a.verifier)

	expired := *first
	expired.Expiry = time.Now().Add(-time.Minute)
	second, err := h.oauth.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Error("refresh did not rotate the tokens")
	}
	idt, c := h.verify(t, ctx, second)
	if c.Nonce != "" {
		t.Errorf("refreshed ID token carries nonce %q", c.Nonce)
	}
	if idt.Subject != firstID.Subject || c.AuthTime != firstClaims.AuthTime || !cmp.Equal(c.AMR, firstClaims.AMR) {
		t.Errorf("refreshed ID token sub/auth_time/amr = %q/%d/%v, want %q/%d/%v",
			idt.Subject, c.AuthTime, c.AMR, firstID.Subject, firstClaims.AuthTime, firstClaims.AMR)
	}
	if err := idt.VerifyAccessToken(second.AccessToken); err != nil {
		t.Errorf("at_hash of refreshed token: %v", err)
	}
	if status := userinfoStatus(t, h, second.AccessToken); status != http.StatusOK {
		t.Fatalf("userinfo with refreshed access token: %d", status)
	}

	// The rotated-out refresh token used again means it leaked: refuse it and end the grant.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}}
	status, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, clientID, clientSecret)
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("reused refresh token: %d %v, want 400 invalid_grant", status, body)
	}
	form.Set("refresh_token", second.RefreshToken)
	if status, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, clientID, clientSecret); body["error"] != "invalid_grant" {
		t.Errorf("refresh token of a revoked grant: %d %v, want invalid_grant", status, body)
	}
	if status := userinfoStatus(t, h, second.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("userinfo with access token of a revoked grant: %d, want 401", status)
	}
}

func TestRefreshTokenIsBoundToClient(t *testing.T) {
	h := newHarness(t)
	a := newAuthRequest()
	q := h.login(t, a, "support", "demo")
	tok, _, _ := h.exchange(t, t.Context(), q.Get("code"), a.verifier)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	if status, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, otherID, otherSecret); body["error"] != "invalid_grant" {
		t.Errorf("refresh by another client: %d %v, want invalid_grant", status, body)
	}
	form.Set("scope", "openid admin")
	if status, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, clientID, clientSecret); body["error"] != "invalid_scope" {
		t.Errorf("refresh widening the scope: %d %v, want invalid_scope", status, body)
	}
	form.Set("scope", "openid email")
	if status, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, clientID, clientSecret); status != http.StatusOK {
		t.Errorf("refresh by the owning client with a narrower scope: %d %v, want 200", status, body)
	}
}

func userinfoStatus(t *testing.T, h *harness, accessToken string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, h.issuer+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if accessToken != "" {
		req.Header.Set("Authorization", "Bearer "+accessToken)
	}
	resp, err := newBrowser().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	return resp.StatusCode
}

func TestUserinfo(t *testing.T) {
	h := newHarness(t)
	a := newAuthRequest()
	q := h.login(t, a, "accountant", "demo")
	tok, _, _ := h.exchange(t, t.Context(), q.Get("code"), a.verifier)
	tests := []struct {
		name      string
		auth      string
		status    int
		challenge string
	}{
		{"valid bearer", "Bearer " + tok.AccessToken, http.StatusOK, ""},
		{"scheme is case-insensitive", "bearer " + tok.AccessToken, http.StatusOK, ""},
		{"no credentials", "", http.StatusUnauthorized, `Bearer realm="devidp"`},
		{"unknown token", "Bearer " + tok.AccessToken + "x", http.StatusUnauthorized, `Bearer realm="devidp", error="invalid_token"`},
		{"refresh token is not an access token", "Bearer " + tok.RefreshToken, http.StatusUnauthorized, `Bearer realm="devidp", error="invalid_token"`},
		{"basic scheme", "Basic " + tok.AccessToken, http.StatusUnauthorized, `Bearer realm="devidp"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, h.issuer+"/userinfo", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := newBrowser().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("status %d, WWW-Authenticate %q; want %d, %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge)
			}
			if tc.status == http.StatusOK && !strings.Contains(body, `"sub":"`+devidp.DefaultSubject("accountant")+`"`) {
				t.Errorf("userinfo body %s lacks the subject", body)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
}

func TestSetUserChangesAssertionsOfLaterLogins(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	a := newAuthRequest()
	q := h.login(t, a, "admin", "demo")
	before, _, c := h.exchange(t, ctx, q.Get("code"), a.verifier)
	if !cmp.Equal(c.AMR, []string{"pwd", "mfa"}) || c.ACR != "" {
		t.Fatalf("demo admin asserts amr %v acr %q", c.AMR, c.ACR)
	}

	admin := devidp.DemoUsers()[0]
	admin.AMR, admin.ACR = []string{"pwd"}, "urn:tollgate:loa:1"
	if err := h.idp.SetUser(admin); err != nil {
		t.Fatal(err)
	}
	admin.AMR[0] = "changed-by-caller" // the provider must hold its own copy
	a = newAuthRequest()
	q = h.login(t, a, "admin", "demo", oauth2.SetAuthURLParam("acr_values", "urn:tollgate:loa:2"))
	_, idt, c := h.exchange(t, ctx, q.Get("code"), a.verifier)
	if !cmp.Equal(c.AMR, []string{"pwd"}) || c.ACR != "urn:tollgate:loa:1" || idt.Subject != devidp.DefaultSubject("admin") {
		t.Errorf("after SetUser: amr %v acr %q sub %q; want [pwd], the configured acr, the same subject", c.AMR, c.ACR, idt.Subject)
	}

	// A refresh of the earlier login keeps what that login proved.
	expired := *before
	expired.Expiry = time.Now().Add(-time.Minute)
	tok, err := h.oauth.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatal(err)
	}
	if _, c := h.verify(t, ctx, tok); !cmp.Equal(c.AMR, []string{"pwd", "mfa"}) {
		t.Errorf("refresh of the earlier login asserts amr %v, want [pwd mfa]", c.AMR)
	}

	if err := h.idp.SetUser(devidp.User{Username: "eve", Password: "pw", Email: "eve@example.com"}); err != nil {
		t.Fatal(err)
	}
	a = newAuthRequest()
	q = h.login(t, a, "eve", "pw")
	eve, _, c := h.exchange(t, ctx, q.Get("code"), a.verifier)
	if c.Email != "eve@example.com" || c.AMR != nil {
		t.Errorf("new user: email %q amr %v", c.Email, c.AMR)
	}
	if ui, err := h.rp.UserInfo(ctx, oauth2.StaticTokenSource(eve)); err != nil || ui.Subject != devidp.DefaultSubject("eve") {
		t.Errorf("new user without a subject: userinfo %+v %v, want sub %q", ui, err, devidp.DefaultSubject("eve"))
	}

	// The same username given to a different subject is another person: the tokens of the
	// earlier one stop working.
	if err := h.idp.SetUser(devidp.User{Username: "eve", Password: "pw", Subject: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	if status := userinfoStatus(t, h, eve.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("userinfo after the subject changed: %d, want 401", status)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {eve.RefreshToken}}
	if status, _, body := postToken(t, h.oauth.Endpoint.TokenURL, form, clientID, clientSecret); body["error"] != "invalid_grant" {
		t.Errorf("refresh after the subject changed: %d %v, want invalid_grant", status, body)
	}

	for _, bad := range []devidp.User{
		{Username: "", Password: "x"},
		{Username: "x", Password: ""},
		{Username: "mallory", Password: "x", Subject: devidp.DefaultSubject("admin")},
	} {
		if err := h.idp.SetUser(bad); err == nil {
			t.Errorf("SetUser(%+v) accepted", bad)
		}
	}
}

func TestSetAuthTime(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	stale := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	h.idp.SetAuthTime("Admin", stale)
	for i := range 2 { // every later login, not just the next one
		a := newAuthRequest()
		q := h.login(t, a, "admin", "demo", oauth2.SetAuthURLParam("max_age", "300"))
		if _, _, c := h.exchange(t, ctx, q.Get("code"), a.verifier); c.AuthTime != stale.Unix() {
			t.Errorf("login %d: auth_time = %d, want %d", i, c.AuthTime, stale.Unix())
		}
	}
	h.idp.SetAuthTime("admin", time.Time{})
	a := newAuthRequest()
	q := h.login(t, a, "admin", "demo")
	if _, _, c := h.exchange(t, ctx, q.Get("code"), a.verifier); time.Since(time.Unix(c.AuthTime, 0)) > time.Minute {
		t.Errorf("after clearing the override auth_time = %d, want now", c.AuthTime)
	}
}

func TestConcurrentLogins(t *testing.T) {
	h := newHarness(t)
	t.Run("group", func(t *testing.T) {
		for i, u := range devidp.DemoUsers() {
			t.Run(u.Username, func(t *testing.T) {
				t.Parallel()
				for range 3 {
					a := newAuthRequest()
					q := h.login(t, a, u.Username, "demo")
					if _, idt, _ := h.exchange(t, t.Context(), q.Get("code"), a.verifier); idt.Subject != u.Subject {
						t.Errorf("sub = %q, want %q", idt.Subject, u.Subject)
					}
				}
			})
			t.Run(fmt.Sprintf("writer-%d", i), func(t *testing.T) {
				t.Parallel()
				for j := range 20 {
					u := u
					u.ACR = fmt.Sprint(j)
					if err := h.idp.SetUser(u); err != nil {
						t.Error(err)
					}
					h.idp.SetAuthTime(u.Username, time.Time{})
					_ = h.idp.Stats()
				}
			})
		}
	})
}
