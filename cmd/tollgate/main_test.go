package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckConfigAcceptsTheExample(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check-config", "--config", "../../examples/tollgate.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("check-config examples/tollgate.yaml: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "ok") {
		t.Fatalf("output: %s", out.String())
	}
}

func TestCheckConfigReportsEveryProblemWithFileLineAndKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pol, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write("policy.yaml", string(pol))
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "gate:\n  public_url: https://b.example\n  upstream:\n    url: http://127.0.0.1:1\n  publc_url: x\n",
			[]string{":5: unknown key \"publc_url\""}},
		{"several problems", "gate:\n  public_url: ftp://b.example\n  upstream:\n    url: nope\noidc:\n  issuer: http://idp.example\n  client_id: c\n  client_secret: s\npolicy:\n  file: policy.yaml\nsession:\n  backend: memcached\n",
			[]string{
				":2: gate.public_url: \"ftp://b.example\" is not an absolute http(s) URL",
				":4: gate.upstream.url: \"nope\"",
				":6: oidc.issuer: \"http://idp.example\" uses plain http",
				":12: session.backend: \"memcached\" is not a store",
			}},
		{"missing sections", "listen:\n  addr: \":8080\"\n",
			[]string{"gate.public_url: required", "oidc.issuer: required", "oidc.client_id: required", "policy.file: required", "session.path: required"}},
		{"unknown role in directory", "gate:\n  public_url: https://b.example\n  upstream:\n    url: http://127.0.0.1:1\noidc:\n  issuer: https://idp.example\n  client_id: c\n  client_secret: s\nsession:\n  path: s.db\npolicy:\n  file: policy.yaml\ndirectory:\n  users:\n    - email: a@example.com\n      roles: [superuser]\n",
			[]string{":16: directory.users[0].roles: unknown role \"superuser\""}},
		{"bad yaml", "gate: [\n", []string{"config.yaml:"}},
		{"cache without redis", "gate:\n  public_url: https://b.example\n  upstream:\n    url: http://127.0.0.1:1\noidc:\n  issuer: https://idp.example\n  client_id: c\n  client_secret: s\nsession:\n  path: s.db\n  cache:\n    enabled: true\npolicy:\n  file: policy.yaml\n",
			[]string{":12: session.cache.enabled: the cache is for the redis backend"}},
		{"unreadable assertion key", "gate:\n  public_url: https://b.example\n  upstream:\n    url: http://127.0.0.1:1\n  assertion:\n    key_files: [" + filepath.Join(dir, "missing.pem") + "]\noidc:\n  issuer: https://idp.example\n  client_id: c\n  client_secret: s\nsession:\n  path: s.db\npolicy:\n  file: policy.yaml\n",
			[]string{":6: gate.assertion.key_files[0]:", "missing.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write("config.yaml", tc.body)
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"check-config", "--config", p}, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "tollgate ") {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}

// lockedBuffer lets the test read what the demo printed while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDemoSignsInAndServesTheApp runs `tollgate demo` on free ports and signs in as the sales
// rep through the demo IdP's login form, as a person would.
func TestDemoSignsInAndServesTheApp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	data := t.TempDir()
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0", "--data", data}, &out, io.Discard)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("demo exited %d", code)
		}
	}()
	urls := map[string]string{}
	re := regexp.MustCompile(`(?m)^(gate|ops|idp|app): (http://(?:localhost|127\.0\.0\.1):\d+)$`)
	for deadline := time.Now().Add(10 * time.Second); len(urls) < 4; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("demo did not print its addresses:\n%s", out.String())
		}
		for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
			urls[m[1]] = m[2]
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, body := signIn(t, c, urls["gate"]+"/customers", "sales", "demo")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/customers" || !strings.Contains(body, "Sam Sales") {
		t.Fatalf("after login: %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	// A sales rep may not see payments.
	resp, err := c.Get(urls["gate"] + "/payments")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sales GET /payments: %d, want 403", resp.StatusCode)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get(urls["ops"] + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("ops %s: %d\n%s", path, resp.StatusCode, b)
		}
		if path == "/metrics" && !strings.Contains(string(b), "tollgate_requests_total") {
			t.Errorf("/metrics lacks tollgate_requests_total")
		}
	}
	waitForFile(t, filepath.Join(data, "audit", "audit.jsonl"), `"action":"login"`)
}

// waitForFile waits until the file holds want: audit records reach their sinks asynchronously.
func waitForFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q: %v\n%s", path, want, err, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	formAction  = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	hiddenInput = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
)

// signIn opens start with a browser-like client, which the gate sends to the IdP's login form;
// it fills in the form as a person would and returns where the browser ends up, with its body.
func signIn(t *testing.T, c *http.Client, start, user, password string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	action := formAction.FindSubmatch(page)
	if action == nil || !strings.Contains(string(page), `name="username"`) || !strings.Contains(string(page), `name="password"`) {
		t.Fatalf("the gate did not lead to the IdP login form:\n%s", page)
	}
	form := url.Values{"username": {user}, "password": {password}}
	for _, h := range hiddenInput.FindAllSubmatch(page, -1) {
		form.Set(string(h[1]), strings.ReplaceAll(string(h[2]), "&amp;", "&"))
	}
	ref, _ := url.Parse(strings.ReplaceAll(string(action[1]), "&amp;", "&"))
	resp, err = c.PostForm(resp.Request.URL.ResolveReference(ref).String(), form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}
