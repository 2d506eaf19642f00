package policy

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ory/ladon"
)

const examplePolicy = "../examples/policy.yaml"

func loadExample(t testing.TB) *Engine {
	t.Helper()
	e, err := Load(examplePolicy)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePolicy, err)
	}
	return e
}

func mustParse(t testing.TB, src string) *Engine {
	t.Helper()
	e, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return e
}

// testNow is when the tests' requests are decided: Tuesday 8 December 2026, 10:30 in Berlin.
var testNow = time.Date(2026, 12, 8, 9, 30, 0, 0, time.UTC)

// decide asks as a user who signed in, with a second factor, a minute ago.
func decide(t testing.TB, e *Engine, method, path string, roles ...string) Decision {
	t.Helper()
	d, err := e.Decide(context.Background(), Request{Method: method, Path: path, Roles: roles, Subject: "test-user",
		Now: testNow, MFAAt: testNow.Add(-time.Minute)})
	if err != nil {
		t.Fatalf("Decide(%s %q, %v): %v", method, path, roles, err)
	}
	return d
}

// verdict is what ladon's own Ladon.IsAllowed says about a request, combined over roles the way
// Decide combines them.
type verdict int

const (
	verdictDefaultDeny verdict = iota
	verdictAllow
	verdictForcefulDeny
)

// reference asks ladon's Ladon.IsAllowed, one role at a time, over the engine's own manager but
// with a matcher of its own, as decide's user. Metric and AuditLogger are set because a nil
// Metric is written lazily from several goroutines inside ladon.
func reference(t testing.TB, e *Engine, method, path string, roles []string) verdict {
	t.Helper()
	return ladonVerdict(t, e, Request{Method: method, Path: path, Roles: roles, Now: testNow, MFAAt: testNow.Add(-time.Minute)})
}

// ladonVerdict is ladon's own verdict on a request, the request's conditions included.
func ladonVerdict(t testing.TB, e *Engine, r Request) verdict {
	t.Helper()
	l := &ladon.Ladon{
		Manager:     e.manager,
		Matcher:     ladon.NewRegexpMatcher(512),
		Metric:      &ladon.MetricNoOp{},
		AuditLogger: &ladon.AuditLoggerNoOp{},
	}
	lctx := ladonContext(r, e.decisionTime(r))
	v := verdictDefaultDeny
	for _, role := range r.Roles {
		// The compiled policies are written for paths in match form, as Decide matches them.
		err := l.IsAllowed(context.Background(), &ladon.Request{Subject: role, Action: r.Method, Resource: matchForm(r.Path), Context: lctx})
		switch {
		case err == nil:
			v = verdictAllow
		case errors.Is(err, ladon.ErrRequestForcefullyDenied):
			return verdictForcefulDeny
		case errors.Is(err, ladon.ErrRequestDenied):
		default:
			t.Fatalf("ladon IsAllowed(%s, %s %q): unexpected error %v", role, r.Method, r.Path, err)
		}
	}
	return v
}

func mustAddr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}
