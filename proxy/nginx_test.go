//go:build linux

package proxy_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/tollgate/tollgate/idp/devidp"
	"github.com/tollgate/tollgate/idp/oidc"
	"github.com/tollgate/tollgate/proxy"
)

// nginxSource is the address nginx reaches the gate from (proxy_bind), and the only one the gate
// trusts: the tests themselves connect from 127.0.0.1, an untrusted caller.
const nginxSource = "127.0.0.2"

// nginxConf is a team's own nginx in front of the app, asking the gate about every request;
// examples/forward-auth/nginx.conf is the same with production settings.
var nginxConf = template.Must(template.New("nginx.conf").Parse(`
daemon off;
master_process off;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path {{.Dir}}/client_body;
	proxy_temp_path {{.Dir}}/proxy;
	fastcgi_temp_path {{.Dir}}/fastcgi;
	uwsgi_temp_path {{.Dir}}/uwsgi;
	scgi_temp_path {{.Dir}}/scgi;

	# The app never sees the gate's session cookie.
	map $http_cookie $app_cookie {
		default $http_cookie;
		"~^(?<before>.*?)(?:^|;\s*){{.Cookie}}=[^;]*(?<after>.*)$" "$before$after";
	}

	server {
		listen 127.0.0.1:{{.Port}};

		location = /_tollgate/auth {
			internal;
			proxy_pass http://{{.Gate}};
			proxy_bind {{.Source}};
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Original-Method $request_method;
			proxy_set_header X-Original-URI $request_uri;
			proxy_set_header X-Forwarded-Method "";
			proxy_set_header X-Forwarded-Uri "";
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
		}
		location /_tollgate/auth {
			return 404;
		}
		location /_tollgate/ {
			proxy_pass http://{{.Gate}};
			proxy_bind {{.Source}};
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
		}
		location / {
			auth_request /_tollgate/auth;
			auth_request_set $tollgate_login $upstream_http_x_tollgate_login;
			auth_request_set $tollgate_request_id $upstream_http_x_request_id;
			error_page 401 = @tollgate_login;
{{range .Identity}}
			auth_request_set $tollgate_{{.Var}} $upstream_http_{{.Var}};
			proxy_set_header {{.Header}} $tollgate_{{.Var}};
{{- end}}
			proxy_set_header X-Request-Id $tollgate_request_id;
			add_header X-Request-Id $tollgate_request_id always;
			proxy_set_header Cookie $app_cookie;
			proxy_set_header X-Original-Method "";
			proxy_set_header X-Original-URI "";
			proxy_set_header X-Forwarded-Method "";
			proxy_set_header X-Forwarded-Uri "";
			proxy_pass http://{{.App}};
		}
		location @tollgate_login {
			return 302 $tollgate_login;
		}
	}
}
`))

// nginxFront is nginx in front of the env's app, with a gate of its own whose public URL is
// nginx's: the IdP sends people back through nginx.
type nginxFront struct {
	url     string // what browsers use
	gateURL string // the gate itself
	cookie  string // the session cookie's name
}

func startNginxFront(t *testing.T, e *env) *nginxFront {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			t.Fatal("nginx not found: install Debian's package (apt-get install nginx); .ci/run does")
		}
	}
	port := freeLoopbackPort(t)
	front := fmt.Sprintf("http://127.0.0.1:%d", port)

	var gateH, idpH http.Handler
	gateSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gateH.ServeHTTP(w, r) }))
	t.Cleanup(gateSrv.Close)
	idpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { idpH.ServeHTTP(w, r) }))
	t.Cleanup(idpSrv.Close)
	idp, err := devidp.New(devidp.Config{Issuer: idpSrv.URL, Users: devidp.DemoUsers(), SigningKey: testKey(),
		Clients: []devidp.Client{{ID: "gate", Secret: "gate-secret", RedirectURIs: []string{front + "/_tollgate/callback"}}}})
	if err != nil {
		t.Fatal(err)
	}
	idpH = idp
	rp, err := oidc.New(oidc.Config{Issuer: idpSrv.URL, ClientID: "gate", ClientSecret: "gate-secret"}, front+"/_tollgate/callback", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gateH = e.gateWith(t, func(c *proxy.Config, d *proxy.Deps) {
		c.PublicURL = front
		c.TrustedProxies = []string{nginxSource}
		c.ForwardAuth.TrustedProxies = []string{nginxSource}
		d.Login, d.Refresher = rp, rp
	})

	cfg := e.cfg
	cfg.Defaults()
	type identity struct{ Var, Header string }
	var ids []identity
	h := cfg.Headers
	for _, name := range []string{h.User, h.Email, h.Name, h.Roles, h.CSRF, "X-Tollgate-Assertion"} {
		ids = append(ids, identity{Var: strings.ToLower(strings.ReplaceAll(name, "-", "_")), Header: name})
	}
	dir := t.TempDir()
	var conf bytes.Buffer
	if err := nginxConf.Execute(&conf, map[string]any{"Dir": dir, "Port": port, "Source": nginxSource,
		"Gate": strings.TrimPrefix(gateSrv.URL, "http://"), "App": strings.TrimPrefix(e.upstreamURL, "http://"),
		"Cookie": cfg.Cookie.Name, "Identity": ids}); err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, conf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = &out, &out
	// Killed with the test binary, should it die before the cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	errorLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return out.String() + string(b)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("nginx said:\n%s", errorLog())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited at start:\n%s", errorLog())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen within 10s:\n%s", errorLog())
		}
	}
	return &nginxFront{url: front, gateURL: gateSrv.URL, cookie: cfg.Cookie.Name}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// login signs in through nginx, starting at path, hop by hop, and returns the signed-in client
// and the final answer.
func (f *nginxFront) login(t *testing.T, e *env, username, path string) (*http.Client, *http.Response) {
	t.Helper()
	c := e.client(t)
	resp := get(t, c, f.url+path)
	want := f.url + "/_tollgate/login?rd=" + url.QueryEscape(path)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Fatalf("GET %s without a session: %d → %q, want 302 to %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp = get(t, c, want)
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/authorize") {
		t.Fatalf("the gate's login page through nginx: %d → %q, want the IdP", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = e.idpLogin(t, c, resp.Header.Get("Location"), username, "demo")
	callback := resp.Header.Get("Location")
	if !strings.HasPrefix(callback, f.url+"/_tollgate/callback?") {
		t.Fatalf("the IdP sends %s back to %q, want the callback through nginx", username, callback)
	}
	resp = get(t, c, callback)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path {
		t.Fatalf("callback through nginx: %d → %q, want %q", resp.StatusCode, resp.Header.Get("Location"), path)
	}
	return c, get(t, c, f.url+path)
}

// The gate in forward-auth mode behind a real nginx: the role matrix holds through nginx's
// auth_request, the app learns who is asking and nothing a client made up, and the decision
// endpoint answers nobody but nginx.
func TestForwardAuthBehindNginx(t *testing.T) {
	e := newEnv(t, envOpts{})
	f := startNginxFront(t, e)

	t.Run("sign in through nginx and back", func(t *testing.T) {
		_, resp := f.login(t, e, "accountant", "/reports?year=2024")
		arrived := e.app.got(resp)
		if resp.StatusCode != http.StatusOK || arrived == nil || arrived.URL.RequestURI() != "/reports?year=2024" ||
			arrived.Header.Get("X-Tollgate-Email") != "accountant@example.com" {
			t.Fatalf("after signing in: %d, app received %v", resp.StatusCode, arrived != nil)
		}
	})

	for _, user := range []string{"admin", "manager", "sales", "accountant", "support"} {
		t.Run("matrix/"+user, func(t *testing.T) {
			c, resp := f.login(t, e, user, "/whoami")
			arrived := e.app.got(resp)
			if resp.StatusCode != http.StatusOK || arrived == nil {
				t.Fatalf("after login GET /whoami: %d %s", resp.StatusCode, readBody(t, resp))
			}
			for name, want := range map[string]string{"X-Tollgate-User": devidp.DefaultSubject(user),
				"X-Tollgate-Email": user + "@example.com", "X-Tollgate-Roles": demoRoles[user]} {
				if got := arrived.Header.Get(name); got != want {
					t.Errorf("app received %s %q, want %q", name, got, want)
				}
			}
			if arrived.Header.Get("X-Tollgate-Csrf") == "" || strings.Count(arrived.Header.Get("X-Tollgate-Assertion"), ".") != 2 {
				t.Error("app received no CSRF token or no signed assertion")
			}
			if ck := arrived.Header.Get("Cookie"); strings.Contains(ck, f.cookie+"=") {
				t.Errorf("app received the gate's session cookie: %q", ck)
			}
			for _, cell := range matrix {
				want := slices.Contains(cell.allowed, user)
				hdr := http.Header{"Accept": {"application/json"}}
				body := ""
				if cell.method == "POST" {
					hdr.Set("Content-Type", "application/x-www-form-urlencoded")
					body = url.Values{"customer_id": {"1"}, "amount": {"10.00"}, "description": {"test"}, "company_name": {"Acme"}, "currency": {"USD"}, "payment_terms": {"30"}}.Encode()
				}
				before := e.app.count()
				r := do(t, c, cell.method, f.url+cell.path, hdr, strings.NewReader(body))
				arrived := e.app.got(r)
				switch {
				case want && (r.StatusCode == http.StatusForbidden || arrived == nil):
					t.Errorf("%s %s as %s: status %d, reached app %v; want allowed", cell.method, cell.path, user, r.StatusCode, arrived != nil)
				case want && (arrived.URL.EscapedPath() != cell.path || arrived.Method != cell.method ||
					arrived.Header.Get("X-Tollgate-Email") != user+"@example.com"):
					t.Errorf("%s %s as %s: app received %s %s as %q", cell.method, cell.path, user, arrived.Method,
						arrived.URL.EscapedPath(), arrived.Header.Get("X-Tollgate-Email"))
				case !want && (r.StatusCode != http.StatusForbidden || arrived != nil || e.app.count() != before):
					t.Errorf("%s %s as %s: status %d, reached app %v; want 403 and nothing forwarded", cell.method, cell.path, user, r.StatusCode, arrived != nil)
				}
				if recs := e.recordsOf(t, r); len(recs) != 1 || recs[0].URL.Path != cell.path || recs[0].HTTP.Request.Method != cell.method {
					t.Errorf("%s %s as %s: audit records %+v, want one for the request", cell.method, cell.path, user, recs)
				}
			}
		})
	}

	t.Run("what a client makes up has no effect", func(t *testing.T) {
		c, _ := f.login(t, e, "support", "/")
		forged := http.Header{"X-Original-Uri": {"/customers"}, "X-Original-Method": {"GET"},
			"X-Forwarded-Uri": {"/customers"}, "X-Forwarded-Method": {"GET"}, "X-Original-Url": {"/customers"},
			"X-Tollgate-User": {devidp.DefaultSubject("admin")}, "x-tollgate-roles": {"administrator"},
			"X-Tollgate-Email": {"admin@example.com", "admin@example.com"}, "X-Tollgate-Assertion": {"forged.assertion.value"}}
		before := e.app.count()
		if r := do(t, c, "GET", f.url+"/settings", forged, nil); r.StatusCode != http.StatusForbidden || e.app.count() != before {
			t.Fatalf("support asking for /settings with a forged original URI: %d, app reached %v; want 403", r.StatusCode, e.app.count() != before)
		}
		r := do(t, c, "GET", f.url+"/customers", forged, nil)
		arrived := e.app.got(r)
		if r.StatusCode != http.StatusOK || arrived == nil {
			t.Fatalf("positive control: support GET /customers: %d", r.StatusCode)
		}
		for name, want := range map[string]string{"X-Tollgate-User": devidp.DefaultSubject("support"),
			"X-Tollgate-Email": "support@example.com", "X-Tollgate-Roles": "support"} {
			if got := arrived.Header.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("app received %s %q, want only %q", name, got, want)
			}
		}
		if a := arrived.Header.Values("X-Tollgate-Assertion"); len(a) != 1 || a[0] == "forged.assertion.value" {
			t.Errorf("app received assertions %q", a)
		}
		for _, name := range []string{"X-Original-Uri", "X-Original-Method", "X-Forwarded-Uri"} {
			if v := arrived.Header.Get(name); v != "" {
				t.Errorf("app received the client's %s %q", name, v)
			}
		}
	})

	t.Run("only nginx may ask", func(t *testing.T) {
		c, _ := f.login(t, e, "admin", "/")
		u, _ := url.Parse(f.url)
		var session string
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == f.cookie {
				session = ck.Value
			}
		}
		question := nginxAsks(f.cookie+"="+session, "GET", "/settings")
		direct := do(t, c, "GET", f.gateURL+"/_tollgate/auth", question, nil)
		if body := readBody(t, direct); direct.StatusCode != http.StatusForbidden || direct.Header.Get("X-Tollgate-User") != "" ||
			!strings.Contains(body, "forward-auth is not enabled for this address") {
			t.Errorf("asking the gate from 127.0.0.1: %d, want 403\n%s", direct.StatusCode, body)
		}
		for _, path := range []string{"/_tollgate/auth", "/_tollgate/auth/settings", "/_tollgate/%61uth"} {
			if r := do(t, c, "GET", f.url+path, question, nil); r.StatusCode != http.StatusNotFound || r.Header.Get("X-Tollgate-User") != "" {
				t.Errorf("asking through nginx at %s: %d, want 404", path, r.StatusCode)
			}
		}
		// Positive control: the same question from nginx's address is answered.
		fromNginx := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nginxSource)}}).DialContext}}
		r := do(t, fromNginx, "GET", f.gateURL+"/_tollgate/auth", question, nil)
		if r.StatusCode != http.StatusOK || r.Header.Get("X-Tollgate-Email") != "admin@example.com" {
			t.Fatalf("the same question from %s: %d, want 200 for the administrator", nginxSource, r.StatusCode)
		}
	})
}
