package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
)

// TestExportAndErase: the export holds what is stored about the person; erasure removes it
// from the directory and the session store, leaves a pseudonym in the trail, and both are
// audited without the person's data in the erasure record.
func TestExportAndErase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)
		u := e.addUser("leaver@example.com", directory.StatusActive, "support")
		e.openSessions(u, 2)
		if err := e.store.PutSecret(t.Context(), u.ID, "totp", []byte("sealed-secret")); err != nil {
			t.Fatal(err)
		}
		r := e.do(t, req{as: "admin", method: "GET", path: "/users/" + u.ID + "/export"})
		want(t, r, http.StatusOK)
		var x userExport
		r.json(t, &x)
		if x.Directory.User.Email != "leaver@example.com" || x.Directory.User.Subject != u.Subject || len(x.Sessions) != 2 ||
			len(x.Directory.Secrets) != 1 || x.Directory.Secrets[0].Value != "present" {
			t.Errorf("export %+v", x)
		}
		if strings.Contains(string(r.body), "sealed-secret") {
			t.Error("the export holds the secret")
		}
		if recs := e.audit.changes("user.export"); len(recs) != 1 || recs[0].Change.Target != u.ID {
			t.Errorf("export audit %+v", recs)
		}

		r = e.do(t, req{as: "admin", method: "POST", path: "/users/" + u.ID + "/erase"})
		want(t, r, http.StatusOK)
		var out struct{ Pseudonym string }
		r.json(t, &out)
		if !regexp.MustCompile(`^erased-[0-9a-f]{24}$`).MatchString(out.Pseudonym) {
			t.Fatalf("pseudonym %q", out.Pseudonym)
		}
		if _, err := e.store.GetUserByEmail(t.Context(), "leaver@example.com"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("the user is still in the directory: %v", err)
		}
		if e.liveSessions(u) != 0 {
			t.Error("sessions survived the erasure")
		}
		recs := e.audit.changes("user.erase")
		if len(recs) != 1 || recs[0].Change.Target != out.Pseudonym {
			t.Fatalf("erase audit %+v", recs)
		}
		b, _ := json.Marshal(recs[0])
		for _, personal := range []string{"leaver", u.ID, u.Subject} {
			if strings.Contains(string(b), personal) {
				t.Errorf("the erasure record names the person (%q): %s", personal, b)
			}
		}
		want(t, e.do(t, req{as: "admin", method: "POST", path: "/users/" + u.ID + "/erase"}), http.StatusNotFound)
		want(t, e.do(t, req{as: "admin", method: "GET", path: "/users/" + u.ID + "/export"}), http.StatusNotFound)

		// What the person created now names the pseudonym.
		other := e.addUser("other@example.com", directory.StatusActive, "administrator")
		e.signIn("other", other)
		e.token(t, "other", ScopeUsersRead)
		want(t, e.do(t, req{as: "admin", method: "POST", path: "/users/" + other.ID + "/erase"}), http.StatusOK)
		var toks struct{ Tokens []directory.APIToken }
		e.do(t, req{as: "admin", method: "GET", path: "/tokens"}).json(t, &toks)
		if n := len(toks.Tokens); n == 0 || !strings.HasPrefix(toks.Tokens[n-1].CreatedBy, "erased-") {
			t.Errorf("tokens %+v", toks.Tokens)
		}
	})
}

// TestInactiveJob: with a fake clock, accounts unseen for disable_inactive_after are
// disabled, their sessions end and each is audited; recent ones and the last administrator
// stay; a second run (another replica) finds nothing left to do.
func TestInactiveJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open, func(c *Config) { c.DisableInactiveAfter = Duration(90 * 24 * time.Hour) })
		old := e.addUser("old@example.com", directory.StatusActive, "support")
		e.openSessions(old, 2)
		e.clock.Advance(60 * 24 * time.Hour)
		recent := e.addUser("recent@example.com", directory.StatusActive, "support")
		e.clock.Advance(31 * 24 * time.Hour)

		n, err := e.h.DisableInactiveOnce(t.Context())
		if err != nil || n != 1 {
			t.Fatalf("disabled %d (%v), want 1", n, err)
		}
		if e.userByEmail("old@example.com").Status != directory.StatusDisabled {
			t.Error("the inactive user is still active")
		}
		if e.userByEmail("recent@example.com").Status != directory.StatusActive || e.userByEmail("admin@example.com").Status != directory.StatusActive {
			t.Error("a recent user or the last administrator was disabled")
		}
		if e.liveSessions(old) != 0 {
			t.Error("the disabled user's sessions survived")
		}
		recs := e.audit.changes("user.disable_inactive")
		if len(recs) != 1 || recs[0].Change.Target != old.ID || recs[0].User.ID != "tollgate" ||
			recs[0].Change.Before.(userView).Status != "active" || recs[0].Change.After.(userView).Status != "disabled" {
			t.Fatalf("audit %+v", recs)
		}
		if n, err := e.h.DisableInactiveOnce(t.Context()); err != nil || n != 0 {
			t.Errorf("second run disabled %d (%v)", n, err)
		}
		_ = recent

		// The loop runs at once and stops with its context.
		e.clock.Advance(90 * 24 * time.Hour)
		done := make(chan struct{})
		jobCtx, stop := context.WithCancel(t.Context())
		go func() { e.h.RunInactiveJob(jobCtx, time.Hour); close(done) }()
		deadline := time.Now().Add(10 * time.Second)
		for e.userByEmail("recent@example.com").Status != directory.StatusDisabled {
			if time.Now().After(deadline) {
				t.Fatal("the job did not run")
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		<-done
	})
}
