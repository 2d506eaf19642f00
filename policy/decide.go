package policy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Reasons a Decision gives. They are stable strings: metrics labels and audit records use them.
const (
	ReasonAllowed          = "allowed"
	ReasonNoRoles          = "no-roles"           // the user has no role at all
	ReasonNoMatchingPolicy = "no-matching-policy" // default deny: no policy allows it
	ReasonDeniedByPolicy   = "denied-by-policy"   // a deny policy of one of the user's roles matched
	ReasonMFAStale         = "mfa-stale"          // allowed only with a fresher second factor; see Decision.MFAMaxAge
	ReasonInvalidRequest   = "invalid-request"    // the method or path is not in canonical form
	ReasonError            = "error"              // evaluation broke; Decide also returns the error
)

// Request is what is being decided: may a user holding Roles do Method on Path?
type Request struct {
	Method  string   // as sent; compared case-sensitively
	Path    string   // canonical path, without the query; matched in its match form (see package doc)
	Roles   []string // the user's roles; a role the file does not define matches only raw ladon subject templates
	Subject string   // who is asking, for logs only; never used in the decision

	// ClientIP is the client's address, for "source" conditions. The zero Addr matches no
	// network.
	ClientIP netip.Addr
	// Now is the decision time, for "hours" and MFA freshness; zero means the engine's clock.
	Now time.Time
	// MFAAt is when the user last proved a second factor; zero means never.
	MFAAt time.Time
	// Owns holds the user's ownership lists from the directory, by list name, e.g.
	// {"customers": {"1", "4"}}, for "owns" conditions. Values are compared with the path
	// segment in match form (escapes of ! $ & ' ( ) * + , = : @ decoded, every other escape in
	// upper-case hex): "ann@corp" owns both "/mail/ann@corp" and "/mail/ann%40corp", and a
	// value with a space is listed as "a%20b".
	Owns map[string][]string
}

// Decision is the outcome. A denial is a Decision, not an error.
type Decision struct {
	Allow  bool
	Reason string // one of the Reason constants
	// PolicyID is the deciding ladon policy, e.g. "sales_rep:invoices.create:allow"; on
	// ReasonMFAStale the allow policy that a fresh second factor would satisfy; "" on default deny.
	PolicyID string
	// Route is the route of PolicyID ("invoices.create"; "ladon:<id>" for a raw ladon policy),
	// "" when PolicyID is. Routes are a bounded set, fit for a metrics label.
	Route   string
	Version string // the policy version that decided
	// NeededRoles are the roles that on their own would be allowed this request, given a freshly
	// proven second factor (same network, time and ownership), sorted; filled on denials only,
	// for the 403 page. The slice may be shared between decisions: callers must not modify it.
	NeededRoles []string
	// MFAMaxAge is set with ReasonMFAStale: the request is denied only because the second
	// factor is older than this, and a second factor proven again now would allow it.
	MFAMaxAge time.Duration
}

// Decide evaluates each of the user's roles against the index. Any matching deny policy
// denies, whichever role it belongs to; otherwise any matching allow policy allows; otherwise
// the request is denied by default. The error is non-nil only when evaluation broke (today:
// the context ended), and then the Decision denies. Decide does not allocate, apart from a
// request with more than 16 roles, a file with more than 512 roles, or the first denial with a
// given set of NeededRoles (see needed.go).
func (e *Engine) Decide(ctx context.Context, r Request) (Decision, error) {
	d := Decision{Version: e.version}
	if err := ctx.Err(); err != nil {
		d.Reason = ReasonError
		return d, fmt.Errorf("policy: decide: %w", err)
	}
	// The proxy canonicalizes before asking; this refuses anything that slipped past it, so
	// that nothing is matched that is not what the upstream would be sent.
	if !validMethod(r.Method) || !canonicalPath(r.Path) {
		d.Reason = ReasonInvalidRequest
		return d, nil
	}
	m := newMatcher(e, &r)
	m.mapRoles()
	m.walk(e.root, 0, nil)

	switch {
	case m.deny != nil:
		d.Reason, d.PolicyID, d.Route = ReasonDeniedByPolicy, m.deny.id, m.deny.route
	case m.allow != nil:
		d.Allow, d.Reason, d.PolicyID, d.Route = true, ReasonAllowed, m.allow.id, m.allow.route
		return d, nil
	case m.stale != nil:
		d.Reason, d.PolicyID, d.Route, d.MFAMaxAge = ReasonMFAStale, m.stale.id, m.stale.route, m.staleAge
	case len(r.Roles) == 0:
		d.Reason = ReasonNoRoles
	default:
		d.Reason = ReasonNoMatchingPolicy
	}
	d.NeededRoles = m.neededRoles()
	return d, nil
}

func (e *Engine) decisionTime(r Request) time.Time {
	if !r.Now.IsZero() {
		return r.Now
	}
	return e.now()
}

// maxFastRoles is how many roles a request may carry before mapping them to ids allocates.
const maxFastRoles = 16

// maxKeptGroups is how many matching method groups a decision keeps for NeededRoles; a path
// that matches more patterns is walked again instead.
const maxKeptGroups = 8

// matcher is the state of one decision. It lives on the stack, and holds the request's fields
// by value: a pointer to the Request would make escape analysis move it to the heap.
type matcher struct {
	e            *Engine
	method, path string // path in match form (see matchForm)
	mid          uint16 // the method's id; 0 when no literal action names it
	roles        []string
	ip           netip.Addr
	now, mfaAt   time.Time
	owns         map[string][]string

	// The ids of the request's defined roles: in idBuf, or in extraIDs when there are more.
	// (A slice of idBuf kept in the matcher would point into itself and move it to the heap.)
	idBuf    [maxFastRoles]int32
	nIDs     int
	extraIDs []int32
	unknown  bool // the request holds a role the file does not define

	allow, deny, stale *compiledPolicy
	staleAge           time.Duration

	// groups counts the method groups that matched, the first ones kept in matched; complex
	// is set when a rule outside them (an action template) matched. With one simple group, its
	// precomputed NeededRoles apply; with a few, they are worked out from the kept groups.
	groups  int
	matched [maxKeptGroups]*methodRules
	complex bool

	// visit, when set, receives every terminal the path reaches instead of it being evaluated:
	// the tools (Explain, Covers) walk the index this way.
	visit func(*terminal)
}

// newMatcher starts a decision on a request whose path canonicalPath accepted. The path is
// matched in its match form, so that no rule tells apart two spellings of the same path.
func newMatcher(e *Engine, r *Request) matcher {
	return matcher{e: e, method: r.Method, mid: e.methodID[r.Method], path: matchForm(r.Path), roles: r.Roles, ip: r.ClientIP,
		now: e.decisionTime(*r), mfaAt: r.MFAAt, owns: r.Owns}
}

func (m *matcher) mapRoles() {
	for _, name := range m.roles {
		id, ok := m.e.roleID[name]
		switch {
		case !ok:
			m.unknown = true
		case m.extraIDs != nil:
			m.extraIDs = append(m.extraIDs, id)
		case m.nIDs == maxFastRoles:
			m.extraIDs = make([]int32, m.nIDs, 2*maxFastRoles)
			copy(m.extraIDs, m.idBuf[:])
			m.extraIDs = append(m.extraIDs, id)
		default:
			m.idBuf[m.nIDs] = id
			m.nIDs++
		}
	}
}

func (m *matcher) ids() []int32 {
	if m.extraIDs != nil {
		return m.extraIDs
	}
	return m.idBuf[:m.nIDs]
}

// walk visits every trie node that a prefix of the path leads to. pos is where the unconsumed
// rest of the path starts: at a "/", or at the end.
//
// With acc set, the walk gathers into it, over every defined role, who is allowed and who is
// denied, for NeededRoles, instead of deciding for the request's roles.
func (m *matcher) walk(n *node, pos int, acc *roleTally) {
	for i := range n.regex {
		if n.regex[i].re.MatchString(m.path) {
			m.terminal(n.regex[i].t, acc)
		}
	}
	if n.tail != nil {
		m.terminal(n.tail, acc)
	}
	if pos == len(m.path) {
		if n.end != nil {
			m.terminal(n.end, acc)
		}
		return
	}
	start := pos + 1
	end := strings.IndexByte(m.path[start:], '/')
	if end < 0 {
		end = len(m.path)
	} else {
		end += start
	}
	seg := m.path[start:end]
	if c := n.literal[seg]; c != nil {
		m.walk(c, end, acc)
	}
	if n.param != nil && seg != "" {
		m.walk(n.param, end, acc)
	}
}

func (m *matcher) terminal(t *terminal, acc *roleTally) {
	if m.visit != nil {
		m.visit(t)
		return
	}
	for i := range t.methods {
		mr := &t.methods[i]
		if mr.mid != m.mid {
			continue
		}
		if m.groups < maxKeptGroups {
			m.matched[m.groups] = mr
		}
		m.groups++
		if acc != nil {
			for j := range mr.rules {
				m.gather(&mr.rules[j], acc)
			}
			break
		}
		for _, id := range m.ids() {
			for j := lowerBound(mr.rules, id); j < len(mr.rules) && mr.rules[j].role == id; j++ {
				m.apply(&mr.rules[j])
			}
		}
		break
	}
	for i := range t.anyMethod {
		r := &t.anyMethod[i]
		if !r.p.matchesAction(m.method) {
			continue
		}
		m.complex = true
		switch {
		case acc != nil:
			m.gather(r, acc)
		case m.holds(r.role):
			m.apply(r)
		}
	}
	if m.unknown && acc == nil {
		for i := range t.unknown {
			r := &t.unknown[i]
			if !r.p.matchesAction(m.method) {
				continue
			}
			for _, name := range m.roles {
				if _, defined := m.e.roleID[name]; !defined && matchAny(r.p.subjectRes, name) {
					m.apply(r)
				}
			}
		}
	}
}

func (m *matcher) holds(role int32) bool {
	for _, id := range m.ids() {
		if id == role {
			return true
		}
	}
	return false
}

// lowerBound is the index of the first rule for role in rules sorted by role.
func lowerBound(rules []rule, role int32) int {
	lo, hi := 0, len(rules)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if rules[mid].role < role {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// outcome is what a rule's conditions say about the request.
type outcome int

const (
	fails     outcome = iota
	holds             // every condition holds
	staleOnly         // everything holds but the MFA freshness
)

func (m *matcher) check(r *rule) outcome {
	c := &r.p.cond
	if c.source != nil && !sourceOK(c.source, m.ip) {
		return fails
	}
	if c.windows != nil && !windowsOK(c.windows, m.now) {
		return fails
	}
	if c.owns != nil && (r.ownsSeg < 0 || !owned(m.owns, c.owns.list, nthSegment(m.path, int(r.ownsSeg)))) {
		return fails
	}
	if c.mfa > 0 && !mfaFresh(m.now, m.mfaAt, c.mfa) {
		return staleOnly
	}
	return holds
}

func (m *matcher) apply(r *rule) {
	p := r.p
	switch m.check(r) {
	case holds:
		if p.allow {
			m.allow = lower(m.allow, p)
		} else {
			m.deny = lower(m.deny, p)
		}
	case staleOnly:
		m.stale = lower(m.stale, p)
		m.staleAge = max(m.staleAge, p.cond.mfa)
	}
}

// lower is whichever policy has the smaller id, so that the same request always names the
// same policy.
func lower(cur, p *compiledPolicy) *compiledPolicy {
	if cur == nil || p.rank < cur.rank {
		return p
	}
	return cur
}
