package session

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/idp"

	"github.com/tollgate/tollgate/internal/testclock"
)

// store is what both implementations offer; the suite holds them to one behaviour.
type store interface {
	Create(ctx context.Context, s Session) (string, error)
	Get(ctx context.Context, token string) (Session, error)
	Update(ctx context.Context, token string, s Session) error
	Delete(ctx context.Context, token string) error
	DeleteUser(ctx context.Context, userKey string) (int, error)
	DeleteByID(ctx context.Context, userKey, id string) error
	ListUser(ctx context.Context, userKey string) ([]Info, error)
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) error
	TakeOnce(ctx context.Context, key string) ([]byte, error)
	Ping(ctx context.Context) error
	Close() error
}

// harness is a fresh, empty store plus a view of its backing storage.
type harness struct {
	store
	// raw returns every byte a reader of the backing storage can see.
	raw func(t *testing.T) []byte
	// writes is a counter that grows with every write to the backing storage.
	writes func(t *testing.T) int64
}

type fakeClock = testclock.Clock

func newFakeClock() *fakeClock {
	return testclock.At(time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC))
}

// Suite timeouts: touches are due every minute (Idle/10).
const (
	suiteIdle     = 10 * time.Minute
	suiteAbsolute = time.Hour
)

var (
	alice = idp.Identity{
		Issuer: "https://idp.billing.example", Subject: "u-alice", Email: "alice.secret@billing.example",
		Name: "Alice Zyxwv", Groups: []string{"finance"}, AMR: []string{"pwd", "otp"}, ACR: "urn:mfa",
		AuthTime: time.Date(2030, 3, 4, 8, 59, 0, 0, time.UTC), MFA: true,
	}
	bob = idp.Identity{Issuer: "https://idp.billing.example", Subject: "u-bob", Email: "bob@billing.example"}
)

func sample(id idp.Identity) Session {
	return Session{
		Identity:     id,
		Roles:        []string{"billing_manager", "accountant"},
		CSRF:         "csrf-qwertyuiopasdfgh",
		MFAAt:        time.Date(2030, 3, 4, 8, 59, 30, 0, time.UTC),
		IDToken:      "eyJhbGciOi.id-token-payload.signature",
		RefreshToken: "refresh-token-very-secret-123",
		TokenExpiry:  time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC),
	}
}

// runStoreSuite runs every case against a fresh store from newHarness, with the suite's
// timeouts and a fake clock.
func runStoreSuite(t *testing.T, newHarness func(t *testing.T, opt Options) harness) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, h harness, clock *fakeClock)
	}{
		{"create and get round trip", testRoundTrip},
		{"create needs issuer and subject", testCreateNeedsOwner},
		{"idle timeout", testIdleTimeout},
		{"busy session stays alive though touches are throttled", testBusySession},
		{"absolute timeout ends an active session", testAbsoluteTimeout},
		{"touch writes at most once per Idle/10", testTouchThrottle},
		{"update", testUpdate},
		{"delete is idempotent and precise", testDelete},
		{"delete user ends all of theirs and nobody else's", testDeleteUser},
		{"list user: live sessions, oldest first", testListUser},
		{"delete by id only within the user", testDeleteByID},
		{"malformed and forged tokens", testBadTokens},
		{"stored bytes reveal neither token nor contents", testSealedAtRest},
		{"put once, take once", testPutTakeOnce},
		{"take once has one winner under concurrency", testTakeOnceRace},
		{"ping", testPing},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := newFakeClock()
			c.run(t, newHarness(t, Options{Idle: suiteIdle, Absolute: suiteAbsolute, Now: clock.Now}), clock)
		})
	}
}

func mustCreate(t *testing.T, h harness, s Session) string {
	t.Helper()
	tok, err := h.Create(t.Context(), s)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return tok
}

func mustGet(t *testing.T, h harness, tok string) Session {
	t.Helper()
	s, err := h.Get(t.Context(), tok)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return s
}

func wantGone(t *testing.T, h harness, tok string) {
	t.Helper()
	if _, err := h.Get(t.Context(), tok); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
}

func testRoundTrip(t *testing.T, h harness, clock *fakeClock) {
	t0 := clock.Now()
	in := sample(alice)
	// Fields the store owns are overwritten, whatever the caller passes.
	in.ID, in.CreatedAt, in.ExpiresAt = "caller-chosen", t0.Add(-time.Hour), t0.Add(100*time.Hour)
	tok := mustCreate(t, h, in)
	if !validToken(tok) || len(tok) != 43 {
		t.Fatalf("token %q is not 43 base64url characters", tok)
	}
	want := sample(alice)
	want.ID, want.CreatedAt, want.LastSeen, want.ExpiresAt = sessionID(tok), t0, t0, t0.Add(suiteAbsolute)
	want.UserKey = want.Identity.UserKey() // set by the store, from the record it checked
	if diff := cmp.Diff(want, mustGet(t, h, tok)); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	tok2 := mustCreate(t, h, sample(alice))
	if tok2 == tok || mustGet(t, h, tok2).ID == want.ID {
		t.Errorf("two sessions share a token or an ID")
	}
}

func testCreateNeedsOwner(t *testing.T, h harness, _ *fakeClock) {
	for _, id := range []idp.Identity{{}, {Issuer: "https://idp"}, {Subject: "x"}} {
		if _, err := h.Create(t.Context(), Session{Identity: id}); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Create(%+v) = %v, want a plain error", id, err)
		}
	}
}

func testIdleTimeout(t *testing.T, h harness, clock *fakeClock) {
	unused := mustCreate(t, h, sample(alice))
	used := mustCreate(t, h, sample(alice))
	clock.Advance(suiteIdle - time.Second)
	mustGet(t, h, used) // slides the window
	clock.Advance(time.Second)
	wantGone(t, h, unused)
	clock.Advance(suiteIdle - 2*time.Second)
	mustGet(t, h, used)
	clock.Advance(suiteIdle)
	wantGone(t, h, used)
}

func testBusySession(t *testing.T, h harness, clock *fakeClock) {
	tok := mustCreate(t, h, sample(alice))
	for range 2 * int(suiteIdle/(30*time.Second)) {
		clock.Advance(30 * time.Second)
		mustGet(t, h, tok)
	}
}

func testAbsoluteTimeout(t *testing.T, h harness, clock *fakeClock) {
	tok := mustCreate(t, h, sample(alice))
	for range int(suiteAbsolute/(5*time.Minute)) - 1 {
		clock.Advance(5 * time.Minute)
		mustGet(t, h, tok)
	}
	clock.Advance(5*time.Minute - time.Second)
	mustGet(t, h, tok)
	clock.Advance(time.Second)
	wantGone(t, h, tok)
	if err := h.Update(t.Context(), tok, sample(alice)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update after expiry = %v, want ErrNotFound", err)
	}
}

func testTouchThrottle(t *testing.T, h harness, clock *fakeClock) {
	t0 := clock.Now()
	tok := mustCreate(t, h, sample(alice))
	before := h.writes(t)
	for range 5 {
		clock.Advance(10 * time.Second)
		if got := mustGet(t, h, tok).LastSeen; !got.Equal(t0) {
			t.Fatalf("LastSeen = %v, want %v (not yet due)", got, t0)
		}
	}
	if got := h.writes(t); got != before {
		t.Fatalf("%d writes during Gets that were not due a touch", got-before)
	}
	clock.Advance(10 * time.Second) // one minute after creation
	if got := mustGet(t, h, tok).LastSeen; !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("LastSeen = %v, want %v (touched)", got, t0.Add(time.Minute))
	}
	touched := h.writes(t)
	if touched == before {
		t.Fatalf("a due touch wrote nothing")
	}
	mustGet(t, h, tok)
	if got := h.writes(t); got != touched {
		t.Errorf("%d writes right after a touch", got-touched)
	}
}

func testUpdate(t *testing.T, h harness, clock *fakeClock) {
	t0 := clock.Now()
	tok := mustCreate(t, h, sample(alice))
	clock.Advance(2 * time.Minute)
	next := sample(alice)
	next.Roles = []string{"administrator"}
	next.MFAAt = clock.Now()
	next.RefreshToken = "rotated-refresh"
	next.ID, next.CreatedAt, next.ExpiresAt = "caller-chosen", t0.Add(5*time.Hour), t0.Add(50*time.Hour)
	if err := h.Update(t.Context(), tok, next); err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := next
	want.ID, want.CreatedAt, want.LastSeen, want.ExpiresAt = sessionID(tok), t0, clock.Now(), t0.Add(suiteAbsolute)
	want.UserKey = want.Identity.UserKey()
	if diff := cmp.Diff(want, mustGet(t, h, tok)); diff != "" {
		t.Errorf("Get after Update (-want +got):\n%s", diff)
	}

	err := h.Update(t.Context(), tok, sample(bob))
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Update to another person = %v, want a plain error", err)
	}
	if got := mustGet(t, h, tok).Identity.Subject; got != alice.Subject {
		t.Errorf("after refused Update the session belongs to %q", got)
	}

	if err := h.Delete(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if err := h.Update(t.Context(), tok, next); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update after Delete = %v, want ErrNotFound", err)
	}
	wantGone(t, h, tok) // and the Update did not bring it back
}

func testDelete(t *testing.T, h harness, _ *fakeClock) {
	tok := mustCreate(t, h, sample(alice))
	other := mustCreate(t, h, sample(alice))
	for i := range 2 {
		if err := h.Delete(t.Context(), tok); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := h.Delete(t.Context(), "not a token"); err != nil {
		t.Errorf("Delete(malformed) = %v, want nil", err)
	}
	wantGone(t, h, tok)
	mustGet(t, h, other)
	infos, err := h.ListUser(t.Context(), alice.UserKey())
	if err != nil || len(infos) != 1 || infos[0].ID != sessionID(other) {
		t.Errorf("ListUser after Delete = %v, %v; want only the other session", infos, err)
	}
}

func testBadTokens(t *testing.T, h harness, _ *fakeClock) {
	tok := mustCreate(t, h, sample(alice))
	unissued, err := newToken(newRules(Options{}).rand)
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(tok)
	flip[10] = 'A'
	if tok[10] == 'A' {
		flip[10] = 'B'
	}
	for name, bad := range map[string]string{
		"empty":            "",
		"short":            tok[:42],
		"long":             tok + "A",
		"padded":           tok + "=",
		"std alphabet":     strings.NewReplacer("-", "+", "_", "/").Replace(tok[:40]) + "+/+",
		"one char flipped": string(flip),
		"never issued":     unissued,
		"the session id":   sessionID(tok),
		"space":            " " + tok[1:],
	} {
		t.Run(name, func(t *testing.T) {
			wantGone(t, h, bad)
			if err := h.Update(t.Context(), bad, sample(alice)); !errors.Is(err, ErrNotFound) {
				t.Errorf("Update = %v, want ErrNotFound", err)
			}
		})
	}
	mustGet(t, h, tok) // positive control, and nothing above deleted it
}

func testSealedAtRest(t *testing.T, h harness, _ *fakeClock) {
	tok := mustCreate(t, h, sample(alice))
	raw := h.raw(t)
	// Positive control: the dump does hold the store's data.
	for _, want := range []string{sessionID(tok), alice.UserKey()} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Fatalf("raw store lacks %q: the dump is not seeing the data", want)
		}
	}
	s := sample(alice)
	for _, secret := range []string{tok, s.Identity.Email, s.Identity.Name, s.Identity.Subject,
		s.RefreshToken, s.IDToken, s.CSRF, s.Roles[0]} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("raw store contains %q in clear", secret)
		}
	}
}

func testPing(t *testing.T, h harness, _ *fakeClock) {
	if err := h.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
