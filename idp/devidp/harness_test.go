package devidp_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/idp/devidp"

	"github.com/tollgate/tollgate/internal/testclock"
)

const (
	clientID = "tollgate"
	// The secret holds characters that RFC 6749 §2.3.1 form-encoding changes, so that a provider
	// that forgot to decode client_secret_basic would fail.
	clientSecret = "s3cret+/= key"
	otherID      = "other"
	otherSecret  = "other-secret"
)

// testKey is generated once: RSA key generation is slow under -race.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// callbackServer stands in for the relying party's redirect endpoints and records every hit.
type callbackServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []*url.URL
}

func newCallbackServer(t *testing.T) *callbackServer {
	cb := &callbackServer{}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.mu.Lock()
		cb.hits = append(cb.hits, r.URL)
		cb.mu.Unlock()
		_, _ = io.WriteString(w, "callback reached")
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

func (cb *callbackServer) hitCount() int {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return len(cb.hits)
}

// fakeClock is an injectable clock for expiry tests.
type fakeClock = testclock.Clock

// harness is a running provider plus a relying party built from go-oidc and x/oauth2.
type harness struct {
	idp      *devidp.Provider
	issuer   string
	cb       *callbackServer
	callback string
	rp       *gooidc.Provider
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func newHarness(t *testing.T, opts ...func(*devidp.Config)) *harness {
	t.Helper()
	cb := newCallbackServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{issuer: "http://" + ln.Addr().String(), cb: cb, callback: cb.srv.URL + "/callback"}
	cfg := devidp.Config{
		Issuer: h.issuer,
		Users:  devidp.DemoUsers(),
		Clients: []devidp.Client{
			{ID: clientID, Secret: clientSecret, RedirectURIs: []string{h.callback}, PostLogoutRedirectURIs: []string{cb.srv.URL + "/signed-out"}},
			{ID: otherID, Secret: otherSecret, RedirectURIs: []string{cb.srv.URL + "/other"}},
		},
		SigningKey: testKey(),
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.issuer = cfg.Issuer
	h.idp, err = devidp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.idp)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	h.rp, err = gooidc.NewProvider(t.Context(), h.issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	endpoint := h.rp.Endpoint()
	// A fixed style: with auto-detection x/oauth2 silently retries a failed exchange.
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	h.oauth = oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint:     endpoint,
		RedirectURL:  h.callback,
		Scopes:       []string{gooidc.ScopeOpenID, "profile", "email", "groups"},
	}
	h.verifier = h.rp.Verifier(&gooidc.Config{ClientID: clientID, Now: cfg.Now})
	return h
}

// newBrowser follows redirects and keeps cookies, like a browser.
func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// noRedirects returns every response as is, so that a Location header can be inspected.
func noRedirects() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// authRequest is one run of the flow from the relying party's side.
type authRequest struct {
	state, nonce, verifier string
}

func newAuthRequest() authRequest {
	return authRequest{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
}

func (h *harness) authURL(a authRequest, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, extra...)
	return h.oauth.AuthCodeURL(a.state, opts...)
}

// loginForm is the form found on the login page.
type loginForm struct {
	action string
	fields url.Values
}

var (
	formRE  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

func parseLoginForm(t *testing.T, body string) loginForm {
	t.Helper()
	m := formRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no login form in page:\n%s", body)
	}
	f := loginForm{action: html.UnescapeString(m[1]), fields: url.Values{}}
	for _, in := range inputRE.FindAllStringSubmatch(body, -1) {
		f.fields.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return f
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// openLogin GETs the authorization URL and returns the login form it shows.
func openLogin(t *testing.T, browser *http.Client, authURL string) loginForm {
	t.Helper()
	resp, body := get(t, browser, authURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET authorize: status %d, body:\n%s", resp.StatusCode, body)
	}
	return parseLoginForm(t, body)
}

// submit posts the login form with the given credentials.
func submit(t *testing.T, browser *http.Client, f loginForm, username, password string) (*http.Response, string) {
	t.Helper()
	v := url.Values{}
	for k, vs := range f.fields {
		v[k] = vs
	}
	v.Set("username", username)
	v.Set("password", password)
	resp, err := browser.PostForm(f.action, v)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// login runs the browser part of the flow and returns the callback's query.
func (h *harness) login(t *testing.T, a authRequest, username, password string, extra ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	browser := newBrowser()
	f := openLogin(t, browser, h.authURL(a, extra...))
	resp, body := submit(t, browser, f, username, password)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/callback" {
		t.Fatalf("login ended at %s with status %d:\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	q := resp.Request.URL.Query()
	if q.Get("state") != a.state {
		t.Fatalf("state = %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in callback %s", resp.Request.URL)
	}
	return q
}

// idClaims are the claims the tests read from verified ID tokens.
type idClaims struct {
	Nonce             string   `json:"nonce"`
	AMR               []string `json:"amr"`
	ACR               string   `json:"acr"`
	AuthTime          int64    `json:"auth_time"`
	AZP               string   `json:"azp"`
	SID               string   `json:"sid"`
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

// exchange redeems a code with x/oauth2 and verifies the ID token with go-oidc.
func (h *harness) exchange(t *testing.T, ctx context.Context, code, verifier string) (*oauth2.Token, *gooidc.IDToken, idClaims) {
	t.Helper()
	tok, err := h.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, c := h.verify(t, ctx, tok)
	return tok, idt, c
}

func (h *harness) verify(t *testing.T, ctx context.Context, tok *oauth2.Token) (*gooidc.IDToken, idClaims) {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		t.Fatal("token response has no id_token")
	}
	idt, err := h.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc rejects the ID token: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return idt, c
}

// postToken sends a raw token request and decodes the JSON answer.
func postToken(t *testing.T, tokenURL string, form url.Values, basicID, basicSecret string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("token response is not JSON (status %d): %q", resp.StatusCode, body)
	}
	return resp.StatusCode, resp.Header, out
}
