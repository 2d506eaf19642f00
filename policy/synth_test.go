package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// synthPolicy writes a policy file of about n policies shaped like real ones: resources with
// read, write, admin and export routes, roles that each hold a few dozen of them, some denies,
// and conditions (fresh second factor on admin routes, office network on some grants, office
// hours on a few). It returns the file and the vocabulary requests can be drawn from.
func synthPolicy(n int, seed uint64) (src string, v synthVocab) {
	rnd := rand.New(rand.NewPCG(seed, 7))
	roles := max(n/50, 2)
	perRole := n / roles
	resources := max(roles*perRole/10, 3)
	var b strings.Builder
	b.WriteString("version: 1\nconditions:\n  office: {source: [\"10.0.0.0/8\", \"192.168.0.0/16\"]}\n")
	b.WriteString("  daytime: {hours: {days: [mon-fri], from: \"07:00\", to: \"19:00\", zone: Europe/Berlin}}\n")
	b.WriteString("routes:\n")
	kinds := []struct{ suffix, methods, paths string }{
		{"read", "[GET, HEAD]", `["/r%d", "/r%d/{id}"]`},
		{"write", "[POST, PUT]", `["/r%d", "/r%d/{id}"]`},
		{"admin", "[POST, DELETE]", `["/r%d/{id}/approve", "/r%d/{id}/items/**"]`},
		{"export", "[GET]", `["/r%d/export/{format}", "/r%d/export/{format}/**"]`},
	}
	var routes []string
	for i := range resources {
		for _, k := range kinds {
			name := fmt.Sprintf("r%d.%s", i, k.suffix)
			routes = append(routes, name)
			fmt.Fprintf(&b, "  - {name: %s, methods: %s, paths: %s}\n", name, k.methods, fmt.Sprintf(k.paths, i, i))
		}
	}
	b.WriteString("roles:\n")
	count := 0
	for r := range roles {
		name := fmt.Sprintf("role%d", r)
		v.roles = append(v.roles, name)
		fmt.Fprintf(&b, "  %s:\n    description: Synthetic role %d\n    allow:\n", name, r)
		// Whole resources, so that a deny never hides one of the role's own allows.
		owned := map[int]bool{}
		var allow []string
		for len(allow) < perRole-perRole/10 && len(owned) < resources {
			res := rnd.IntN(resources)
			if owned[res] {
				continue
			}
			owned[res] = true
			for _, k := range kinds {
				if len(allow) < perRole-perRole/10 && rnd.IntN(3) > 0 {
					allow = append(allow, fmt.Sprintf("r%d.%s", res, k.suffix))
				}
			}
		}
		for _, rt := range allow {
			switch {
			case strings.HasSuffix(rt, ".admin"):
				fmt.Fprintf(&b, "      - %s: {mfa_within: 5m}\n", rt)
			case rnd.IntN(10) == 0:
				fmt.Fprintf(&b, "      - %s: office\n", rt)
			case rnd.IntN(20) == 0:
				fmt.Fprintf(&b, "      - %s: daytime\n", rt)
			default:
				fmt.Fprintf(&b, "      - %s\n", rt)
			}
		}
		count += len(allow)
		b.WriteString("    deny:\n")
		for d := 0; d < perRole/10 || (perRole < 10 && d == 0 && r == 0); d++ {
			res := rnd.IntN(resources)
			if owned[res] {
				continue
			}
			owned[res] = true
			rt := fmt.Sprintf("r%d.%s", res, kinds[rnd.IntN(len(kinds))].suffix)
			if rnd.IntN(4) == 0 {
				fmt.Fprintf(&b, "      - %s: office\n", rt)
			} else {
				fmt.Fprintf(&b, "      - %s\n", rt)
			}
			count++
		}
	}
	v.policies = count
	v.resources = resources
	return b.String(), v
}

// synthVocab is what synthetic requests are made of.
type synthVocab struct {
	roles     []string
	resources int
	policies  int
}

// requests draws n requests: one or two roles, a method and path near the routes, a client
// address in or out of the office, and a second factor of varying age.
func (v synthVocab) requests(n int, seed uint64, now time.Time) []Request {
	rnd := rand.New(rand.NewPCG(seed, 11))
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"}
	ips := []string{"10.1.2.3", "192.168.7.7", "8.8.8.8", "2001:db8::1"}
	out := make([]Request, n)
	for i := range out {
		res := rnd.IntN(v.resources)
		var path string
		switch rnd.IntN(6) {
		case 0:
			path = fmt.Sprintf("/r%d", res)
		case 1, 2:
			path = fmt.Sprintf("/r%d/%d", res, rnd.IntN(1000))
		case 3:
			path = fmt.Sprintf("/r%d/%d/approve", res, rnd.IntN(1000))
		case 4:
			path = fmt.Sprintf("/r%d/export/csv/2026/%d", res, rnd.IntN(12))
		default:
			path = fmt.Sprintf("/r%d/%d/items/%d", res, rnd.IntN(1000), rnd.IntN(50))
		}
		roles := []string{v.roles[rnd.IntN(len(v.roles))]}
		if rnd.IntN(3) == 0 {
			roles = append(roles, v.roles[rnd.IntN(len(v.roles))])
		}
		out[i] = Request{
			Method:   methods[rnd.IntN(len(methods))],
			Path:     path,
			Roles:    slices.Clip(roles),
			ClientIP: mustAddr(ips[rnd.IntN(len(ips))]),
			Now:      now,
			MFAAt:    now.Add(-time.Duration(rnd.IntN(10)) * time.Minute),
		}
	}
	return out
}

func TestSynthPolicyLoads(t *testing.T) {
	for _, n := range []int{10, 1000} {
		src, v := synthPolicy(n, 1)
		e := mustParse(t, src)
		if v.policies < n*8/10 || v.policies > n*12/10 {
			t.Errorf("n=%d: %d policies", n, v.policies)
		}
		if got := len(e.policies); got != v.policies {
			t.Errorf("n=%d: engine holds %d policies, generator wrote %d", n, got, v.policies)
		}
	}
}
