package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testLastAdmin(t *testing.T, h harness) {
	ctx := t.Context()
	changes := []struct {
		name string
		do   func(id string) error
	}{
		{"disable", func(id string) error { return update(h, id, func(u *User) { u.Status = StatusDisabled }) }},
		{"back to invited", func(id string) error { return update(h, id, func(u *User) { u.Status = StatusInvited }) }},
		{"remove role", func(id string) error { return update(h, id, func(u *User) { u.Roles = []string{"support"} }) }},
		{"delete", func(id string) error { return second(h.DeleteUser(ctx, id)) }},
		{"erase", func(id string) error { return h.EraseUser(ctx, id, "p-1") }},
		{"disable inactive", func(string) error {
			h.clock.Advance(24 * time.Hour)
			_, err := h.DisableInactive(ctx, h.clock.Now())
			return err
		}},
	}
	for i, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			first := admin(t, h, fmt.Sprintf("first%d@billing.example", i))
			// Holders of the role who are not active do not count.
			mustCreate(t, h, User{Email: fmt.Sprintf("gone%d@billing.example", i), Roles: []string{suiteAdmin}, Status: StatusDisabled})
			mustCreate(t, h, User{Email: fmt.Sprintf("new%d@billing.example", i), Roles: []string{suiteAdmin}})

			err := c.do(first.ID)
			if c.name == "disable inactive" {
				// Nothing fails: the last administrator is simply kept.
				if err != nil {
					t.Fatal(err)
				}
			} else {
				wantErr(t, c.name+" the last admin", err, ErrLastAdmin)
			}
			if u := mustGet(t, h, first.ID); !h.activeAdmin(u) {
				t.Fatalf("the last admin is no longer one: %+v", u)
			}
			// Positive control: with a second active administrator the same change passes.
			other := admin(t, h, fmt.Sprintf("second%d@billing.example", i))
			if c.name == "disable inactive" {
				if err := h.RecordLogin(ctx, other.ID, h.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.do(first.ID); err != nil {
				t.Fatalf("%s with a second admin: %v", c.name, err)
			}
			if u, err := h.GetUser(ctx, first.ID); err == nil && h.activeAdmin(u) {
				t.Errorf("%s with a second admin did nothing: %+v", c.name, u)
			}
			if n, err := h.CountActiveAdmins(ctx); err != nil || n != 1 {
				t.Errorf("CountActiveAdmins = %d, %v; want 1", n, err)
			}
			// Leave the next case with no active administrator but its own.
			if _, err := h.DeleteUser(ctx, other.ID); !errors.Is(err, ErrLastAdmin) {
				t.Errorf("delete the remaining admin: %v; want ErrLastAdmin", err)
			}
			if err := h.EraseUser(ctx, other.ID, ""); !errors.Is(err, ErrLastAdmin) {
				t.Errorf("erase the remaining admin: %v; want ErrLastAdmin", err)
			}
			h.deleteRaw(t, other.ID)
		})
	}
	// Changes to others are not held up by the rule.
	someone := mustCreate(t, h, User{Email: "someone@billing.example", Roles: []string{"support"}, Status: StatusActive})
	if err := update(h, someone.ID, func(u *User) { u.Status = StatusDisabled }); err != nil {
		t.Errorf("disable a non-admin: %v", err)
	}
}

// deleteRaw removes a user behind the store's back (past the last-admin rule), so that the
// next case starts without an active administrator.
func (h harness) deleteRaw(t *testing.T, id string) {
	t.Helper()
	if _, err := h.exec(t.Context(), h.w, "DELETE FROM users WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	if n, err := h.CountActiveAdmins(t.Context()); err != nil || n != 0 {
		t.Fatalf("CountActiveAdmins = %d, %v; want 0", n, err)
	}
}

func update(h harness, id string, fn func(*User)) error {
	_, _, err := h.UpdateUser(context.Background(), id, func(u *User) error { fn(u); return nil })
	return err
}

func testLastAdminRace(t *testing.T, h harness) {
	ctx := t.Context()
	a := admin(t, h, "a@billing.example")
	b := admin(t, h, "b@billing.example")
	ids := []string{a.ID, b.ID}
	for round := range 5 {
		errs := race(2, func(i int) error {
			return update(h, ids[i], func(u *User) { u.Status = StatusDisabled })
		})
		var ok, refused int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrLastAdmin):
				refused++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: %d succeeded and %d were refused (%v); want one each", round, ok, refused, errs)
		}
		if n, err := h.CountActiveAdmins(ctx); err != nil || n != 1 {
			t.Fatalf("round %d: CountActiveAdmins = %d, %v; want 1", round, n, err)
		}
		// Bring the disabled one back for the next round.
		for _, id := range ids {
			if err := update(h, id, func(u *User) { u.Status = StatusActive }); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func testDisableInactive(t *testing.T, h harness) {
	ctx := t.Context()
	mk := func(email string, status Status, roles ...string) User {
		return mustCreate(t, h, User{Email: email, Status: status, Roles: roles})
	}
	oldAdmin := mk("old-admin@billing.example", StatusActive, suiteAdmin)
	neverSeen := mk("never@billing.example", StatusActive)
	invited := mk("invited@billing.example", StatusInvited)
	h.clock.Advance(time.Hour)
	staleAdmin := mk("stale-admin@billing.example", StatusActive, suiteAdmin, "support")
	stale := mk("stale@billing.example", StatusActive, "sales_rep")
	fresh := mk("fresh@billing.example", StatusActive)
	for _, s := range []struct {
		u  User
		at time.Duration
	}{{oldAdmin, time.Hour}, {staleAdmin, 2 * time.Hour}, {stale, 3 * time.Hour}, {fresh, 50 * time.Hour}} {
		if err := h.RecordLogin(ctx, s.u.ID, suiteStart.Add(s.at)); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := suiteStart.Add(48 * time.Hour)
	got, err := h.DisableInactive(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	// Oldest activity first; the most recently seen admin stays as the last one.
	want := []string{neverSeen.ID, oldAdmin.ID, stale.ID}
	if diff := cmp.Diff(want, ids(got)); diff != "" {
		t.Errorf("disabled (-want +got):\n%s", diff)
	}
	for _, u := range got {
		if u.Status != StatusDisabled {
			t.Errorf("returned %s with status %s", u.Email, u.Status)
		}
	}
	wantStatus := map[string]Status{
		oldAdmin.ID: StatusDisabled, neverSeen.ID: StatusDisabled, stale.ID: StatusDisabled,
		staleAdmin.ID: StatusActive, invited.ID: StatusInvited, fresh.ID: StatusActive,
	}
	for id, st := range wantStatus {
		if u := mustGet(t, h, id); u.Status != st {
			t.Errorf("%s: status %s, want %s", u.Email, u.Status, st)
		}
	}
	if again, err := h.DisableInactive(ctx, cutoff); err != nil || len(again) != 0 {
		t.Errorf("second run = %v, %v; want nothing", ids(again), err)
	}
	// Positive control: once another admin is active, the stale one goes too.
	newAdmin := admin(t, h, "new-admin@billing.example")
	if err := h.RecordLogin(ctx, newAdmin.ID, suiteStart.Add(50*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := h.DisableInactive(ctx, cutoff); err != nil || !slices.Equal(ids(got), []string{staleAdmin.ID}) {
		t.Errorf("with a fresh admin: disabled %v, %v; want the stale admin", ids(got), err)
	}
}

func ids(us []User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func testDisableInactiveRace(t *testing.T, h harness) {
	var want []string
	for i := range 10 {
		want = append(want, mustCreate(t, h, User{Email: fmt.Sprintf("u%d@billing.example", i), Status: StatusActive}).ID)
	}
	results := make([][]User, 2)
	errs := race(2, func(i int) error {
		var err error
		results[i], err = h.DisableInactive(context.Background(), suiteStart.Add(time.Hour))
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := append(ids(results[0]), ids(results[1])...)
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users disabled by both runs together, each once (-want +got):\n%s", diff)
	}
}
