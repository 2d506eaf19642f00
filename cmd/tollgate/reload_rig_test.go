package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp/devidp"
)

// reloadPolicy is a small policy the tests edit: accountants read reports, sales reps read
// customers.
const reloadPolicy = `version: 1
routes:
  - name: home
    methods: [GET]
    paths: ["/"]
  - name: reports.read
    methods: [GET]
    paths: ["/reports"]
  - name: customers.read
    methods: [GET]
    paths: ["/customers"]
roles:
  administrator:
    description: Administers users
    allow: [home]
  accountant:
    description: Reads reports
    allow: [home, reports.read]
  sales_rep:
    description: Reads customers
    allow: [home, customers.read]
`

// rigConfig holds what the tests change in the configuration file.
type rigConfig struct {
	ListenAddr   string
	OpsAddr      string
	LogLevel     string
	ClientSecret string
	IdleTimeout  string
	EmailHeader  string
	CookieName   string
	KeyFile      string // gate.assertion.key_files[0]; "" leaves the key generated
	Users        string // directory.users, as YAML list items
	Extra        string // appended as is
}

func (c rigConfig) text(gateURL, appURL, idpURL string) string {
	s := fmt.Sprintf(`listen:
  addr: %q
  ops_addr: %q
gate:
  public_url: %s
  upstream:
    url: %s
  cookie:
    secure: false
    name: %s
  headers:
    email: %s
`, c.ListenAddr, c.OpsAddr, gateURL, appURL, c.CookieName, c.EmailHeader)
	if c.KeyFile != "" {
		s += fmt.Sprintf("  assertion:\n    key_files: [%s]\n", c.KeyFile)
	}
	s += fmt.Sprintf(`oidc:
  issuer: %s
  client_id: tollgate
  client_secret: %s
session:
  path: sessions.db
  idle_timeout: %s
policy:
  file: policy.yaml
directory:
  users:
%s
audit:
  output: audit.jsonl
log:
  level: %s
`, idpURL, c.ClientSecret, c.IdleTimeout, c.Users, c.LogLevel)
	return s + c.Extra
}

const accountantUser = "    - email: accountant@example.com\n      roles: [accountant]\n"

func defaultRigConfig(t *testing.T) rigConfig {
	return rigConfig{ListenAddr: freeAddr(t), OpsAddr: freeAddr(t), LogLevel: "info", ClientSecret: "s3cret",
		IdleTimeout: "30m", EmailHeader: "X-Tollgate-Email", CookieName: "tollgate", Users: accountantUser}
}

// reloadRig is a gate assembled from a config file and served on loopback, with a demo IdP and
// an upstream that echoes the request. Nothing watches the policy file: only a reload applies
// a change.
type reloadRig struct {
	t                       *testing.T
	dir, file               string
	gateURL, appURL, idpURL string
	gw                      *gateway
	logs                    *lockedBuffer
}

func newReloadRig(t *testing.T, cfg rigConfig) *reloadRig {
	t.Helper()
	r := &reloadRig{t: t, dir: t.TempDir(), logs: &lockedBuffer{}}
	r.file = filepath.Join(r.dir, "tollgate.yaml")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.gateURL = "http://" + ln.Addr().String()
	var idpH http.Handler
	idpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { idpH.ServeHTTP(w, req) }))
	t.Cleanup(idpSrv.Close)
	r.idpURL = idpSrv.URL
	if idpH, err = devidp.New(devidp.Config{Issuer: idpSrv.URL, Users: devidp.DemoUsers(),
		Clients: []devidp.Client{{ID: "tollgate", Secret: "s3cret", RedirectURIs: []string{r.gateURL + "/_tollgate/callback"}}}}); err != nil {
		t.Fatal(err)
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "%s %s\n", req.Method, req.URL.Path)
		for name := range req.Header {
			fmt.Fprintf(w, "header %s\n", name)
		}
	}))
	t.Cleanup(app.Close)
	r.appURL = app.URL
	r.writePolicy(reloadPolicy)
	r.writeConfig(cfg)

	loaded, _, err := loadAll(r.file)
	if err != nil {
		t.Fatal(err)
	}
	log, level := newLevelLogger(loaded.Log.Level, r.logs)
	if r.gw, err = assemble(loaded, log); err != nil {
		t.Fatal(err)
	}
	r.gw.file, r.gw.level = r.file, level
	srv := newServer(r.gw.gate, log)
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		r.gw.close()
	})
	return r
}

func (r *reloadRig) writeConfig(c rigConfig) {
	r.t.Helper()
	if err := os.WriteFile(r.file, []byte(c.text(r.gateURL, r.appURL, r.idpURL)), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func (r *reloadRig) writePolicy(p string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "policy.yaml"), []byte(p), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// client signs user in and returns a browser that holds the session.
func (r *reloadRig) client(user string) *http.Client {
	r.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	signIn(r.t, c, r.gateURL+"/", user, "demo")
	return c
}

// get returns the status and body of a request through the gate.
func (r *reloadRig) get(c *http.Client, path string) (int, string) {
	r.t.Helper()
	resp, err := c.Get(r.gateURL + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *reloadRig) metrics() string {
	rec := httptest.NewRecorder()
	r.gw.ops.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// auditRecords waits until the audit file holds n records of action and returns them.
func auditRecords(t *testing.T, path, action string, n int) []auditLine {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []auditLine
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var l auditLine
				if json.Unmarshal(sc.Bytes(), &l) == nil && l.Event.Action == action {
					l.raw = sc.Text()
					got = append(got, l)
				}
			}
			f.Close()
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d %s records, want %d", path, len(got), action, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type auditLine struct {
	Event struct {
		Action, Outcome, Reason string
	} `json:"event"`
	raw string
}

func metricLine(t *testing.T, metrics, want string) {
	t.Helper()
	for _, l := range strings.Split(metrics, "\n") {
		if l == want {
			return
		}
	}
	t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "tollgate_config"))
}

// lineNumber returns the 1-based number of the first line of text that contains s.
func lineNumber(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line holds %q", s)
	return 0
}

// writeSigningKey writes a P-256 key for gate.assertion.key_files.
func writeSigningKey(t *testing.T, dir string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "assertion.key")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	c, _, err := loadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
