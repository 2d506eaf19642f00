package mfa

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnrolTOTP(t *testing.T) {
	x := newHarness(t)
	ctx := t.Context()
	if ok, err := x.h.Enrolled(ctx, x.user.ID); err != nil || ok {
		t.Fatalf("Enrolled before = %v, %v", ok, err)
	}
	if got := x.h.NextStep(ctx, x.user.ID); got != PathEnroll {
		t.Errorf("NextStep before enrolment = %q", got)
	}
	wantStatus(t, x.get(pathQR), http.StatusNotFound) // no enrolment in progress yet

	page := x.get(PathEnroll + "?rd=/invoices/7")
	wantStatus(t, page, http.StatusOK)
	body := page.Body.String()
	secret := strings.ReplaceAll(between(t, body, `<code id="secret" class="secret">`, `</code>`), " ", "")
	if len(secret) != 32 {
		t.Fatalf("secret %q is not 160 bits of base32", secret)
	}
	if !strings.Contains(body, `name="rd" value="/invoices/7"`) || !strings.Contains(body, `src="/_tollgate/mfa/enroll/qr.png"`) {
		t.Errorf("enrol page lacks rd or the QR image:\n%s", body)
	}
	// Reloading shows the same pending secret: the app may already hold it.
	again := x.get(PathEnroll)
	if !strings.Contains(again.Body.String(), groupSecret(secret)) {
		t.Error("a reload showed another secret")
	}
	qr := x.get(pathQR)
	wantStatus(t, qr, http.StatusOK)
	if qr.Header().Get("Content-Type") != "image/png" || qr.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("QR headers = %v", qr.Header())
	}
	if img, err := png.Decode(qr.Body); err != nil || img.Bounds().Dx() != 200 {
		t.Errorf("QR is not a 200px PNG: %v", err)
	}
	if ok, _ := x.h.Enrolled(ctx, x.user.ID); ok {
		t.Fatal("a shown but unconfirmed secret counts as enrolled")
	}

	wrong := x.post(PathEnroll, url.Values{"code": {"000000"}, "rd": {"/invoices/7"}})
	wantStatus(t, wrong, http.StatusUnprocessableEntity)
	if !strings.Contains(wrong.Body.String(), groupSecret(secret)) {
		t.Error("after a wrong code the pending secret is gone")
	}
	if len(x.provenCalls()) != 0 {
		t.Fatal("Proven called for a wrong code")
	}

	res := x.post(PathEnroll, url.Values{"code": {x.code(secret, 0)}, "rd": {"/invoices/7"}})
	wantStatus(t, res, http.StatusOK)
	if diff := cmp.Diff([]string{methodTOTP}, x.provenCalls()); diff != "" {
		t.Errorf("Proven calls (-want +got):\n%s", diff)
	}
	if res.Header().Get("Set-Cookie") != "proven=totp" {
		t.Error("Proven could not set a cookie on the response")
	}
	codes := strings.Count(between(t, res.Body.String(), `id="codes">`, `</ul>`), "<li>")
	if codes != recoveryCount || !strings.Contains(res.Body.String(), `href="/invoices/7" id="continue"`) {
		t.Errorf("codes page shows %d codes or lacks the way back:\n%s", codes, res.Body)
	}
	if ok, err := x.h.Enrolled(ctx, x.user.ID); err != nil || !ok {
		t.Errorf("Enrolled after = %v, %v", ok, err)
	}
	if got := x.h.NextStep(ctx, x.user.ID); got != PathVerify {
		t.Errorf("NextStep after enrolment = %q", got)
	}
	u, err := x.dir.GetUser(ctx, x.user.ID)
	if err != nil || !u.MFAEnrolled {
		t.Errorf("directory user MFAEnrolled = %v, %v", u.MFAEnrolled, err)
	}
	if got := x.audit.actions(t); !slices.Equal(got, []string{"mfa_failed totp:enrolment-code", "mfa_enrolled totp"}) {
		t.Errorf("audit = %q", got)
	}
	if x.metric(methodTOTP, resultEnrolled) != 1 {
		t.Error("tollgate_mfa_total{totp,enrolled} != 1")
	}
	// Neither the secret nor any code reached the audit trail.
	for _, secretish := range []string{secret, x.code(secret, 0)} {
		if bytes.Contains(x.audit.raw(), []byte(secretish)) {
			t.Errorf("audit trail holds %q", secretish)
		}
	}
}

func TestEnrolledUserCannotEnrolAgain(t *testing.T) {
	x := newHarness(t)
	// A second session started an enrolment before the first one finished.
	other := x.subject()
	other.SessionID = "other-session-id"
	w := x.serveAs(other, httptest.NewRequest(http.MethodGet, PathEnroll, nil))
	wantStatus(t, w, http.StatusOK)
	otherSecret := strings.ReplaceAll(between(t, w.Body.String(), `<code id="secret" class="secret">`, `</code>`), " ", "")

	secret, _ := x.enrol()
	ctx := t.Context()
	before, err := x.dir.GetSecret(ctx, x.user.ID, kindTOTP)
	if err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, x.get(PathEnroll+"?rd=/x"), PathVerify+"?rd=%2Fx")

	// The other session's confirmation must not replace the factor.
	x.clock.Advance(totpPeriod)
	w = x.serveAs(other, formRequest(PathEnroll, url.Values{"code": {x.code(otherSecret, 0)}, "csrf": {other.CSRF}}))
	wantRedirect(t, w, PathVerify)
	after, err := x.dir.GetSecret(ctx, x.user.ID, kindTOTP)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatal("an enrolled user's TOTP secret was replaced")
	}
	// Positive control: the first secret still verifies.
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), "/")
}

func TestSecretsAreSealedAtRest(t *testing.T) {
	x := newHarness(t)
	secret, codes := x.enrol()
	raw := x.dbBytes()
	// Positive control: the dump does see the directory's data.
	if !bytes.Contains(raw, []byte(x.user.ID)) || !bytes.Contains(raw, []byte(kindTOTP)) {
		t.Fatal("the database dump lacks the user id or the secret kind")
	}
	for _, clear := range append([]string{secret, strings.ToLower(secret)}, codes...) {
		if bytes.Contains(raw, []byte(clear)) {
			t.Errorf("the database holds %q in clear", clear)
		}
	}
	for _, c := range codes {
		if bytes.Contains(raw, []byte(normalizeRecovery(c))) {
			t.Errorf("the database holds recovery code %q", c)
		}
	}
	if secretBytes, err := x.dir.GetSecret(t.Context(), x.user.ID, kindTOTP); err != nil || bytes.Contains(secretBytes, []byte(secret)) {
		t.Errorf("stored TOTP blob holds the secret (or cannot be read: %v)", err)
	}
}
