package policy

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ory/ladon"
)

// requestGen builds random requests from a policy's own vocabulary plus garbage: real paths
// from the templates, near misses made by editing them, non-canonical variants, and a request
// context (client address, time, age of the second factor, ownership lists) drawn from values
// on both sides of every condition's edges.
type requestGen struct {
	rnd      *rand.Rand
	policies []ladon.Policy
	roles    []string
	methods  []string
	literals []string // literal segments of the templates
	values   []string // canonical values for "{name}"
	garbage  []string // non-canonical segments
	samples  []string // paths for templates that are expressions
	ips      []netip.Addr
	times    []time.Time
	mfaAges  []time.Duration
	owns     []map[string][]string
}

// never stands for "no second factor" among the MFA ages.
const never = time.Duration(-1 << 62)

func newRequestGen(e *Engine, seed uint64, samples ...string) *requestGen {
	berlin, ny, tokyo := mustZone("Europe/Berlin"), mustZone("America/New_York"), mustZone("Asia/Tokyo")
	g := &requestGen{
		rnd:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		roles:   append(e.Roles(), "intern", "", "Administrator", "viewer<", "contractor", "contractor_bob", "auditor\n", "sales"),
		methods: []string{"GET", "POST", "PUT", "HEAD", "DELETE", "PATCH", "get", "Post", "", "G T", "GET\n"},
		values: []string{"1", "42", "INV-7", "a~b", "x.y", "%20", "%C3%A9", "%c3%a9", "*", "customersX", "payroll", "secret", "export.csv", "7.csv",
			"ceo@corp", "ceo%40corp", "ann%40corp", "a+b", "a%2Bb", "a%2b", "x:y", "q1%2Cq2", "%3A", "%2A", "%22"},
		garbage: []string{
			"", ".", "..", "%2F", "%2f", "%5C", "%25", "%41", "%2e", "%0A", "%C0%AF", "%zz",
			"a;b", "a?b", "?", "#", "a b", "\n", "\x00", "é", "<x>", "\\",
		},
		samples: samples,
		times: []time.Time{
			testNow, // Tuesday 10:30 in Berlin
			time.Date(2026, 12, 8, 19, 0, 0, 0, berlin),
			time.Date(2026, 12, 12, 11, 0, 0, 0, berlin), // Saturday
			time.Date(2026, 12, 13, 23, 30, 0, 0, time.UTC),
			time.Date(2026, 12, 7, 7, 59, 59, 0, berlin),
			time.Date(2026, 12, 7, 8, 0, 0, 0, berlin),
			time.Date(2026, 12, 11, 17, 59, 59, 0, berlin),
			time.Date(2026, 12, 11, 18, 0, 0, 0, berlin),
			time.Date(2026, 12, 9, 23, 0, 0, 0, ny),
			time.Date(2026, 12, 10, 3, 0, 0, 0, ny),
			time.Date(2026, 12, 10, 6, 0, 0, 0, ny),
			time.Date(2026, 12, 7, 9, 0, 0, 0, tokyo),
			time.Date(2026, 12, 11, 16, 59, 59, 0, tokyo),
			time.Date(2026, 12, 11, 17, 0, 0, 0, tokyo),
			time.Date(2026, 3, 29, 2, 30, 0, 0, berlin), // in the hour daylight saving time skips
			{}, // the engine's clock
		},
		mfaAges: []time.Duration{never, 0, time.Minute, 4*time.Minute + 59*time.Second, 5 * time.Minute,
			5*time.Minute + time.Second, 9 * time.Minute, 10*time.Minute + time.Second, 15 * time.Minute,
			16 * time.Minute, -30 * time.Second, -61 * time.Second, time.Hour},
		owns: []map[string][]string{nil, {"customers": {"1", "42"}}, {"customers": {"INV-7", "export.csv"}}, {"customers": {"42"}},
			{"customers": {}}, {"orders": {"1"}}, {"customers": {"ceo@corp", "a+b"}}, {"customers": {"ceo%40corp"}}},
	}
	for _, ip := range []string{"", "10.1.2.3", "10.200.0.9", "192.168.1.5", "172.16.0.1", "8.8.8.8", "2001:db8::1",
		"2001:db9::1", "::ffff:10.1.2.3", "::ffff:192.168.1.5", "fe80::1%eth0", "::1"} {
		g.ips = append(g.ips, mustAddr(ip))
	}
	seen := map[string]bool{}
	for _, id := range slices.Sorted(maps.Keys(e.manager.Policies)) {
		g.policies = append(g.policies, e.manager.Policies[id])
		for _, tpl := range e.manager.Policies[id].GetResources() {
			for _, s := range strings.Split(tpl, "/") {
				if s != "" && !strings.ContainsAny(s, "<>") && !seen["lit:"+s] {
					seen["lit:"+s] = true
					g.literals = append(g.literals, s)
				}
			}
		}
	}
	return g
}

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func (g *requestGen) pick(list []string) string { return list[g.rnd.IntN(len(list))] }

// literalsOf drops templates from a policy's list.
func literalsOf(list []string) []string {
	var out []string
	for _, s := range list {
		if !isTemplate(s) {
			out = append(out, s)
		}
	}
	return out
}

func (g *requestGen) next() Request {
	// Start from a policy so that most requests come close to one: usually its method and
	// often its role, plus up to two other roles.
	p := g.policies[g.rnd.IntN(len(g.policies))]
	method := g.pick(g.methods)
	if actions := literalsOf(p.GetActions()); len(actions) > 0 && g.rnd.IntN(10) < 7 {
		method = g.pick(actions)
	}
	var roles []string
	if subjects := literalsOf(p.GetSubjects()); len(subjects) > 0 && g.rnd.IntN(10) < 6 {
		roles = append(roles, g.pick(subjects))
	}
	for range g.rnd.IntN(3) {
		roles = append(roles, g.pick(g.roles))
	}
	g.rnd.Shuffle(len(roles), func(i, j int) { roles[i], roles[j] = roles[j], roles[i] })
	// A real path: one of its templates with the placeholders filled in, or a sample path
	// for an expression.
	path := g.pick(p.GetResources())
	if _, ok := segmentForm(path); isTemplate(path) && !ok {
		path = g.pick(g.samples)
	}
	owns := g.owns[g.rnd.IntN(len(g.owns))]
	value := g.pick(g.values)
	if list := owns["customers"]; len(list) > 0 && g.rnd.IntN(2) == 0 {
		value = g.pick(list) // an id the user owns
	}
	path = strings.ReplaceAll(path, oneSegment, value)
	path = strings.ReplaceAll(path, anySegments, g.pick([]string{"", "/", "/a", "/secret", "/secret/b/c", "/x/7.csv"}))
	segs := strings.Split(path, "/")
	switch g.rnd.IntN(10) {
	case 0, 1, 2, 3: // as is
	case 4: // another literal in one place
		segs[g.rnd.IntN(len(segs))] = g.pick(g.literals)
	case 5: // one segment more
		segs = append(segs, g.pick(append(g.values, g.literals...)))
	case 6: // one segment less, or a trailing slash
		if len(segs) > 2 && g.rnd.IntN(2) == 0 {
			segs = segs[:len(segs)-1]
		} else {
			segs = append(segs, "")
		}
	case 7, 8: // garbage in one place
		i := 1 + g.rnd.IntN(max(len(segs)-1, 1))
		if i < len(segs) {
			segs[i] += g.pick(g.garbage)
		}
	case 9: // not absolute, or a garbage segment of its own
		if g.rnd.IntN(3) == 0 {
			segs = segs[1:]
		} else {
			segs = append(segs, g.pick(g.garbage))
		}
	}
	path = strings.Join(segs, "/")
	if g.rnd.IntN(10) < 3 {
		path = g.respell(path)
	}
	r := Request{Method: method, Path: path, Roles: roles,
		ClientIP: g.ips[g.rnd.IntN(len(g.ips))],
		Now:      g.times[g.rnd.IntN(len(g.times))],
		Owns:     owns,
	}
	if age := g.mfaAges[g.rnd.IntN(len(g.mfaAges))]; age != never {
		r.MFAAt = cmpOr(r.Now, fixedClock).Add(-age)
	}
	return r
}

// fixedClock is the differential engines' clock, for requests without a time of their own.
var fixedClock = time.Date(2026, 12, 9, 14, 0, 0, 0, time.UTC)

func cmpOr(t, otherwise time.Time) time.Time {
	if t.IsZero() {
		return otherwise
	}
	return t
}

// respell writes path with each character of foldChars, at random, raw or percent-encoded, and
// each escape in random hex case: another spelling of the same path, which every rule must
// treat alike. What is not a well-formed escape is left as it is.
func (g *requestGen) respell(path string) string {
	const upper, lower = "0123456789ABCDEF", "0123456789abcdef"
	hex := func(c byte) string {
		digits := upper
		if g.rnd.IntN(2) == 0 {
			digits = lower
		}
		return "%" + string(digits[c>>4]) + string(digits[c&0xf])
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		if v, ok := unhex2(path, i+1); c == '%' && ok {
			if isFoldChar[v] && g.rnd.IntN(2) == 0 {
				b.WriteByte(v)
			} else {
				b.WriteString(hex(v))
			}
			i += 2
			continue
		}
		if isFoldChar[c] && g.rnd.IntN(2) == 0 {
			b.WriteString(hex(c))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
