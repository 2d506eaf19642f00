package mfa

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"

	"github.com/tollgate/tollgate/internal/testclock"
)

// The tests run the handler on the real stores: a SQLite directory and an embedded (or Redis)
// session store, with a fake clock; audit records go through the real audit.Writer.

type fakeClock = testclock.Clock

// auditLog collects the JSON lines of a real audit.Writer.
type auditLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.Write(p)
}

func (a *auditLog) raw() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return bytes.Clone(a.buf.Bytes())
}

func (a *auditLog) records(t *testing.T) []audit.Record {
	t.Helper()
	var out []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(a.raw()))
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// actions lists "action reason" of every record, in order.
func (a *auditLog) actions(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range a.records(t) {
		out = append(out, r.Event.Action+" "+r.Event.Reason)
	}
	return out
}

// harness is one handler for one user, with everything it stands on.
type harness struct {
	t       *testing.T
	h       *Handler
	cfg     Config
	deps    Deps
	dir     *directory.SQLStore
	dbPath  string
	store   *session.EmbeddedStore
	clock   *fakeClock
	audit   *auditLog
	reg     *prometheus.Registry
	user    directory.User
	ident   idp.Identity
	keyPath string

	mu     sync.Mutex
	subj   Subject
	proven []string
}

type harnessOption func(*Config, *Deps)

const testPublicURL = "https://billing.example.com"

// newHarness builds a handler with a fresh directory holding one active user, and a subject
// for one of that user's sessions.
func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	x := &harness{t: t, clock: testclock.At(time.Date(2030, 6, 3, 9, 0, 10, 0, time.UTC)),
		audit: &auditLog{}, reg: prometheus.NewRegistry(), dbPath: filepath.Join(dir, "directory.db")}
	x.keyPath = writeKey(t, dir, "current.key")
	var err error
	if x.dir, err = directory.OpenSQLite(ctx, x.dbPath, directory.StoreOptions{Now: x.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.dir.Close() })
	x.user, err = x.dir.CreateUser(ctx, directory.User{Email: "ann@billing.example", Name: "Ann Smith",
		Status: directory.StatusActive, Roles: []string{"billing_manager"}})
	if err != nil {
		t.Fatal(err)
	}
	if x.store, err = session.NewEmbedded(filepath.Join(dir, "sessions.db"), session.Options{Now: x.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.store.Close() })
	x.ident = idp.Identity{Issuer: "https://idp.example", Subject: "ann"}
	tok, err := x.store.Create(ctx, session.Session{Identity: x.ident, UserID: x.user.ID, CSRF: "csrf-of-this-session"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := x.store.Get(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	x.subj = Subject{UserID: x.user.ID, UserKey: x.ident.UserKey(), Email: x.user.Email, Name: x.user.Name,
		SessionID: sess.ID, CSRF: sess.CSRF, ClientIP: "192.0.2.7", RequestID: "req-1", UserAgent: "test"}
	x.cfg = Config{KeyFile: x.keyPath, PublicURL: testPublicURL, MaxAttempts: 5, Lockout: 15 * time.Minute}
	x.deps = Deps{Directory: x.dir, Guard: x.store, Once: x.store, Sessions: x.store,
		Audit: audit.NewWriter(x.audit, x.clock.Now), Registerer: x.reg, Proven: x.markProven,
		Now: x.clock.Now}
	for _, o := range opts {
		o(&x.cfg, &x.deps)
	}
	if x.h, err = New(x.cfg, x.deps); err != nil {
		t.Fatalf("New: %v", err)
	}
	return x
}

// writeKey writes a fresh random key, hex-encoded, and returns its path.
func writeKey(t *testing.T, dir, name string) string {
	t.Helper()
	k := make([]byte, keyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// markProven stands for the gate: it records the call and marks the session.
func (x *harness) markProven(_ context.Context, w http.ResponseWriter, _ *http.Request, method string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.proven = append(x.proven, method)
	x.subj.MFAAt = x.clock.Now()
	w.Header().Add("Set-Cookie", "proven="+method)
	return nil
}

func (x *harness) subject() Subject {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.subj
}

func (x *harness) setSubject(f func(*Subject)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f(&x.subj)
}

func (x *harness) provenCalls() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.proven...)
}

// get and post run one request through Serve as the harness's subject.
func (x *harness) get(path string) *httptest.ResponseRecorder {
	x.t.Helper()
	return x.serve(httptest.NewRequest(http.MethodGet, path, nil))
}

func (x *harness) post(path string, form url.Values) *httptest.ResponseRecorder {
	x.t.Helper()
	if !form.Has("csrf") {
		form.Set("csrf", x.subject().CSRF)
	}
	return x.serve(formRequest(path, form))
}

func formRequest(path string, form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func (x *harness) postJSON(path string, body any) *httptest.ResponseRecorder {
	x.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		x.t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(csrfHeader, x.subject().CSRF)
	return x.serve(r)
}

func (x *harness) serve(r *http.Request) *httptest.ResponseRecorder {
	return x.serveAs(x.subject(), r)
}

func (x *harness) serveAs(s Subject, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	x.h.Serve(w, r, s)
	return w
}

// enrol runs the enrolment pages and returns the secret and the recovery codes shown.
func (x *harness) enrol() (secret string, codes []string) {
	x.t.Helper()
	page := x.get(PathEnroll)
	if page.Code != http.StatusOK {
		x.t.Fatalf("GET enroll = %d: %s", page.Code, page.Body)
	}
	secret = strings.ReplaceAll(between(x.t, page.Body.String(), `<code id="secret" class="secret">`, `</code>`), " ", "")
	res := x.post(PathEnroll, url.Values{"code": {x.code(secret, 0)}})
	if res.Code != http.StatusOK {
		x.t.Fatalf("POST enroll = %d: %s", res.Code, res.Body)
	}
	list := between(x.t, res.Body.String(), `<ul class="codes" id="codes">`, `</ul>`)
	for _, li := range strings.Split(list, "</li>") {
		if c, ok := strings.CutPrefix(li, "<li><code>"); ok {
			codes = append(codes, strings.TrimSuffix(c, "</code>"))
		}
	}
	if len(codes) != recoveryCount {
		x.t.Fatalf("enrolment showed %d recovery codes: %q", len(codes), list)
	}
	return secret, codes
}

// code is the TOTP code for secret at the harness clock plus steps time steps.
func (x *harness) code(secret string, steps int) string {
	x.t.Helper()
	c, err := totp.GenerateCode(secret, x.clock.Now().Add(time.Duration(steps)*totpPeriod))
	if err != nil {
		x.t.Fatal(err)
	}
	return c
}

// metric reads tollgate_mfa_total{method,result} from the registry the handler was given.
func (x *harness) metric(method, result string) float64 {
	x.t.Helper()
	families, err := x.reg.Gather()
	if err != nil {
		x.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tollgate_mfa_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == method && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// dbBytes is everything a reader of the directory's files sees.
func (x *harness) dbBytes() []byte {
	x.t.Helper()
	var out []byte
	for _, p := range []string{x.dbPath, x.dbPath + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			x.t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

func between(t *testing.T, s, start, end string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("page lacks %q:\n%s", start, s)
	}
	in, _, ok := strings.Cut(rest, end)
	if !ok {
		t.Fatalf("page lacks %q after %q", end, start)
	}
	return in
}

func wantStatus(t *testing.T, res *httptest.ResponseRecorder, want int) {
	t.Helper()
	if res.Code != want {
		t.Fatalf("status = %d, want %d; body:\n%s", res.Code, want, res.Body)
	}
}

func wantRedirect(t *testing.T, res *httptest.ResponseRecorder, want string) {
	t.Helper()
	if res.Code != http.StatusSeeOther || res.Header().Get("Location") != want {
		t.Fatalf("got %d Location %q, want 303 to %q; body:\n%s", res.Code, res.Header().Get("Location"), want, res.Body)
	}
}
