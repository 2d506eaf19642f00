package proxy_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy"
)

// pathSeen records the path of every request the policy is asked about.
type pathSeen struct {
	proxy.Decider
	mu   sync.Mutex
	last string
}

func (p *pathSeen) Decide(ctx context.Context, r policy.Request) (policy.Decision, error) {
	p.mu.Lock()
	p.last = r.Path
	p.mu.Unlock()
	return p.Decider.Decide(ctx, r)
}

func (p *pathSeen) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.last
	p.last = ""
	return s
}

// pieces are the parts attacks on path handling are made of.
var pieces = []string{
	"/", "//", "/./", "/../", "..", ".", "%2e", "%2E", "%2e%2e", ".%2e", "%2f", "%2F", "%5c", "%5C", "\\", ";", ";x=1",
	"%3b", "%00", "%0a", "%09", "%25", "%252e", "%252f", "%23", "%3f", "?", "?a=/../b", "#", "invoices", "settings",
	"1001", "%31", "~", "%7e", "%7E", "%41", "a", "+", "%20", "%2B", "é", "%C3%A9", "%c0%ae", "%e0%80%ae", "%ef%bc%8f",
	"%E2%80%8B", "*", "%2a", ":", "@", "%40", "!", "$", "&", "'", "(", ")", ",", "=", "%3D", "..;", "...", "%u002e",
}

// For any request target, the path the upstream receives is exactly the path the policy decided
// on; or the request was refused and the upstream received nothing.
func TestUpstreamReceivesExactlyThePathThePolicySaw(t *testing.T) {
	seen := &pathSeen{}
	e := newEnv(t, envOpts{policy: "testdata/allow-all.yaml", decider: func(d proxy.Decider) proxy.Decider {
		seen.Decider = d
		return seen
	}})
	c, _ := e.login(t, "admin", "/")
	cookie := "tollgate=" + e.sessionCookie(t, c)
	rng := rand.New(rand.NewPCG(1, 2))
	forwarded, refused := 0, 0
	for i := 0; i < 1500; i++ {
		var b strings.Builder
		b.WriteString("/")
		for n := 1 + rng.IntN(6); n > 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		target := b.String()
		if strings.ContainsAny(target, " \t\r\n") {
			continue // not a parseable request line at all
		}
		before := e.app.count()
		seen.take()
		status := rawRequest(t, e.gateURL, "GET "+target+" HTTP/1.1\r\nHost: gate\r\nCookie: "+cookie+"\r\nConnection: close\r\n\r\n")
		decided := seen.take()
		reached := e.app.count() != before
		switch {
		case reached && e.app.last() != decided:
			t.Errorf("GET %s: policy saw %q, upstream received %q", target, decided, e.app.last())
		case reached:
			forwarded++
		case status == http.StatusBadRequest && decided == "":
			refused++
		default:
			t.Errorf("GET %s: status %d, policy saw %q, upstream reached %v", target, status, decided, reached)
		}
	}
	// Both outcomes must be well represented, or the test proves little.
	if forwarded < 100 || refused < 100 {
		t.Fatalf("forwarded %d, refused %d: the generator does not exercise both outcomes", forwarded, refused)
	}
	t.Logf("forwarded %d, refused %d", forwarded, refused)
}
