package directory

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

var userID = regexp.MustCompile(`^usr_[a-z2-7]{20}$`)

func testCreateAndGet(t *testing.T, h harness) {
	ctx := t.Context()
	got := mustCreate(t, h, User{
		Email: "  Ann.Smith@Billing.Example ", Name: "Ann Smith", Roles: []string{"sales_rep", "accountant", "sales_rep"},
		Status: StatusActive, InvitedBy: "cli", Issuer: "https://idp.example", Subject: "u-ann",
		Owns: map[string][]string{"customers": {"4", "1", "4"}, "empty": {}},
	})
	want := User{
		ID: got.ID, Email: "ann.smith@billing.example", Name: "Ann Smith", Roles: []string{"accountant", "sales_rep"},
		Status: StatusActive, CreatedAt: suiteStart.Truncate(time.Microsecond), InvitedBy: "cli",
		Issuer: "https://idp.example", Subject: "u-ann", Owns: map[string][]string{"customers": {"1", "4"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateUser (-want +got):\n%s", diff)
	}
	if !userID.MatchString(got.ID) {
		t.Errorf("id %q does not look like usr_ and 20 base32 characters", got.ID)
	}
	for name, read := range map[string]func() (User, error){
		"GetUser":          func() (User, error) { return h.GetUser(ctx, got.ID) },
		"GetUserByEmail":   func() (User, error) { return h.GetUserByEmail(ctx, "ANN.smith@billing.EXAMPLE") },
		"GetUserBySubject": func() (User, error) { return h.GetUserBySubject(ctx, "https://idp.example", "u-ann") },
	} {
		u, err := read()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, u); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// A user without roles, owns or binding, with the default status.
	bare := mustCreate(t, h, User{Email: "bare@billing.example"})
	if u := mustGet(t, h, bare.ID); u.Status != StatusInvited || u.Roles != nil || u.Owns != nil || u.Issuer != "" {
		t.Errorf("bare user = %+v; want invited with nil roles and owns, unbound", u)
	}
	if bare.ID == got.ID {
		t.Error("two users got the same id")
	}
	for name, err := range map[string]error{
		"GetUser":                 second(h.GetUser(ctx, "usr_nobody")),
		"GetUserByEmail":          second(h.GetUserByEmail(ctx, "nobody@billing.example")),
		"GetUserBySubject":        second(h.GetUserBySubject(ctx, "https://idp.example", "u-nobody")),
		"GetUserBySubject(empty)": second(h.GetUserBySubject(ctx, "", "")),
	} {
		wantErr(t, name, err, ErrNotFound)
	}
}

func second[T any](_ T, err error) error { return err }

func testDuplicateEmail(t *testing.T, h harness) {
	ctx := t.Context()
	ann := mustCreate(t, h, User{Email: "ann@billing.example", Issuer: "https://idp", Subject: "s-ann"})
	for _, email := range []string{"ann@billing.example", "ANN@Billing.Example", " ann@billing.example\t"} {
		_, err := h.CreateUser(ctx, User{Email: email})
		wantErr(t, "CreateUser("+email+")", err, ErrConflict)
	}
	_, err := h.CreateUser(ctx, User{Email: "other@billing.example", Issuer: "https://idp", Subject: "s-ann"})
	wantErr(t, "CreateUser with a taken identity", err, ErrConflict)

	bob := mustCreate(t, h, User{Email: "bob@billing.example"}) // positive control
	_, _, err = h.UpdateUser(ctx, bob.ID, func(u *User) error { u.Email = "Ann@BILLING.example"; return nil })
	wantErr(t, "UpdateUser to a taken email", err, ErrConflict)
	if u := mustGet(t, h, bob.ID); u.Email != "bob@billing.example" {
		t.Errorf("bob's email after refused update = %q", u.Email)
	}
	if _, _, err := h.UpdateUser(ctx, bob.ID, func(u *User) error { u.Email = "Robert@Billing.Example"; return nil }); err != nil {
		t.Errorf("UpdateUser to a free email: %v", err)
	}
	if u := mustGet(t, h, ann.ID); u.Email != "ann@billing.example" {
		t.Errorf("ann changed: %+v", u)
	}
}

func testInvalidUsers(t *testing.T, h harness) {
	ctx := t.Context()
	for name, u := range map[string]User{
		"no email":              {},
		"not an email":          {Email: "ann"},
		"display name":          {Email: "Ann <ann@billing.example>"},
		"two addresses":         {Email: "ann@billing.example, bob@billing.example"},
		"unknown status":        {Email: "ann@billing.example", Status: "superuser"},
		"role with a comma":     {Email: "ann@billing.example", Roles: []string{"a,b"}},
		"empty role":            {Email: "ann@billing.example", Roles: []string{""}},
		"role with a space":     {Email: "ann@billing.example", Roles: []string{"sales rep"}},
		"control in name":       {Email: "ann@billing.example", Name: "Ann\r\nX-Admin: 1"},
		"issuer without sub":    {Email: "ann@billing.example", Issuer: "https://idp"},
		"subject without iss":   {Email: "ann@billing.example", Subject: "s"},
		"empty ownership value": {Email: "ann@billing.example", Owns: map[string][]string{"customers": {""}}},
		"bad ownership kind":    {Email: "ann@billing.example", Owns: map[string][]string{"a b": {"1"}}},
		"id set by caller":      {Email: "ann@billing.example", ID: "usr_mine"},
		"created set by caller": {Email: "ann@billing.example", CreatedAt: suiteStart},
		"long name":             {Email: "ann@billing.example", Name: strings.Repeat("x", maxText+1)},
	} {
		_, err := h.CreateUser(ctx, u)
		wantErr(t, name, err, ErrInvalid)
	}
	if users, _, err := h.ListUsers(ctx, Filter{}); err != nil || len(users) != 0 {
		t.Errorf("after refused creates: ListUsers = %v, %v; want none", users, err)
	}
	mustCreate(t, h, User{Email: "ann@billing.example", Name: "Ann Ünïcode", Roles: []string{"billing_manager"}}) // control
}

func testUpdateUser(t *testing.T, h harness) {
	ctx := t.Context()
	orig := mustCreate(t, h, User{Email: "ann@billing.example", Name: "Ann", Roles: []string{"support"}, Status: StatusActive})
	before, after, err := h.UpdateUser(ctx, orig.ID, func(u *User) error {
		u.Name = "Ann Smith"
		u.Roles = append(u.Roles, "accountant", "accountant")
		u.Owns = map[string][]string{"customers": {"7"}}
		u.MFAEnrolled = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(orig, before); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	want := orig
	want.Name, want.Roles, want.Owns, want.MFAEnrolled = "Ann Smith", []string{"accountant", "support"}, map[string][]string{"customers": {"7"}}, true
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("after (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, mustGet(t, h, orig.ID)); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}

	// A failing function abandons everything it changed.
	boom := errors.New("boom")
	_, _, err = h.UpdateUser(ctx, orig.ID, func(u *User) error { u.Name, u.Roles = "X", nil; return boom })
	wantErr(t, "fn error", err, boom)
	for name, fn := range map[string]func(*User){
		"id":         func(u *User) { u.ID = "usr_other" },
		"created_at": func(u *User) { u.CreatedAt = u.CreatedAt.Add(time.Hour) },
		"last_seen":  func(u *User) { u.LastSeen = suiteStart },
		"bad email":  func(u *User) { u.Email = "nope" },
		"bad status": func(u *User) { u.Status = "gone" },
	} {
		_, _, err := h.UpdateUser(ctx, orig.ID, func(u *User) error { u.Name = "X"; fn(u); return nil })
		wantErr(t, "change "+name, err, ErrInvalid)
	}
	if diff := cmp.Diff(want, mustGet(t, h, orig.ID)); diff != "" {
		t.Errorf("stored after refused updates (-want +got):\n%s", diff)
	}
	_, _, err = h.UpdateUser(ctx, "usr_nobody", func(*User) error { return nil })
	wantErr(t, "unknown user", err, ErrNotFound)
}

func testBindIdentity(t *testing.T, h harness) {
	ctx := t.Context()
	ann := mustCreate(t, h, User{Email: "ann@billing.example"})
	bob := mustCreate(t, h, User{Email: "bob@billing.example"})
	if err := h.BindIdentity(ctx, ann.ID, "https://idp", "s-ann"); err != nil {
		t.Fatal(err)
	}
	if err := h.BindIdentity(ctx, ann.ID, "https://idp", "s-ann"); err != nil {
		t.Errorf("binding again to the same account: %v", err)
	}
	wantErr(t, "rebind to another subject", h.BindIdentity(ctx, ann.ID, "https://idp", "s-mallory"), ErrConflict)
	wantErr(t, "rebind to another issuer", h.BindIdentity(ctx, ann.ID, "https://evil", "s-ann"), ErrConflict)
	wantErr(t, "bind bob to ann's account", h.BindIdentity(ctx, bob.ID, "https://idp", "s-ann"), ErrConflict)
	wantErr(t, "unknown user", h.BindIdentity(ctx, "usr_nobody", "https://idp", "s-x"), ErrNotFound)
	wantErr(t, "empty subject", h.BindIdentity(ctx, bob.ID, "https://idp", ""), ErrInvalid)
	if u, err := h.GetUserBySubject(ctx, "https://idp", "s-ann"); err != nil || u.ID != ann.ID {
		t.Errorf("GetUserBySubject = %v, %v; want ann", u.ID, err)
	}
	if u := mustGet(t, h, bob.ID); u.Issuer != "" || u.Subject != "" {
		t.Errorf("bob got bound: %+v", u)
	}
	if err := h.BindIdentity(ctx, bob.ID, "https://idp", "s-bob"); err != nil { // control
		t.Errorf("bind bob: %v", err)
	}
}

func testLoginAndSeen(t *testing.T, h harness) {
	ctx := t.Context()
	ann := mustCreate(t, h, User{Email: "ann@billing.example", Status: StatusActive})
	t0 := suiteStart.Add(time.Hour)
	if err := h.RecordLogin(ctx, ann.ID, t0); err != nil {
		t.Fatal(err)
	}
	seen := func() (time.Time, time.Time) { u := mustGet(t, h, ann.ID); return u.LastLogin, u.LastSeen }
	if login, last := seen(); !login.Equal(stamp(t0)) || !last.Equal(stamp(t0)) {
		t.Errorf("after login: last_login %v, last_seen %v; want both %v", login, last, t0)
	}
	steps := []struct {
		at   time.Duration
		want time.Duration // expected last_seen, from t0
	}{
		{30 * time.Second, 0},                  // within the minute: no write
		{59 * time.Second, 0},                  // still within
		{61 * time.Second, 61 * time.Second},   // due
		{-10 * time.Minute, 61 * time.Second},  // never backwards
		{122 * time.Second, 122 * time.Second}, // due again
	}
	for _, s := range steps {
		if err := h.TouchSeen(ctx, ann.ID, t0.Add(s.at)); err != nil {
			t.Fatal(err)
		}
		if _, last := seen(); !last.Equal(stamp(t0.Add(s.want))) {
			t.Errorf("TouchSeen(t0%+v): last_seen = %v, want t0%+v", s.at, last, s.want)
		}
	}
	if login, _ := seen(); !login.Equal(stamp(t0)) {
		t.Errorf("TouchSeen changed last_login to %v", login)
	}
	if err := h.TouchSeen(ctx, "usr_nobody", t0); err != nil {
		t.Errorf("TouchSeen(unknown) = %v; want nil", err)
	}
	wantErr(t, "RecordLogin(unknown)", h.RecordLogin(ctx, "usr_nobody", t0), ErrNotFound)
}

// Without randomness the store issues nothing: no user, token or invitation gets a guessable
// or empty id or secret.
func TestNoRandomnessNoIssue(t *testing.T) {
	ctx := t.Context()
	noEntropy := errors.New("no entropy")
	st, err := OpenSQLite(ctx, t.TempDir()+"/d.db", StoreOptions{Rand: iotest.ErrReader(noEntropy)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	_, err = st.CreateUser(ctx, User{Email: "ann@billing.example"})
	wantErr(t, "CreateUser", err, noEntropy)
	_, _, err = st.CreateAPIToken(ctx, APIToken{Name: "n", Scopes: []string{"x"}})
	wantErr(t, "CreateAPIToken", err, noEntropy)
	if raw := rawTables(t, st); strings.Contains(raw, "users:") || strings.Contains(raw, "api_tokens:") {
		t.Errorf("something was stored:\n%s", raw)
	}
}
