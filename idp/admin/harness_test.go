package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/policy"

	"github.com/tollgate/tollgate/internal/testclock"
)

// testPolicy is a small billing policy: five roles, a few routes.
const testPolicy = `
version: 1
routes:
  - name: home
    methods: [GET]
    paths: ["/"]
  - name: invoices.read
    methods: [GET]
    paths: ["/invoices", "/invoices/{id}"]
  - name: invoices.create
    methods: [POST]
    paths: ["/invoices"]
  - name: payments.read
    methods: [GET]
    paths: ["/payments"]
  - name: settings.write
    methods: [POST]
    paths: ["/settings"]
roles:
  administrator:
    description: Everything
    allow: [home, invoices.read, invoices.create, payments.read, settings.write]
  billing_manager:
    description: Invoices and payments
    allow: [home, invoices.read, invoices.create, payments.read]
  accountant:
    description: Reads the books
    allow: [home, invoices.read, payments.read]
  sales_rep:
    description: Sells
    allow: [home, invoices.read, invoices.create]
  support:
    description: Helps
    allow: [home, invoices.read]
`

// backends are the two durable stores every API test runs against.
var backends = []struct {
	name string
	open func(t *testing.T, opt directory.StoreOptions) *directory.SQLStore
}{
	{"sqlite", func(t *testing.T, opt directory.StoreOptions) *directory.SQLStore {
		st, err := directory.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "directory.db"), opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T, opt directory.StoreOptions) *directory.SQLStore {
		st, err := directory.OpenPostgres(t.Context(), pgtest.Open(t), opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}},
}

// forEachBackend runs fn once per durable store.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

type fakeClock = testclock.Clock

// auditLog keeps the records written, and fails writes while broken is set.
type auditLog struct {
	mu      sync.Mutex
	records []audit.Record
	broken  bool
}

func (a *auditLog) Write(r audit.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken {
		return fmt.Errorf("audit sink down")
	}
	a.records = append(a.records, r)
	return nil
}

// changes returns the records of changes with this tollgate.change.action.
func (a *auditLog) changes(action string) []audit.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.Record
	for _, r := range a.records {
		if r.Change != nil && r.Change.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// env is a handler over real stores behind a real HTTP server. Requests name their caller
// in the X-Test-As header; the server turns it into the Caller the gate would pass.
type env struct {
	t        *testing.T
	store    *directory.SQLStore
	sessions *session.EmbeddedStore
	audit    *auditLog
	clock    *fakeClock
	h        *Handler
	srv      *httptest.Server
	reg      *prometheus.Registry
	spec     *specChecker

	mu      sync.Mutex
	callers map[string]*Caller
	admin   directory.User // "admin": an active, bound administrator
}

type envOption func(*Config)

func newEnv(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore, opts ...envOption) *env {
	t.Helper()
	clock := testclock.At(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	st := open(t, directory.StoreOptions{Now: clock.Now})
	ss, err := session.NewEmbedded(filepath.Join(t.TempDir(), "sessions.db"), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	eng, err := policy.Parse("policy.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{PublicURL: "https://billing.example.com",
		SeparationOfDuties: [][]string{{"billing_manager", "accountant"}}}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{t: t, store: st, sessions: ss, audit: &auditLog{}, clock: clock, callers: map[string]*Caller{},
		reg: prometheus.NewRegistry()}
	e.h, err = New(cfg, Deps{Users: st, Sessions: ss, Policy: eng, Audit: e.audit, Now: clock.Now, Registerer: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.h.Serve(w, r, e.caller(r.Header.Get("X-Test-As")))
	}))
	t.Cleanup(e.srv.Close)
	e.spec = loadSpec(t, e.srv.URL)
	e.admin = e.addUser("admin@example.com", directory.StatusActive, "administrator")
	e.signIn("admin", e.admin)
	return e
}

func (e *env) caller(name string) *Caller {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.callers[name]
	if c == nil {
		return nil
	}
	cp := *c
	return &cp
}

// addUser stores a user bound to an IdP account (so that they can hold sessions).
func (e *env) addUser(email string, status directory.Status, roles ...string) directory.User {
	e.t.Helper()
	u, err := e.store.CreateUser(e.t.Context(), directory.User{Email: email, Name: strings.ToUpper(email[:1]) + email[1:strings.IndexByte(email, '@')],
		Roles: roles, Status: status, Issuer: "https://idp.example.com", Subject: "sub-" + email})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// signIn registers a caller named name for u, with a fresh second factor.
func (e *env) signIn(name string, u directory.User) *Caller {
	c := &Caller{Kind: "session", UserID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, MFAAt: e.clock.Now(),
		CSRF: "csrf-" + name, SessionID: "sess-" + name, ClientIP: "10.0.0.7", RequestID: "req-" + name}
	e.mu.Lock()
	e.callers[name] = c
	e.mu.Unlock()
	return c
}

// openSessions creates n sessions in the session store for u, as logins would.
func (e *env) openSessions(u directory.User, n int) {
	e.t.Helper()
	for range n {
		_, err := e.sessions.Create(e.t.Context(), session.Session{Identity: idp.Identity{Issuer: u.Issuer, Subject: u.Subject, Email: u.Email},
			Roles: u.Roles, CSRF: "x"})
		if err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) liveSessions(u directory.User) int {
	e.t.Helper()
	infos, err := e.sessions.ListUser(context.Background(), idp.UserKey(u.Issuer, u.Subject))
	if err != nil {
		e.t.Fatal(err)
	}
	return len(infos)
}

// req is one test request. Paths starting with "/users", "/roles"… are API paths.
type req struct {
	as          string // caller name; "" for none
	method      string
	path        string
	body        string
	contentType *string // nil: application/json when there is a body or the caller is a session
	csrf        *string // nil: the caller's CSRF token on changes
	token       string
	header      map[string]string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) problem(t *testing.T) problemBody {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problemBody
	r.json(t, &p)
	if p.Status != r.status || p.Title == "" || p.Type == "" || p.RequestID == "" {
		t.Fatalf("problem %+v does not match status %d or misses fields", p, r.status)
	}
	return p
}

func strp(s string) *string { return &s }

// do sends rq and checks both the request and the response against openapi.yaml: a
// response must always conform, and a request the document rejects must be refused.
func (e *env) do(t *testing.T, rq req) resp {
	t.Helper()
	path := rq.path
	if !strings.HasPrefix(path, "/_tollgate/") {
		path = APIPrefix + path
	}
	hr, err := http.NewRequestWithContext(t.Context(), rq.method, e.srv.URL+path, strings.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	c := e.caller(rq.as)
	if rq.as != "" {
		hr.Header.Set("X-Test-As", rq.as)
	}
	change := rq.method != http.MethodGet && rq.method != http.MethodHead
	switch {
	case rq.contentType != nil:
		if *rq.contentType != "" {
			hr.Header.Set("Content-Type", *rq.contentType)
		}
	case rq.body != "" || (c != nil && change):
		hr.Header.Set("Content-Type", "application/json")
	}
	switch {
	case rq.csrf != nil:
		if *rq.csrf != "" {
			hr.Header.Set("X-Tollgate-Csrf", *rq.csrf)
		}
	case c != nil && change:
		hr.Header.Set("X-Tollgate-Csrf", c.CSRF)
	}
	if rq.token != "" {
		hr.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		hr.Header.Set(k, v)
	}
	check := e.spec.request(t, hr, []byte(rq.body))
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := resp{status: res.StatusCode, header: res.Header, body: body}
	if strings.HasPrefix(path, APIPrefix) {
		check.response(t, out)
	}
	return out
}

// want fails unless r has the status.
func want(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, bytes.TrimSpace(r.body))
	}
}

// userByEmail reads a user from the store.
func (e *env) userByEmail(email string) directory.User {
	e.t.Helper()
	u, err := e.store.GetUserByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func has(list []string, s string) bool { return slices.Contains(list, s) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// counterValue reads one counter from the test registry.
func counterValue(t *testing.T, e *env, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
