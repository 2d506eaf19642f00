package mfa

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"
)

// softKey is a software security key (ES256, "none" attestation): enough of CTAP2 to test the
// server side of both ceremonies without a browser. The browser tests use Chromium's own.
type softKey struct {
	t      *testing.T
	priv   *ecdsa.PrivateKey
	id     []byte
	count  uint32
	origin string
}

func newSoftKey(t *testing.T, origin string) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{t: t, priv: priv, id: id, origin: origin}
}

var b64 = base64.RawURLEncoding

func (k *softKey) authData(rpID string, flags byte, attested []byte) []byte {
	rpHash := sha256.Sum256([]byte(rpID))
	out := append(rpHash[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, attested...)
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// create answers navigator.credentials.create for the options the server sent.
func (k *softKey) create(options []byte) map[string]any {
	k.t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		k.t.Fatalf("creation options %s: %v", options, err)
	}
	x, y := k.priv.PublicKey.X.FillBytes(make([]byte, 32)), k.priv.PublicKey.Y.FillBytes(make([]byte, 32))
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		k.t.Fatal(err)
	}
	attested := append(make([]byte, 16), byte(len(k.id)>>8), byte(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{},
		"authData": k.authData(o.PublicKey.RP.ID, 0x45, attested)}) // UP, UV, AT
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
		}}
}

// get answers navigator.credentials.get, signing with this key.
func (k *softKey) get(options []byte) map[string]any {
	k.t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		k.t.Fatalf("request options %s: %v", options, err)
	}
	k.count++
	ad := k.authData(o.PublicKey.RPID, 0x05, nil) // UP, UV
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
		}}
}

func withWebAuthn(c *Config, _ *Deps) { c.WebAuthn.Enabled = true }

// addPasskey registers k through the JSON endpoints and returns the finish response.
func (x *harness) addPasskey(k *softKey, name string) *httptest.ResponseRecorder {
	x.t.Helper()
	begin := x.postJSON(pathRegisterBegin, map[string]any{})
	wantStatus(x.t, begin, http.StatusOK)
	return x.postJSON(pathRegisterFinish, map[string]any{"name": name, "credential": k.create(begin.Body.Bytes())})
}

// loginPasskey runs a passkey login with k and returns the finish response.
func (x *harness) loginPasskey(k *softKey, rd string) *httptest.ResponseRecorder {
	x.t.Helper()
	begin := x.postJSON(pathLoginBegin, map[string]any{"rd": rd})
	wantStatus(x.t, begin, http.StatusOK)
	return x.postJSON(pathLoginFinish, map[string]any{"rd": rd, "credential": k.get(begin.Body.Bytes())})
}

func redirectOf(t *testing.T, res *httptest.ResponseRecorder) string {
	t.Helper()
	var out struct{ Redirect string }
	if err := json.Unmarshal(res.Body.Bytes(), &out); err != nil {
		t.Fatalf("response %s: %v", res.Body, err)
	}
	return out.Redirect
}

func TestPasskeyRegisterAndLogin(t *testing.T) {
	x, _, _ := enrolled(t, withWebAuthn)
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	key := newSoftKey(t, testPublicURL)
	res := x.addPasskey(key, "Desk key")
	wantStatus(t, res, http.StatusOK)
	if got := redirectOf(t, res); got != PathAccount+"?done=passkey-added" {
		t.Errorf("after registration go to %q", got)
	}
	account := x.get(PathAccount).Body.String()
	if !strings.Contains(account, `<span class="name">Desk key</span>`) || !strings.Contains(account, `src="/_tollgate/mfa/assets/webauthn.js"`) {
		t.Errorf("account page lacks the key or the script:\n%s", account)
	}

	// Next login: the verification page offers the key.
	x.clock.Advance(time.Hour)
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	verify := x.get(PathVerify + "?rd=/payments").Body.String()
	if !strings.Contains(verify, `id="passkey-login"`) || !strings.Contains(verify, `data-rd="/payments"`) {
		t.Errorf("verify page does not offer the key:\n%s", verify)
	}
	res = x.loginPasskey(key, "/payments")
	wantStatus(t, res, http.StatusOK)
	if got := redirectOf(t, res); got != "/payments" {
		t.Errorf("after login go to %q", got)
	}
	if diff := cmp.Diff([]string{methodWebAuthn}, x.provenCalls()); diff != "" {
		t.Errorf("Proven (-want +got):\n%s", diff)
	}
	// The signature count and last use were kept.
	keys, err := x.h.loadPasskeys(t.Context(), x.user.ID)
	if err != nil || len(keys) != 1 || keys[0].Credential.Authenticator.SignCount != 1 || keys[0].LastUsed.IsZero() {
		t.Errorf("stored key after login = %+v, %v", keys, err)
	}
	got := x.audit.actions(t)
	for _, want := range []string{"mfa_passkey_added webauthn", "mfa_verified webauthn"} {
		if !strings.Contains(strings.Join(got, ","), want) {
			t.Errorf("audit lacks %q: %q", want, got)
		}
	}
}

func TestPasskeyCeremoniesRefuseForgeries(t *testing.T) {
	x, _, _ := enrolled(t, withWebAuthn)
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	key := newSoftKey(t, testPublicURL)
	wantStatus(t, x.addPasskey(key, "k"), http.StatusOK)
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })

	t.Run("assertion from another origin", func(t *testing.T) {
		phish := *key
		phish.origin = "https://billing.example.com.evil.example"
		wantStatus(t, x.loginPasskey(&phish, "/"), http.StatusUnauthorized)
		key.count = phish.count
	})
	t.Run("assertion by another key", func(t *testing.T) {
		other := newSoftKey(t, testPublicURL)
		other.id = key.id // claims to be the registered credential
		wantStatus(t, x.loginPasskey(other, "/"), http.StatusUnauthorized)
	})
	t.Run("finish without begin", func(t *testing.T) {
		wantStatus(t, x.postJSON(pathLoginFinish, map[string]any{"credential": map[string]any{}}), http.StatusBadRequest)
	})
	t.Run("the same answer twice", func(t *testing.T) {
		begin := x.postJSON(pathLoginBegin, map[string]any{})
		answer := key.get(begin.Body.Bytes())
		wantStatus(t, x.postJSON(pathLoginFinish, map[string]any{"credential": answer}), http.StatusOK)
		wantStatus(t, x.postJSON(pathLoginFinish, map[string]any{"credential": answer}), http.StatusBadRequest)
	})
	t.Run("ceremony of another session", func(t *testing.T) {
		begin := x.postJSON(pathLoginBegin, map[string]any{})
		other := x.subject()
		other.SessionID = "another-session"
		b, _ := json.Marshal(map[string]any{"credential": key.get(begin.Body.Bytes())})
		r := httptest.NewRequest(http.MethodPost, pathLoginFinish, strings.NewReader(string(b)))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(csrfHeader, other.CSRF)
		wantStatus(t, x.serveAs(other, r), http.StatusBadRequest)
	})
	t.Run("signature counter going back", func(t *testing.T) {
		key.count = 0 // the stored count is higher: a clone
		res := x.loginPasskey(key, "/")
		wantStatus(t, res, http.StatusUnauthorized)
		recs := x.audit.records(t)
		if r := recs[len(recs)-1]; r.Event.Action != ActionFailed || r.Event.Reason != "webauthn:cloned-key" {
			t.Errorf("last record = %+v", r.Event)
		}
		key.count = 100
	})
	t.Run("json endpoints need json and the csrf header", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, pathLoginBegin, strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		wantStatus(t, x.serve(r), http.StatusForbidden)
		r = httptest.NewRequest(http.MethodPost, pathLoginBegin, strings.NewReader("{}"))
		r.Header.Set("Content-Type", "text/plain")
		r.Header.Set(csrfHeader, x.subject().CSRF)
		wantStatus(t, x.serve(r), http.StatusUnsupportedMediaType)
	})
	t.Run("registration needs a fresh factor", func(t *testing.T) {
		x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now().Add(-freshFor - time.Second) })
		wantStatus(t, x.postJSON(pathRegisterBegin, map[string]any{}), http.StatusForbidden)
		x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	})
	t.Run("registration from another origin", func(t *testing.T) {
		x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
		wantStatus(t, x.addPasskey(newSoftKey(t, "https://evil.example"), "evil"), http.StatusBadRequest)
		x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	})
	// Positive control: the real key, properly used, still works.
	wantStatus(t, x.loginPasskey(key, "/"), http.StatusOK)
	if got := len(x.provenCalls()); got != 2 {
		t.Errorf("Proven called %d times, want 2 (the repeated answer's first use and the control)", got)
	}
}

func TestRemovePasskey(t *testing.T) {
	// A person whose factor came from the IdP adds keys: no TOTP, so the last key must stay.
	x := newHarness(t, withWebAuthn)
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	first, second := newSoftKey(t, testPublicURL), newSoftKey(t, testPublicURL)
	wantStatus(t, x.addPasskey(first, "first"), http.StatusOK)
	if ok, err := x.h.Enrolled(t.Context(), x.user.ID); err != nil || !ok {
		t.Fatalf("Enrolled with a passkey only = %v, %v", ok, err)
	}
	wantStatus(t, x.post(pathRemovePasskey, url.Values{"id": {b64.EncodeToString(first.id)}}), http.StatusConflict)
	wantStatus(t, x.addPasskey(second, "second"), http.StatusOK)
	wantStatus(t, x.addPasskey(second, "again"), http.StatusConflict) // not stored twice

	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now().Add(-time.Hour) })
	wantRedirect(t, x.post(pathRemovePasskey, url.Values{"id": {b64.EncodeToString(first.id)}}), PathVerify+"?rd=%2F_tollgate%2Faccount")
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	wantStatus(t, x.post(pathRemovePasskey, url.Values{"id": {b64.EncodeToString([]byte("nope"))}}), http.StatusNotFound)
	wantRedirect(t, x.post(pathRemovePasskey, url.Values{"id": {b64.EncodeToString(first.id)}}), PathAccount+"?done=passkey-removed")
	keys, err := x.h.loadPasskeys(t.Context(), x.user.ID)
	if err != nil || len(keys) != 1 || keys[0].Name != "second" {
		t.Fatalf("keys after removal = %+v, %v", keys, err)
	}
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	wantStatus(t, x.loginPasskey(first, "/"), http.StatusUnauthorized)
	wantStatus(t, x.loginPasskey(second, "/"), http.StatusOK)
}

// Turning WebAuthn off must not turn a passkey owner into someone without a factor, to whom
// enrolment would be offered.
func TestPasskeysCountWithWebAuthnOff(t *testing.T) {
	x := newHarness(t, withWebAuthn)
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	wantStatus(t, x.addPasskey(newSoftKey(t, testPublicURL), "only"), http.StatusOK)
	cfg := x.cfg
	cfg.WebAuthn.Enabled = false
	var err error
	if x.h, err = New(cfg, x.deps); err != nil {
		t.Fatal(err)
	}
	if ok, err := x.h.Enrolled(t.Context(), x.user.ID); err != nil || !ok {
		t.Errorf("Enrolled = %v, %v; want true", ok, err)
	}
	wantRedirect(t, x.get(PathEnroll), PathVerify)
	page := x.get(PathVerify)
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body.String(), "Ask your administrator") {
		t.Errorf("verify page does not explain the dead end:\n%s", page.Body)
	}
}
