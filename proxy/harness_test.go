package proxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/examples/billing"
	"github.com/tollgate/tollgate/idp/admin"
	"github.com/tollgate/tollgate/idp/devidp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/mfa"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/internal/pgtest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy"
)

// testKey is shared by every demo IdP in this package: generating an RSA key per test is slow.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// store is what the tests need of a session store.
type store interface {
	proxy.SessionStore
	proxy.SessionUpdater
	proxy.OnceStore
	admin.SessionStore
	mfa.Guard
	Close() error
}

// recorder wraps the example app and keeps what each forwarded request looked like, keyed by
// the request id the gate set.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	seen map[string]*http.Request
	n    int
	path string // escaped path of the last request received
	// setCookies are sent by the app on every response, to try to plant cookies.
	setCookies []string
	// events, when set, makes a request that accepts text/event-stream a stream of one event
	// per value sent, ending when the channel closes.
	events chan string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.seen[r.Header.Get("X-Request-Id")] = r.Clone(context.Background())
	rc.n++
	// The path exactly as it came on the wire, not as Go parsed it.
	rc.path, _, _ = strings.Cut(r.RequestURI, "?")
	rc.mu.Unlock()
	if r.Header.Get("Upgrade") != "" {
		echoUpgrade(w)
		return
	}
	for _, c := range rc.setCookies {
		w.Header().Add("Set-Cookie", c)
	}
	if r.Header.Get("Accept") == "text/event-stream" && rc.events != nil {
		streamEvents(w, r, rc.events)
		return
	}
	rc.next.ServeHTTP(w, r)
}

// got returns what the app received for the response's request id, or nil if nothing arrived.
func (rc *recorder) got(resp *http.Response) *http.Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.seen[resp.Header.Get("X-Request-Id")]
}

func (rc *recorder) last() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.path
}

func (rc *recorder) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n
}

// syncBuffer collects audit lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t *testing.T) []audit.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []audit.Record
	for _, line := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("audit line is not a record: %v: %s", err, line)
		}
		out = append(out, r)
	}
	return out
}

// env is a whole deployment on loopback: demo IdP, example app behind a recorder, the gate.
type env struct {
	idp         *devidp.Provider
	app         *recorder
	gate        *proxy.Gate
	gateURL     string
	upstreamURL string
	store       store
	redis       *redistest.Server
	audit       *syncBuffer
	logs        *syncBuffer // the gate's log lines
	registry    *prometheus.Registry
	directory   *directory.SQLStore
	admin       *admin.Handler
	cfg         proxy.Config
	deps        proxy.Deps

	mu    sync.Mutex
	idpUp bool
}

// replica starts another gate in front of the same app, sharing the session store, the
// directory and the IdP: a second replica. It serves existing sessions and the admin API; logins
// go through the first gate.
func (e *env) replica(t *testing.T) string {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg := e.cfg
	cfg.PublicURL = srv.URL
	deps := e.deps
	metrics, err := proxy.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	deps.Metrics = metrics
	g, err := proxy.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	h = g
	return srv.URL
}

// setIdP takes the IdP down or brings it back.
func (e *env) setIdP(up bool) {
	e.mu.Lock()
	e.idpUp = up
	e.mu.Unlock()
}

type envOpts struct {
	backend string // "embedded" or "redis"
	mfaAMR  []string
	acr     []string         // accepted acr values
	now     func() time.Time // the gate's clock; nil means time.Now
	// directory is "" (roles from the IdP groups only), or "sqlite" / "postgres" for a durable
	// directory holding the demo users with their roles.
	directory string
	mode      directory.Mode
	gate      func(*proxy.Config) // adjusts the gate's config
	// policy is the policy file; default examples/policy.yaml.
	policy string
	// decider wraps the policy, to watch what it is asked.
	decider func(proxy.Decider) proxy.Decider
	// wrap adjusts the gate's dependencies before it is built (to inject faults).
	wrap func(*proxy.Deps)
	// mfaMode turns the gate's own second factor on ("either" or "gate"); it needs a durable
	// directory.
	mfaMode string
}

// openDirectory opens a durable directory seeded with the demo users, active, one role each.
func openDirectory(t *testing.T, driver string) *directory.SQLStore {
	t.Helper()
	ctx := context.Background()
	var st *directory.SQLStore
	var err error
	if driver == "postgres" {
		st, err = directory.OpenPostgres(ctx, pgtest.Open(t), directory.StoreOptions{})
	} else {
		st, err = directory.OpenSQLite(ctx, filepath.Join(t.TempDir(), "directory.db"), directory.StoreOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, u := range devidp.DemoUsers() {
		if _, err := st.CreateUser(ctx, directory.User{Email: u.Email, Name: u.Name, Roles: []string{demoRoles[u.Username]}, Status: directory.StatusActive}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{audit: &syncBuffer{}, logs: &syncBuffer{}, registry: prometheus.NewRegistry()}
	var gateH, idpH http.Handler
	e.idpUp = true
	gateSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gateH.ServeHTTP(w, r) }))
	t.Cleanup(gateSrv.Close)
	idpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		up := e.idpUp
		e.mu.Unlock()
		if !up {
			// An IdP outage as the gate sees it: the connection is dropped.
			panic(http.ErrAbortHandler)
		}
		idpH.ServeHTTP(w, r)
	}))
	t.Cleanup(idpSrv.Close)
	e.gateURL = gateSrv.URL

	var err error
	e.idp, err = devidp.New(devidp.Config{
		Issuer:     idpSrv.URL,
		Users:      devidp.DemoUsers(),
		Clients:    []devidp.Client{{ID: "gate", Secret: "gate-secret", RedirectURIs: []string{gateSrv.URL + "/_tollgate/callback"}}},
		SigningKey: testKey(),
		Now:        o.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	idpH = e.idp

	e.app = &recorder{next: billing.New(billing.Config{}), seen: map[string]*http.Request{}}
	appSrv := httptest.NewServer(e.app)
	t.Cleanup(appSrv.Close)
	e.upstreamURL = appSrv.URL

	opt := session.Options{Idle: 30 * time.Minute, Absolute: 12 * time.Hour}
	switch o.backend {
	case "redis":
		e.redis = redistest.Start(t)
		client := redis.NewClient(&redis.Options{Addr: e.redis.Addr(), DialTimeout: 300 * time.Millisecond,
			ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: 1})
		t.Cleanup(func() { client.Close() })
		e.store = session.NewRedis(client, opt)
	default:
		st, err := session.NewEmbedded(filepath.Join(t.TempDir(), "sessions.db"), opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e.store = st
	}

	if o.policy == "" {
		o.policy = filepath.Join("..", "examples", "policy.yaml")
	}
	pol, err := policy.Load(o.policy)
	if err != nil {
		t.Fatal(err)
	}
	ocfg := oidc.Config{Issuer: idpSrv.URL, ClientID: "gate", ClientSecret: "gate-secret"}
	ocfg.MFA.AMR = o.mfaAMR
	ocfg.MFA.ACR = o.acr
	if o.mfaMode != "" {
		off := false
		ocfg.MFA.Required = &off
	}
	rp, err := oidc.New(ocfg, gateSrv.URL+"/_tollgate/callback", nil, o.now)
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.FileConfig{GroupRoles: map[string][]string{}}
	var durable *directory.SQLStore
	switch o.directory {
	case "":
		for _, role := range pol.Roles() {
			dir.GroupRoles["billing-"+role] = []string{role}
		}
	case "sqlite", "postgres":
		durable = openDirectory(t, o.directory)
	default:
		t.Fatalf("unknown directory %q", o.directory)
	}
	e.directory = durable
	metrics, err := proxy.NewMetrics(e.registry)
	if err != nil {
		t.Fatal(err)
	}
	insecure := false
	cfg := proxy.Config{PublicURL: gateSrv.URL, RequireMFA: true}
	cfg.Upstream.URL = appSrv.URL
	cfg.Cookie.Secure = &insecure
	if o.gate != nil {
		o.gate(&cfg)
	}
	e.deps = proxy.Deps{
		Sessions: e.store, Once: e.store, Decider: pol, Login: rp, Refresher: rp,
		Directory: directory.NewResolver(durable, dir, o.mode, nil), Audit: audit.NewWriter(e.audit, nil), Metrics: metrics,
		Log: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Now: o.now,
	}
	if o.decider != nil {
		e.deps.Decider = o.decider(pol)
	}
	if durable != nil {
		acfg := admin.Config{PublicURL: gateSrv.URL}
		acfg.Defaults()
		e.admin, err = admin.New(acfg, admin.Deps{Users: durable, Sessions: e.store, Policy: pol,
			Audit: audit.NewWriter(e.audit, nil), Log: e.deps.Log})
		if err != nil {
			t.Fatal(err)
		}
		e.deps.Admin = e.admin
	}
	if o.mfaMode != "" {
		keyFile := filepath.Join(t.TempDir(), "mfa.key")
		if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
			t.Fatal(err)
		}
		mcfg := mfa.Config{Mode: o.mfaMode, KeyFile: keyFile, PublicURL: gateSrv.URL}
		mcfg.Defaults()
		factor, err := mfa.New(mcfg, mfa.Deps{Directory: durable, Guard: e.store, Once: e.store, Sessions: e.store,
			Audit: audit.NewWriter(e.audit, nil), Now: o.now,
			Proven: func(ctx context.Context, w http.ResponseWriter, r *http.Request, method string) error {
				return e.gate.Proven(ctx, w, r, method)
			}})
		if err != nil {
			t.Fatal(err)
		}
		e.deps.MFA = factor
		cfg.MFAMode = o.mfaMode
	}
	if o.wrap != nil {
		o.wrap(&e.deps)
	}
	e.cfg = cfg
	e.gate, err = proxy.New(cfg, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	gateH = e.gate
	return e
}

// client is a browser-like client that does not follow redirects by itself, so every hop can
// be checked.
func (e *env) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
var hiddenInput = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

// login signs in as username through the real IdP, starting at path, and returns the client and
// the final response (the page first asked for, or whatever the gate answered).
func (e *env) login(t *testing.T, username, path string) (*http.Client, *http.Response) {
	t.Helper()
	c := e.client(t)
	resp := get(t, c, e.gateURL+path)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s unauthenticated: status %d, want a redirect to the IdP", path, resp.StatusCode)
	}
	resp = e.idpLogin(t, c, resp.Header.Get("Location"), username, "demo")
	// The IdP sends the browser back to the callback.
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("IdP login as %s: status %d, want redirect to the gate callback", username, resp.StatusCode)
	}
	resp = get(t, c, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther {
		return c, resp
	}
	return c, get(t, c, resolve(e.gateURL, resp.Header.Get("Location")))
}

// idpLogin opens the IdP's authorize URL, fills in its form and returns the IdP's answer.
func (e *env) idpLogin(t *testing.T, c *http.Client, authorizeURL, username, password string) *http.Response {
	t.Helper()
	resp := get(t, c, authorizeURL)
	body := readBody(t, resp)
	m := formAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("IdP login page has no form: %s", body)
	}
	form := url.Values{"username": {username}, "password": {password}}
	for _, h := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(h[1], htmlUnescape(h[2]))
	}
	action := resolve(authorizeURL, htmlUnescape(m[1]))
	resp, err := c.PostForm(action, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#61;", "=").Replace(s)
}

func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		panic(err)
	}
	return b.ResolveReference(r).String()
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	return do(t, c, http.MethodGet, u, nil, nil)
}

// do sends a request; the body is read and kept in the response for later inspection.
func do(t *testing.T, c *http.Client, method, u string, hdr http.Header, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

// sessionCookie returns the gate's session cookie value held by c.
func (e *env) sessionCookie(t *testing.T, c *http.Client) string {
	u, _ := url.Parse(e.gateURL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "tollgate" {
			return ck.Value
		}
	}
	t.Fatal("no session cookie in the jar")
	return ""
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, s)
	}
}

// echoUpgrade plays an upgraded protocol: it switches, then echoes what it reads.
func echoUpgrade(w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	buf.Flush()
	b := make([]byte, 512)
	for {
		n, err := buf.Read(b)
		if err != nil {
			return
		}
		if _, err := conn.Write(b[:n]); err != nil {
			return
		}
	}
}

func streamEvents(w http.ResponseWriter, r *http.Request, events chan string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for ev := range events {
		io.WriteString(w, "data: "+ev+"\n\n")
		rc.Flush()
	}
}
