package proxy

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/racetest"
)

func TestSafeRedirect(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Positive controls: same-origin paths survive, in canonical form.
		{"/", "/"},
		{"/invoices/1001", "/invoices/1001"},
		{"/invoices?status=open&page=2", "/invoices?status=open&page=2"},
		{"/customers/%7Ealice", "/customers/~alice"},
		{"//invoices", "/"},
		// Everything that could leave the origin, in any spelling, becomes "/".
		{"", "/"},
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\/evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{" /evil", "/"},
		{"https://evil.example", "/"},
		{"http:/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"//user@evil.example/", "/"},
		{"/%2F/evil.example", "/"},
		{"/%5Cevil.example", "/"},
		{"/%09/evil.example", "/"},
		{"/..//evil.example", "/"},
		{"/_tollgate/logout", "/"},
		{"/_tollgate/invite?token=x", "/"},
		{"/_tollgate/admin/", "/_tollgate/admin/"},
		{"/_tollgate/account", "/_tollgate/account"},
		{"/_tollgate/accountx", "/"},
		{"/_tollgate/callback?code=x", "/"},
		{"/a\x00b", "/"},
		{"/é", "/"},
	} {
		if got := safeRedirect(tc.in); got != tc.want {
			t.Errorf("safeRedirect(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHeaderStripperMatchesEverySpelling(t *testing.T) {
	s := newHeaderStripper(HeaderConfig{User: "X-Remote-User", Email: "X-Tollgate-Email", Name: "X-Tollgate-Name", Roles: "X-Tollgate-Roles", CSRF: "X-Tollgate-Csrf"})
	for _, name := range []string{
		"X-Remote-User", "x-remote-user", "X_REMOTE_USER", "X-Remote_User", " X-Remote-User",
		"X-Tollgate-Email", "x_tollgate_roles", "X-Tollgate-Anything", "X-Original-URL", "x_forwarded_for",
		"X-HTTP-Method-Override", "Forwarded", "X-Real-Ip",
	} {
		if !s.matches(name) {
			t.Errorf("%q is not stripped", name)
		}
	}
	for _, name := range []string{"Accept", "Cookie", "X-Remote", "X-Custom-User", "Authorization", "User-Agent"} {
		if s.matches(name) {
			t.Errorf("%q is stripped but is not ours", name)
		}
	}
}

// TestHeaderStripperAgreesWithItsReference holds the allocation-free matcher to
// normalizeHeaderName on awkward and random names, non-ASCII folding (the Kelvin sign lowers
// to "k") and names longer than its buffer included.
func TestHeaderStripperAgreesWithItsReference(t *testing.T) {
	s := newHeaderStripper(HeaderConfig{User: "X-Remote-User", Email: "X-Tollgate-Email", Name: "X-Tollgate-Name", Roles: "X-Tollgate-Roles", CSRF: "X-Tollgate-Csrf"})
	reference := func(name string) bool {
		n := normalizeHeaderName(name)
		return s.names[n] || strings.HasPrefix(n, "x-tollgate-")
	}
	names := []string{"", " ", "X-Remote-User\t", "X-Remote-Us\u212aer", "X-Tollgate-\u212aey", "x-remote-\u0130ser",
		"X-Tollgate-" + strings.Repeat("A", 80), strings.Repeat("x", 70), "X_tollgate_", "\xffX-Remote-User"}
	rng := rand.New(rand.NewPCG(5, 6))
	const alphabet = "xX-_ tollgateTOLLGATEremoteREMOTEuserUSER\u212a\u0130"
	runes := []rune(alphabet)
	for range 20000 {
		b := make([]rune, rng.IntN(20))
		for i := range b {
			b[i] = runes[rng.IntN(len(runes))]
		}
		names = append(names, string(b), "X-Tollgate-"+string(b), "X_Remote_"+string(b))
	}
	matched := 0
	for _, name := range names {
		got, want := s.matches(name), reference(name)
		if got != want {
			t.Fatalf("matches(%q) = %v, reference says %v", name, got, want)
		}
		if got {
			matched++
		}
	}
	if matched < 1000 {
		t.Fatalf("only %d of %d names matched: the generator does not reach the rule", matched, len(names))
	}
}

func TestHeaderMatchingDoesNotAllocate(t *testing.T) {
	racetest.SkipAllocationCheck(t)
	s := newHeaderStripper(HeaderConfig{User: "X-Remote-User", Email: "X-Tollgate-Email", Name: "X-Tollgate-Name", Roles: "X-Tollgate-Roles", CSRF: "X-Tollgate-Csrf"})
	for _, name := range []string{"X-Tollgate-Email", "x_remote_user", "Accept-Language"} {
		if n := testing.AllocsPerRun(100, func() { s.matches(name) }); n != 0 {
			t.Errorf("matches(%q) allocates %v times per call", name, n)
		}
	}
}

// FuzzSafeRedirect: whatever rd holds, the result is a path on the gate's own origin.
func FuzzSafeRedirect(f *testing.F) {
	for _, s := range []string{"/", "/invoices?x=1", "//evil", "/\\evil", "https://evil", "/%2F/evil", "/\t/evil",
		"/_tollgate/admin/", "/..//evil", "javascript:x", "/a%00b", "/%E2%80%8B//evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rd string) {
		got := safeRedirect(rd)
		if got == "" || got[0] != '/' || (len(got) > 1 && (got[1] == '/' || got[1] == '\\')) {
			t.Fatalf("safeRedirect(%q) = %q leaves the origin", rd, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] <= ' ' || got[i] == 0x7f || got[i] == '\\' || got[i] >= 0x80 {
				t.Fatalf("safeRedirect(%q) = %q holds byte %#x", rd, got, got[i])
			}
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			t.Fatalf("safeRedirect(%q) = %q parses as %+v (%v)", rd, got, u, err)
		}
	})
}
