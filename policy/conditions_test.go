package policy

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ory/ladon"
)

func TestWindowContains(t *testing.T) {
	berlin := mustZone("Europe/Berlin")
	l := &loader{file: "t"}
	w, ok := l.compileWindow(windowSpec{days: []item{{value: "mon-fri"}}, from: item{value: "08:00"}, to: item{value: "18:00"}, zone: item{value: "Europe/Berlin"}})
	if !ok || len(l.errs) > 0 {
		t.Fatalf("compileWindow: %v", l.errs)
	}
	allDay, _ := l.compileWindow(windowSpec{days: []item{{value: "sat"}, {value: "sun"}}, from: item{value: "00:00"}, to: item{value: "24:00"}, zone: item{value: "UTC"}})
	tests := []struct {
		name string
		w    window
		at   time.Time
		want bool
	}{
		{"opening minute is in", w, time.Date(2026, 12, 7, 8, 0, 0, 0, berlin), true},
		{"a second before opening is out", w, time.Date(2026, 12, 7, 7, 59, 59, 0, berlin), false},
		{"a second before closing is in", w, time.Date(2026, 12, 11, 17, 59, 59, 0, berlin), true},
		{"closing time is out", w, time.Date(2026, 12, 11, 18, 0, 0, 0, berlin), false},
		{"Saturday is out", w, time.Date(2026, 12, 12, 10, 0, 0, 0, berlin), false},
		{"read in the window's zone, not the request's", w, time.Date(2026, 12, 7, 7, 30, 0, 0, time.UTC), true},
		{"07:30 UTC in summer is 09:30 in Berlin", w, time.Date(2026, 7, 6, 7, 30, 0, 0, time.UTC), true},
		{"17:30 UTC in summer is 19:30 in Berlin", w, time.Date(2026, 7, 6, 17, 30, 0, 0, time.UTC), false},
		{"late Sunday UTC is in a weekend window to 24:00", allDay, time.Date(2026, 12, 13, 23, 59, 59, 0, time.UTC), true},
		{"Monday midnight UTC is out", allDay, time.Date(2026, 12, 14, 0, 0, 0, 0, time.UTC), false},
		{"Sunday 23:30 in New York is Monday in UTC", allDay, time.Date(2026, 12, 13, 23, 30, 0, 0, mustZone("America/New_York")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.contains(tc.at); got != tc.want {
				t.Errorf("contains(%v) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestDayRange(t *testing.T) {
	tests := []struct {
		in   string
		want []time.Weekday
		ok   bool
	}{
		{"mon", []time.Weekday{time.Monday}, true},
		{"mon-fri", []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, true},
		{"sat-sun", []time.Weekday{time.Saturday, time.Sunday}, true},
		{"mon-sun", []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}, true},
		{"fri-mon", nil, false},
		{"Mon", nil, false},
		{"monday", nil, false},
		{"mon-", nil, false},
	}
	for _, tc := range tests {
		bits, ok := dayRange(tc.in)
		var got []time.Weekday
		for d := time.Sunday; d <= time.Saturday; d++ {
			if bits&(1<<d) != 0 {
				got = append(got, d)
			}
		}
		if ok != tc.ok || !cmp.Equal(got, tc.want, cmpopts.SortSlices(func(a, b time.Weekday) bool { return a < b })) {
			t.Errorf("dayRange(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMFAFresh(t *testing.T) {
	now := testNow
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"never", time.Time{}, false},
		{"just now", now, true},
		{"exactly the window", now.Add(-5 * time.Minute), true},
		{"a nanosecond past it", now.Add(-5*time.Minute - 1), false},
		{"slightly in the future (clock skew)", now.Add(30 * time.Second), true},
		{"a minute in the future", now.Add(time.Minute), true},
		{"further in the future", now.Add(time.Minute + 1), false},
	}
	for _, tc := range tests {
		if got := mfaFresh(now, tc.at, 5*time.Minute); got != tc.want {
			t.Errorf("%s: mfaFresh = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSourceMatchesLadon: the index reads client addresses exactly as ladon's CIDRCondition
// does, including the forms where net and net/netip differ.
func TestSourceMatchesLadon(t *testing.T) {
	cidrs := []string{"10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "0.0.0.0/0", "::/0", "10.1.2.3/32"}
	addrs := []string{"", "10.1.2.3", "10.255.255.255", "11.0.0.0", "192.168.1.77", "192.168.2.1", "2001:db8::1",
		"2001:db9::1", "::ffff:10.1.2.3", "::ffff:192.168.1.1", "::1", "fe80::1%eth0", "0.0.0.0", "::"}
	matched := 0
	for _, cidr := range cidrs {
		p := netip.MustParsePrefix(cidr)
		for _, a := range addrs {
			addr := mustAddr(a)
			var value any
			if addr.IsValid() {
				value = addr.String()
			}
			want := (&ladon.CIDRCondition{CIDR: cidr}).Fulfills(context.Background(), value, &ladon.Request{})
			if got := sourceOK([]netip.Prefix{p}, addr); got != want {
				t.Errorf("%s in %s: index %v, ladon %v", a, cidr, got, want)
			}
			if want {
				matched++
			}
		}
	}
	if matched < 10 {
		t.Errorf("only %d matching pairs: the table tests too little", matched)
	}
}

func TestParamHelpers(t *testing.T) {
	for _, tc := range []struct {
		path string
		n    int
		want string
	}{
		{"/customers/42", 1, "42"}, {"/customers/42/orders/7", 3, "7"}, {"/customers/42", 2, ""}, {"/", 0, ""}, {"/a/", 1, ""},
	} {
		if got := nthSegment(tc.path, tc.n); got != tc.want {
			t.Errorf("nthSegment(%q, %d) = %q, want %q", tc.path, tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		pattern, path, want string
		ok                  bool
	}{
		{"/customers/{id}", "/customers/42", "42", true},
		{"/customers/{id}", "/customers/42/x", "", false},
		{"/customers/{id}", "/customers/", "", false},
		{"/customers/{id}/orders/**", "/customers/42/orders", "42", true},
		{"/customers/{id}/orders/**", "/customers/42/orders/a/b", "42", true},
		{"/customers/{id}/orders/**", "/customers/42/ordersX", "", false},
		{"/c/{x}/{id}", "/c/1/2", "2", true},
	} {
		got, ok := paramValue(patternSegments(tc.pattern), "id", tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("paramValue(%q, %q) = %q, %v; want %q, %v", tc.pattern, tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

// TestMFAFreshness: the example policy asks for a second factor within 5 minutes to refund or
// void and within 15 to touch settings. A stale factor is a denial that says so, with the
// window, and names the roles that may; a role without the route is not told to step up.
func TestMFAFreshness(t *testing.T) {
	e := loadExample(t)
	ask := func(method, path string, age time.Duration, roles ...string) Decision {
		t.Helper()
		r := Request{Method: method, Path: path, Roles: roles, Now: testNow, MFAAt: testNow.Add(-age)}
		if age < 0 {
			r.MFAAt = time.Time{}
		}
		d, err := e.Decide(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	managers := []string{"administrator", "billing_manager"}
	stale := func(policy, route string, window time.Duration, needed ...string) Decision {
		return Decision{Reason: ReasonMFAStale, PolicyID: policy, Route: route, MFAMaxAge: window, NeededRoles: needed, Version: e.Version()}
	}
	allowed := func(policy, route string) Decision {
		return Decision{Allow: true, Reason: ReasonAllowed, PolicyID: policy, Route: route, Version: e.Version()}
	}
	tests := []struct {
		name string
		got  Decision
		want Decision
	}{
		{"refund, factor 4m59s old", ask("POST", "/payments/7/refund", 4*time.Minute+59*time.Second, "billing_manager"),
			allowed("billing_manager:payments.refund:allow", "payments.refund")},
		{"refund, factor exactly 5m old", ask("POST", "/payments/7/refund", 5*time.Minute, "billing_manager"),
			allowed("billing_manager:payments.refund:allow", "payments.refund")},
		{"refund, factor 6m old", ask("POST", "/payments/7/refund", 6*time.Minute, "billing_manager"),
			stale("billing_manager:payments.refund:allow", "payments.refund", 5*time.Minute, managers...)},
		{"refund, no factor ever", ask("POST", "/payments/7/refund", -1, "administrator"),
			stale("administrator:payments.refund:allow", "payments.refund", 5*time.Minute, managers...)},
		{"void, factor 10m old", ask("POST", "/invoices/7/void", 10*time.Minute, "administrator", "billing_manager"),
			stale("administrator:invoices.void:allow", "invoices.void", 5*time.Minute, managers...)},
		{"edit needs no fresh factor", ask("POST", "/invoices/7/edit", time.Hour, "billing_manager"),
			allowed("billing_manager:invoices.edit:allow", "invoices.edit")},
		{"settings, factor 14m old", ask("POST", "/settings", 14*time.Minute, "administrator"),
			allowed("administrator:settings.write:allow", "settings.write")},
		{"settings, factor 16m old", ask("GET", "/settings", 16*time.Minute, "administrator"),
			stale("administrator:settings.read:allow", "settings.read", 15*time.Minute, "administrator")},
		{"a role without the route is not asked to step up", ask("POST", "/payments/7/refund", time.Hour, "support"),
			Decision{Reason: ReasonNoMatchingPolicy, NeededRoles: managers, Version: e.Version()}},
		{"fresh factor, wrong role: the roles that may", ask("POST", "/settings", 0, "support"),
			Decision{Reason: ReasonNoMatchingPolicy, NeededRoles: []string{"administrator"}, Version: e.Version()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// conditionPolicy grants by network, by ownership, and denies by network, each beside an
// unconditional grant that serves as the positive control.
const conditionPolicy = `version: 1
routes:
  - {name: home, methods: [GET], paths: ["/"]}
  - {name: customers.read, methods: [GET], paths: ["/customers/{id}", "/customers/{id}/orders/**"]}
  - {name: reports, methods: [GET], paths: ["/reports"]}
roles:
  sales:
    description: Own customers only
    allow:
      - home
      - customers.read: {owns: {param: id, list: customers}}
  office:
    description: Reports from the office network only
    allow:
      - home
      - reports: {source: ["10.0.0.0/8", "2001:db8::/32"]}
  guest:
    description: Reports, and never home from the guest network
    allow: [reports]
    deny:
      - home: {source: "192.168.0.0/16"}
`

func TestConditionDecisions(t *testing.T) {
	e := mustParse(t, conditionPolicy)
	mine := map[string][]string{"customers": {"1", "4"}}
	tests := []struct {
		name string
		r    Request
		want bool
	}{
		{"own customer", Request{Method: "GET", Path: "/customers/4", Roles: []string{"sales"}, Owns: mine}, true},
		{"own customer's orders", Request{Method: "GET", Path: "/customers/4/orders/9", Roles: []string{"sales"}, Owns: mine}, true},
		{"someone else's customer", Request{Method: "GET", Path: "/customers/2", Roles: []string{"sales"}, Owns: mine}, false},
		{"a prefix of an owned id is not owned", Request{Method: "GET", Path: "/customers/41", Roles: []string{"sales"}, Owns: mine}, false},
		{"no ownership lists", Request{Method: "GET", Path: "/customers/4", Roles: []string{"sales"}}, false},
		{"another list with the id", Request{Method: "GET", Path: "/customers/4", Roles: []string{"sales"}, Owns: map[string][]string{"orders": {"4"}}}, false},
		{"from the office", Request{Method: "GET", Path: "/reports", Roles: []string{"office"}, ClientIP: mustAddr("10.9.8.7")}, true},
		{"from the office over IPv6", Request{Method: "GET", Path: "/reports", Roles: []string{"office"}, ClientIP: mustAddr("2001:db8::5")}, true},
		{"IPv4-mapped office address", Request{Method: "GET", Path: "/reports", Roles: []string{"office"}, ClientIP: mustAddr("::ffff:10.9.8.7")}, true},
		{"from elsewhere", Request{Method: "GET", Path: "/reports", Roles: []string{"office"}, ClientIP: mustAddr("8.8.8.8")}, false},
		{"no client address", Request{Method: "GET", Path: "/reports", Roles: []string{"office"}}, false},
		{"deny from the guest network", Request{Method: "GET", Path: "/", Roles: []string{"guest", "office"}, ClientIP: mustAddr("192.168.3.3")}, false},
		{"deny does not apply elsewhere", Request{Method: "GET", Path: "/", Roles: []string{"guest", "office"}, ClientIP: mustAddr("10.0.0.1")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Now = testNow
			d, err := e.Decide(context.Background(), tc.r)
			if err != nil || d.Allow != tc.want {
				t.Fatalf("got %+v, %v; want allow=%v", d, err, tc.want)
			}
			if ladonAllows := ladonVerdict(t, e, tc.r) == verdictAllow; ladonAllows != tc.want {
				t.Errorf("ladon allows = %v", ladonAllows)
			}
		})
	}
}
