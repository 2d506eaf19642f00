package billing

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentRequests is meant for -race: readers and writers of every table run at once.
// It also checks that concurrent creates each get their own id and none is lost.
func TestConcurrentRequests(t *testing.T) {
	app := newTestApp()
	const workers, rounds = 8, 25
	ids := make(chan string, workers*rounds)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				for _, q := range []req{
					{method: "GET", target: "/"},
					{method: "GET", target: "/invoices"},
					{method: "GET", target: "/customers/1"},
					{method: "GET", target: "/payments"},
					{method: "GET", target: "/reports/aging"},
					{method: "GET", target: "/reports/revenue"},
					{method: "GET", target: "/whoami", header: http.Header{"X-Tollgate-User": {fmt.Sprint(w)}}},
					{method: "POST", target: "/invoices/1005/edit", form: fmt.Sprintf("amount=%d", 100+i)},
					{method: "POST", target: "/settings", form: fmt.Sprintf("company=Worker+%d", w)},
					{method: "POST", target: "/payments/2002/refund"},
					{method: "POST", target: "/invoices/1004/void"},
				} {
					q.do(t, app)
				}
				rec := req{method: "POST", target: "/invoices", form: fmt.Sprintf("customer_id=2&amount=1&description=w%d-%d", w, i)}.do(t, app)
				if rec.Code != http.StatusSeeOther {
					t.Errorf("create: %d", rec.Code)
					continue
				}
				ids <- rec.Header().Get("Location")
			}
		})
	}
	wg.Wait()
	close(ids)

	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %s handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*rounds {
		t.Errorf("%d distinct invoices created, want %d", len(seen), workers*rounds)
	}
	list := req{method: "GET", target: "/invoices"}.do(t, app).Body.String()
	for id := range seen {
		if !strings.Contains(list, `href="`+id+`"`) {
			t.Errorf("invoice %s missing from the list", id)
		}
	}
}
