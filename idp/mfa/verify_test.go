package mfa

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/internal/redistest"
)

// enrolled returns a harness whose user has enrolled, one step past the enrolment code, with
// the session not yet proven (as at the next login).
func enrolled(t *testing.T, opts ...harnessOption) (*harness, string, []string) {
	t.Helper()
	x := newHarness(t, opts...)
	secret, codes := x.enrol()
	x.clock.Advance(totpPeriod)
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	x.mu.Lock()
	x.proven = nil
	x.mu.Unlock()
	return x, secret, codes
}

func TestVerifyTOTP(t *testing.T) {
	x, secret, _ := enrolled(t)
	page := x.get(PathVerify + "?rd=/payments")
	wantStatus(t, page, http.StatusOK)
	for _, want := range []string{`action="/_tollgate/mfa/verify"`, `name="rd" value="/payments"`, `action="/_tollgate/mfa/recovery"`} {
		if !strings.Contains(page.Body.String(), want) {
			t.Errorf("verify page lacks %s", want)
		}
	}
	res := x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}, "rd": {"/payments"}})
	wantRedirect(t, res, "/payments")
	if diff := cmp.Diff([]string{methodTOTP}, x.provenCalls()); diff != "" {
		t.Errorf("Proven (-want +got):\n%s", diff)
	}
	last := x.audit.records(t)
	rec := last[len(last)-1]
	if rec.Event.Action != ActionVerified || rec.Event.Reason != methodTOTP || rec.Event.Outcome != audit.OutcomeSuccess ||
		rec.Event.Category != "authentication" || rec.User.ID != x.ident.UserKey() || rec.Session.ID != x.subject().SessionID ||
		rec.Source.IP != "192.0.2.7" || rec.HTTP.Request.ID != "req-1" {
		t.Errorf("audit record = %+v", rec)
	}
	if x.metric(methodTOTP, resultVerified) != 1 {
		t.Error("tollgate_mfa_total{totp,verified} != 1")
	}
}

func TestVerifyRefusesReplay(t *testing.T) {
	x, secret, _ := enrolled(t)
	code := x.code(secret, 0)
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {code}}), "/")
	// The same code, still within its step and skew, from another session of the user.
	x.setSubject(func(s *Subject) { s.SessionID, s.MFAAt = "second-session", time.Time{} })
	res := x.post(PathVerify, url.Values{"code": {code}})
	wantStatus(t, res, http.StatusUnauthorized)
	if !strings.Contains(res.Body.String(), "already used") {
		t.Errorf("replay page does not say so:\n%s", res.Body)
	}
	x.clock.Advance(totpPeriod) // still within the skew of the used step
	wantStatus(t, x.post(PathVerify, url.Values{"code": {code}}), http.StatusUnauthorized)
	if got := len(x.provenCalls()); got != 1 {
		t.Errorf("Proven called %d times, want once", got)
	}
	if x.metric(methodTOTP, resultReplayed) != 2 {
		t.Errorf("tollgate_mfa_total{totp,replayed} = %v, want 2", x.metric(methodTOTP, resultReplayed))
	}
	// Positive control: the next step's code is a new code.
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), "/")
}

// Two replicas share one Redis: a code accepted by one is refused by the other.
func TestReplayGuardAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	client, err := session.RedisConfig{Addrs: []string{srv.Addr()}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	x := newHarness(t, func(_ *Config, d *Deps) {
		st := session.NewRedis(client, session.Options{Now: d.Now})
		d.Guard, d.Once = st, st
	})
	secret, _ := x.enrol()
	x.clock.Advance(totpPeriod)
	first := x.h
	second, err := New(x.cfg, x.deps) // the second replica: same key, directory and Redis
	if err != nil {
		t.Fatal(err)
	}
	code := x.code(secret, 0)
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {code}}), "/")
	x.h = second
	wantStatus(t, x.post(PathVerify, url.Values{"code": {code}}), http.StatusUnauthorized)
	if x.metric(methodTOTP, resultReplayed) != 1 {
		t.Error("the second replica did not count a replay")
	}
	// Positive control on the second replica: a fresh code works there.
	x.clock.Advance(totpPeriod)
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), "/")
	x.h = first
}

func TestVerifyRefusesMalformedAndSkewedCodes(t *testing.T) {
	x, secret, _ := enrolled(t, func(c *Config, _ *Deps) { c.MaxAttempts = 20 })
	good := x.code(secret, 0)
	for _, bad := range []string{"", "12345", "1234567", " " + good, good + " ", good[:5] + "a",
		x.code(secret, 2), x.code(secret, -2)} {
		if bad == good {
			continue
		}
		res := x.post(PathVerify, url.Values{"code": {bad}})
		wantStatus(t, res, http.StatusUnauthorized)
	}
	if len(x.provenCalls()) != 0 {
		t.Fatal("a bad code was accepted")
	}
	// Each refused code counted as a guess.
	if n, _, err := x.store.Peek(t.Context(), attemptsKey(x.user.ID)); err != nil || n != 8 {
		t.Errorf("attempts counted = %d, %v; want 8", n, err)
	}
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 1)}}), "/") // one step ahead: accepted
}

func TestLockout(t *testing.T) {
	x, secret, codes := enrolled(t, func(c *Config, _ *Deps) { c.MaxAttempts, c.Lockout = 3, 10*time.Minute })
	t0 := x.clock.Now()
	for i := range 2 {
		res := x.post(PathVerify, url.Values{"code": {"000000"}})
		wantStatus(t, res, http.StatusUnauthorized)
		if want := []string{"2 attempts left", "1 attempt left"}[i]; !strings.Contains(res.Body.String(), want) {
			t.Errorf("failure %d does not say %q", i+1, want)
		}
	}
	locked := x.post(PathVerify, url.Values{"code": {"000001"}})
	wantStatus(t, locked, http.StatusLocked)
	until := t0.Add(10 * time.Minute).UTC().Format("15:04")
	if !strings.Contains(locked.Body.String(), `id="locked"`) || !strings.Contains(locked.Body.String(), until) {
		t.Errorf("lockout page does not say until %s:\n%s", until, locked.Body)
	}
	// While locked, a correct code and a correct recovery code are both refused unchecked.
	wantStatus(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), http.StatusLocked)
	wantStatus(t, x.post(pathRecovery, url.Values{"code": {codes[0]}}), http.StatusLocked)
	wantStatus(t, x.get(PathVerify), http.StatusLocked)
	if len(x.provenCalls()) != 0 {
		t.Fatal("Proven called while locked out")
	}
	// The recovery code refused while locked was not consumed.
	x.clock.Advance(10*time.Minute - time.Second)
	wantStatus(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), http.StatusLocked)
	x.clock.Advance(time.Second)
	wantStatus(t, x.get(PathVerify), http.StatusOK)
	wantRedirect(t, x.post(pathRecovery, url.Values{"code": {codes[0]}}), "/")

	var lockouts []audit.Record
	for _, r := range x.audit.records(t) {
		if r.Event.Action == ActionLockout {
			lockouts = append(lockouts, r)
		}
	}
	if len(lockouts) != 1 || lockouts[0].Event.Reason != "totp:wrong-code" || lockouts[0].Event.Outcome != audit.OutcomeFailure {
		t.Errorf("lockout records = %+v, want one", lockouts)
	}
	if x.metric(methodTOTP, resultLockout) != 1 || x.metric(methodTOTP, resultLocked) != 2 || x.metric(methodRecovery, resultLocked) != 1 {
		t.Errorf("metrics lockout=%v locked(totp)=%v locked(recovery)=%v", x.metric(methodTOTP, resultLockout),
			x.metric(methodTOTP, resultLocked), x.metric(methodRecovery, resultLocked))
	}
}

func TestSuccessClearsFailures(t *testing.T) {
	x, secret, _ := enrolled(t, func(c *Config, _ *Deps) { c.MaxAttempts = 3 })
	for round := range 3 {
		for range 2 {
			wantStatus(t, x.post(PathVerify, url.Values{"code": {"999999"}}), http.StatusUnauthorized)
		}
		wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), "/")
		x.clock.Advance(totpPeriod)
		if got := len(x.provenCalls()); got != round+1 {
			t.Fatalf("round %d: %d proofs", round, got)
		}
	}
}

func TestRecoveryCodesAreSingleUse(t *testing.T) {
	x, _, codes := enrolled(t)
	// Codes are accepted however they are typed: case, spaces, no hyphens.
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	wantRedirect(t, x.post(pathRecovery, url.Values{"code": {typed}, "rd": {"/reports"}}), "/reports")
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	res := x.post(pathRecovery, url.Values{"code": {codes[3]}})
	wantStatus(t, res, http.StatusUnauthorized)
	wantStatus(t, x.post(pathRecovery, url.Values{"code": {"abcd-efgh-jkmn"}}), http.StatusUnauthorized)
	wantRedirect(t, x.post(pathRecovery, url.Values{"code": {codes[4]}}), "/") // another one works
	if diff := cmp.Diff([]string{methodRecovery, methodRecovery}, x.provenCalls()); diff != "" {
		t.Errorf("Proven (-want +got):\n%s", diff)
	}
	got := x.audit.actions(t)
	if want := []string{"mfa_recovery_used recovery", "mfa_failed recovery:wrong-code", "mfa_failed recovery:wrong-code", "mfa_recovery_used recovery"}; !slices.Equal(got[len(got)-4:], want) {
		t.Errorf("audit = %q", got)
	}
	for _, c := range codes {
		if bytes.Contains(x.audit.raw(), []byte(c)) || bytes.Contains(x.audit.raw(), []byte(normalizeRecovery(c))) {
			t.Errorf("audit holds recovery code %s", c)
		}
	}
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now() })
	if left := between(t, x.get(PathAccount).Body.String(), `<span id="codes-left">`, `</span>`); left != "8" {
		t.Errorf("account page shows %s codes left, want 8", left)
	}
}

func TestKeyRotation(t *testing.T) {
	x, secret, codes := enrolled(t)
	oldBlob, err := x.dir.GetSecret(t.Context(), x.user.ID, kindTOTP)
	if err != nil {
		t.Fatal(err)
	}
	// Rotate: a new current key, the old one kept as old.
	newKey := writeKey(t, t.TempDir(), "new.key")
	cfg := x.cfg
	cfg.KeyFile, cfg.OldKeyFiles = newKey, []string{x.keyPath}
	if x.h, err = New(cfg, x.deps); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, x.post(pathRecovery, url.Values{"code": {codes[0]}}), "/") // issued under the old key
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), "/")
	newBlob, err := x.dir.GetSecret(t.Context(), x.user.ID, kindTOTP)
	if err != nil || bytes.Equal(oldBlob, newBlob) {
		t.Fatal("the secret was not sealed again with the new key")
	}
	// Now the new key alone opens it: the old key can be retired.
	cfg.OldKeyFiles = nil
	if x.h, err = New(cfg, x.deps); err != nil {
		t.Fatal(err)
	}
	x.clock.Advance(totpPeriod)
	x.setSubject(func(s *Subject) { s.MFAAt = time.Time{} })
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), "/")

	// A wrong key fails closed: 503, never a pass.
	cfg.KeyFile = writeKey(t, t.TempDir(), "wrong.key")
	if x.h, err = New(cfg, x.deps); err != nil {
		t.Fatal(err)
	}
	x.clock.Advance(totpPeriod)
	wantStatus(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), http.StatusServiceUnavailable)
	wantStatus(t, x.get(PathEnroll), http.StatusServiceUnavailable) // and no re-enrolment either
}

// A session store that cannot answer must never let a code through or skip the count.
func TestGuardOutageFailsClosed(t *testing.T) {
	x, secret, _ := enrolled(t)
	if err := x.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, res := range []struct {
		name string
		code int
	}{
		{"verify", x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}).Code},
		{"verify page", x.get(PathVerify).Code},
	} {
		if res.code != http.StatusServiceUnavailable {
			t.Errorf("%s with the store down = %d, want 503", res.name, res.code)
		}
	}
	if len(x.provenCalls()) != 0 {
		t.Fatal("Proven called with the store down")
	}
}

func TestStepUpIsAudited(t *testing.T) {
	x, secret, _ := enrolled(t)
	x.setSubject(func(s *Subject) { s.MFAAt = x.clock.Now().Add(-2 * time.Hour) }) // proven, but too long ago for the route
	wantStatus(t, x.get(PathVerify+"?rd=/payments/new"), http.StatusOK)
	wantRedirect(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}, "rd": {"/payments/new"}}), "/payments/new")
	got := x.audit.actions(t)
	want := []string{"mfa_stepup_asked step-up", "mfa_verified totp", "mfa_stepup_satisfied totp"}
	if !slices.Equal(got[len(got)-3:], want) {
		t.Errorf("audit = %q, want it to end with %q", got, want)
	}
	if x.metric(methodTOTP, resultStepUpDone) != 1 || x.metric("any", resultStepUp) != 1 {
		t.Error("step-up metrics not counted")
	}
}

func TestProvenFailureIsNotASuccess(t *testing.T) {
	x, secret, _ := enrolled(t)
	deps := x.deps
	deps.Proven = func(context.Context, http.ResponseWriter, *http.Request, string) error {
		return errors.New("session store down")
	}
	var err error
	if x.h, err = New(x.cfg, deps); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, x.post(PathVerify, url.Values{"code": {x.code(secret, 0)}}), http.StatusServiceUnavailable)
	for _, a := range x.audit.actions(t) {
		if strings.HasPrefix(a, ActionVerified) {
			t.Errorf("a verification the gate could not record was audited as a success: %q", a)
		}
	}
}
