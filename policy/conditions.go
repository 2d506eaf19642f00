package policy

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Request-context keys under which the ladon policies' conditions find their values. They are
// also the keys a raw ladon policy writes its conditions under.
const (
	ctxSource = "source" // the client address as a string, which ladon's CIDRCondition reads
	ctxTime   = "time"   // the decision time, time.Time
	ctxMFAAt  = "mfa_at" // when the second factor was last proven, time.Time
	ctxOwns   = "owns"   // the directory's ownership lists, map[string][]string
)

// maxClockSkew is how far in the future an MFA time may lie and still count: replicas stamp
// sessions with their own clocks. Anything later is treated as stale rather than as fresh
// for ever.
const maxClockSkew = time.Minute

// condition is a validated set of conditions; every one that is set must hold. It is shared
// by the index and by the ladon conditions built from it.
type condition struct {
	source  []netip.Prefix // any of them; nil for no network condition
	cidrs   []string       // source as written
	windows []window       // any of them; nil for no time condition
	mfa     time.Duration  // maximum MFA age; 0 for none
	owns    *ownsBinding
}

// ownsBinding requires a path parameter's value to be in one of the user's ownership lists.
type ownsBinding struct {
	param string // the parameter's name in the route's patterns
	list  string // the key in Request.Owns
}

func (c *condition) empty() bool {
	return c.source == nil && c.windows == nil && c.mfa == 0 && c.owns == nil
}

// sourceOK matches ladon's CIDRCondition: an address that net.ParseIP would not read (a zone,
// or none at all) matches nothing, and an IPv4-mapped IPv6 address matches as IPv4.
func sourceOK(prefixes []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// window is a weekly time window in a time zone: the listed days, from "from" up to (not
// including) "to", both in seconds after local midnight.
type window struct {
	days     uint8 // bit 1<<time.Weekday
	from, to int
	loc      *time.Location
	text     string // as written, for explanations
}

func (w *window) contains(t time.Time) bool {
	t = t.In(w.loc)
	if w.days&(1<<t.Weekday()) == 0 {
		return false
	}
	h, m, s := t.Clock()
	sec := h*3600 + m*60 + s
	return w.from <= sec && sec < w.to
}

func windowsOK(ws []window, t time.Time) bool {
	for i := range ws {
		if ws[i].contains(t) {
			return true
		}
	}
	return false
}

// mfaFresh reports whether a second factor proven at "at" is at most maxAge old at "now". A
// zero time means never.
func mfaFresh(now, at time.Time, maxAge time.Duration) bool {
	if at.IsZero() {
		return false
	}
	age := now.Sub(at)
	return age <= maxAge && age >= -maxClockSkew
}

// owned reports whether value is in the named ownership list. value is the parameter's segment
// of the path in match form, not as it was spelled nor fully decoded. Not as spelled, because
// then "ann@corp" would own "/mail/ann@corp" but not "/mail/ann%40corp", and the decision would
// again depend on the spelling. Not fully decoded, because the match form already names one
// decoded value with exactly one string, equals it for the ids directories hold (digits,
// letters, "-" "." "_" "~" and "@" in e-mail addresses), and leaves every other escape in the
// one spelling canonical paths give it ("a b" is listed as "a%20b"), so lists written for
// canonical segments keep their meaning.
func owned(owns map[string][]string, list, value string) bool {
	return value != "" && slices.Contains(owns[list], value)
}

// nthSegment returns the n-th segment (0-based) of a path that starts with "/".
func nthSegment(path string, n int) string {
	rest := path[1:]
	for ; n > 0; n-- {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return ""
		}
		rest = rest[i+1:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}
