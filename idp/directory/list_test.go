package directory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testListPaging(t *testing.T, h harness) {
	ctx := t.Context()
	const total = 120
	var want []string
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(total) {
		email := fmt.Sprintf("user%03d@billing.example", i)
		mustCreate(t, h, User{Email: email, Name: fmt.Sprintf("User %d", i)})
		want = append(want, email)
	}
	sort.Strings(want)

	var got []string
	cursor, pages := "", 0
	for {
		page, next, err := h.ListUsers(ctx, Filter{Limit: 7, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page) > 7 || (next != "" && len(page) != 7) {
			t.Fatalf("page %d has %d users, next %q", pages, len(page), next)
		}
		for _, u := range page {
			got = append(got, u.Email)
		}
		if next == "" {
			break
		}
		// Someone signing up mid-listing, before the cursor, does not shift what follows.
		if pages == 3 {
			mustCreate(t, h, User{Email: "aaa-late@billing.example"})
		}
		cursor = next
		if pages > total {
			t.Fatal("paging does not end")
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paged emails: no duplicates, none missing, in order (-want +got):\n%s", diff)
	}
	if pages != (total+6)/7 {
		t.Errorf("%d pages, want %d", pages, (total+6)/7)
	}

	for _, c := range []struct {
		limit, want int
		more        bool
	}{{0, DefaultPageSize, true}, {-3, DefaultPageSize, true}, {total + 1, total + 1, false}, {MaxPageSize + 1, total + 1, false}} {
		page, next, err := h.ListUsers(ctx, Filter{Limit: c.limit})
		if err != nil || len(page) != c.want || (next != "") != c.more {
			t.Errorf("Limit %d: %d users, next %q, %v; want %d users, more %v", c.limit, len(page), next, err, c.want, c.more)
		}
	}
	_, _, err := h.ListUsers(ctx, Filter{Cursor: "not base64!"})
	wantErr(t, "bad cursor", err, ErrInvalid)
}

func testListFilters(t *testing.T, h harness) {
	ctx := t.Context()
	mk := func(email, name string, status Status, roles ...string) string {
		return mustCreate(t, h, User{Email: email, Name: name, Status: status, Roles: roles}).Email
	}
	ann := mk("ann@billing.example", "Ann Ångström", StatusActive, "accountant", "support")
	bob := mk("bob@billing.example", "Bob 100% Real", StatusActive, "sales_rep")
	cid := mk("cid_x@other.example", "Cid", StatusInvited, "accountant")
	dan := mk("dan@billing.example", "Dan", StatusDisabled)
	h.clock.Advance(2 * time.Hour)
	eve := mk("eve@billing.example", "Eve", StatusActive, "accountant")
	annUser, err := h.GetUserByEmail(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.RecordLogin(ctx, annUser.ID, suiteStart.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"everyone", Filter{}, []string{ann, bob, cid, dan, eve}},
		{"role", Filter{Role: "accountant"}, []string{ann, cid, eve}},
		{"status", Filter{Status: StatusActive}, []string{ann, bob, eve}},
		{"role and status", Filter{Role: "accountant", Status: StatusActive}, []string{ann, eve}},
		{"inactive since", Filter{InactiveSince: suiteStart.Add(time.Hour)}, []string{bob, cid, dan}},
		{"query on email, any case", Filter{Query: "OTHER.example"}, []string{cid}},
		{"query on name beyond ASCII", Filter{Query: "åNGSTRÖM"}, []string{ann}},
		{"query % is literal", Filter{Query: "100%"}, []string{bob}},
		{"query _ is literal", Filter{Query: "d_x"}, []string{cid}},
		{"query _ matches no other character", Filter{Query: "n_b"}, nil},
		{"query and role", Filter{Query: "billing", Role: "accountant"}, []string{ann, eve}},
		{"role nobody holds", Filter{Role: "administrator"}, nil},
	} {
		users, next, err := h.ListUsers(ctx, c.f)
		if err != nil || next != "" {
			t.Errorf("%s: next %q, %v", c.name, next, err)
			continue
		}
		var got []string
		for _, u := range users {
			got = append(got, u.Email)
		}
		if !slices.Equal(c.want, got) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	for name, f := range map[string]Filter{
		"bad status": {Status: "gone"},
		"bad role":   {Role: "a role"},
	} {
		_, _, err := h.ListUsers(ctx, f)
		wantErr(t, name, err, ErrInvalid)
	}
}
