package policy

import (
	"context"
	"strings"
	"time"

	"github.com/ory/ladon"
)

// The conditions below are how the compiled ladon policies carry the file's conditions, so that
// ladon's own evaluation (the reference the index is checked against) sees them. Each reads its
// value from the request context under the key it is stored under, as ladon conditions do.
// They are built in code, never decoded through ladon's global ConditionFactories.

var (
	_ ladon.Condition = (*anyCIDRCondition)(nil)
	_ ladon.Condition = (*timeWindowCondition)(nil)
	_ ladon.Condition = (*mfaFreshCondition)(nil)
	_ ladon.Condition = (*ownsCondition)(nil)
)

// anyCIDRCondition is ladon's CIDRCondition over several networks: fulfilled when any of them
// fulfils, each exactly as ladon reads it.
type anyCIDRCondition struct {
	CIDRs []string `json:"cidrs"`
}

func (c *anyCIDRCondition) GetName() string { return "AnyCIDRCondition" }

func (c *anyCIDRCondition) Fulfills(ctx context.Context, value any, r *ladon.Request) bool {
	for _, cidr := range c.CIDRs {
		if (&ladon.CIDRCondition{CIDR: cidr}).Fulfills(ctx, value, r) {
			return true
		}
	}
	return false
}

// timeWindowCondition is fulfilled when the decision time lies in any of its windows.
type timeWindowCondition struct {
	Windows []string `json:"windows"` // as written
	windows []window
}

func (c *timeWindowCondition) GetName() string { return ladonTimeWindow }

func (c *timeWindowCondition) Fulfills(_ context.Context, value any, _ *ladon.Request) bool {
	t, ok := value.(time.Time)
	return ok && windowsOK(c.windows, t)
}

// mfaFreshCondition is fulfilled when the second factor was proven at most MaxAge before the
// decision time.
type mfaFreshCondition struct {
	MaxAge time.Duration `json:"max_age"`
}

func (c *mfaFreshCondition) GetName() string { return ladonMFAFresh }

func (c *mfaFreshCondition) Fulfills(_ context.Context, value any, r *ladon.Request) bool {
	at, ok := value.(time.Time)
	now, okNow := r.Context[ctxTime].(time.Time)
	return ok && okNow && mfaFresh(now, at, c.MaxAge)
}

// ownsCondition is fulfilled when the value of the route's parameter Param, read from the
// requested path, is in the user's ownership list List.
type ownsCondition struct {
	Param    string `json:"param"`
	List     string `json:"list"`
	patterns [][]string
}

func (c *ownsCondition) GetName() string { return "OwnsCondition" }

func (c *ownsCondition) Fulfills(_ context.Context, value any, r *ladon.Request) bool {
	owns, _ := value.(map[string][]string)
	// Validation made the route's patterns disjoint, so at most one of them matches.
	for _, p := range c.patterns {
		if v, ok := paramValue(p, c.Param, r.Resource); ok {
			return owned(owns, c.List, v)
		}
	}
	return false
}

// paramValue matches path against a pattern split into segments ("{name}" for a parameter, a
// final "**") and returns the value of the named parameter.
func paramValue(pattern []string, param, path string) (string, bool) {
	if path == "" || path[0] != '/' {
		return "", false
	}
	got := strings.Split(path[1:], "/")
	value := ""
	for i, p := range pattern {
		if p == "**" {
			return value, true
		}
		if i >= len(got) {
			return "", false
		}
		switch {
		case strings.HasPrefix(p, "{"):
			if got[i] == "" {
				return "", false
			}
			if p == "{"+param+"}" {
				value = got[i]
			}
		case p != got[i]:
			return "", false
		}
	}
	if len(got) != len(pattern) {
		return "", false
	}
	return value, true
}

// patternSegments splits a validated path pattern into segments.
func patternSegments(pattern string) []string {
	return strings.Split(pattern[1:], "/")
}

// ladonConditions is how a condition is written into a ladon policy.
func ladonConditions(c condition, patterns []string) ladon.Conditions {
	out := ladon.Conditions{}
	switch len(c.cidrs) {
	case 0:
	case 1:
		out[ctxSource] = &ladon.CIDRCondition{CIDR: c.cidrs[0]}
	default:
		out[ctxSource] = &anyCIDRCondition{CIDRs: c.cidrs}
	}
	if c.windows != nil {
		tw := &timeWindowCondition{windows: c.windows}
		for _, w := range c.windows {
			tw.Windows = append(tw.Windows, w.text)
		}
		out[ctxTime] = tw
	}
	if c.mfa > 0 {
		out[ctxMFAAt] = &mfaFreshCondition{MaxAge: c.mfa}
	}
	if c.owns != nil {
		oc := &ownsCondition{Param: c.owns.param, List: c.owns.list}
		for _, p := range patterns {
			oc.patterns = append(oc.patterns, patternSegments(p))
		}
		out[ctxOwns] = oc
	}
	return out
}
