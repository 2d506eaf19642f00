package proxy

import (
	"net/http"
	"strings"
)

// normalizeHeaderName folds a header name the way permissive upstream stacks do (case, and "_"
// read as "-", as CGI/WSGI/PHP do), so that no variant of one of our names gets through.
func normalizeHeaderName(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "_", "-")
}

// spoofable are request headers that could make the upstream see another path, method, client or
// identity than the one the gate decided on. The gate sets its own forwarding headers.
var spoofable = []string{
	"x-original-url", "x-rewrite-url", "x-original-uri", "x-forwarded-uri", "x-forwarded-prefix",
	"x-forwarded-path", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-for", "x-forwarded-port",
	"x-forwarded-server", "x-forwarded-scheme", "x-forwarded-ssl", "x-real-ip", "forwarded",
	"x-http-method-override", "x-http-method", "x-method-override", "x-original-method",
	"x-request-id",
}

// headerStripper removes identity and forwarding headers from a request in every spelling.
type headerStripper struct {
	names map[string]bool // normalized names to remove
}

func newHeaderStripper(h HeaderConfig) headerStripper {
	s := headerStripper{names: map[string]bool{}}
	for _, n := range []string{h.User, h.Email, h.Name, h.Roles, h.CSRF, "x-tollgate-assertion"} {
		s.names[normalizeHeaderName(n)] = true
	}
	for _, n := range spoofable {
		s.names[n] = true
	}
	return s
}

// matches reports whether a header of this name must not reach the upstream from the client.
// It runs for every header of every request, so it normalizes into a stack buffer rather than
// allocating (normalizeHeaderName is the reference it is tested against).
func (s headerStripper) matches(name string) bool {
	name = strings.TrimSpace(name)
	var buf [64]byte
	if len(name) > len(buf) {
		n := normalizeHeaderName(name)
		return s.names[n] || strings.HasPrefix(n, "x-tollgate-")
	}
	n := buf[:len(name)]
	for i := range len(name) {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		case c >= 0x80:
			// strings.ToLower also folds non-ASCII letters; leave those to the reference.
			n := normalizeHeaderName(name)
			return s.names[n] || strings.HasPrefix(n, "x-tollgate-")
		}
		n[i] = c
	}
	return s.names[string(n)] || strings.HasPrefix(string(n), "x-tollgate-")
}

// strip deletes every matching header, whatever its case or repetition.
func (s headerStripper) strip(h http.Header) {
	for k := range h {
		if s.matches(k) {
			delete(h, k)
		}
	}
}

// cookieNames are the cookies the gate owns; none of them is forwarded upstream, and the
// upstream may not set them.
type cookieNames struct {
	session string
	login   string // prefix of the per-login state cookies
	invite  string // an invitation token on its way through the login
}

func newCookieNames(c CookieConfig) cookieNames {
	return cookieNames{session: c.Name, login: c.Name + "_login_", invite: c.Name + "_invite"}
}

func (c cookieNames) ours(name string) bool {
	return name == c.session || name == c.invite || strings.HasPrefix(name, c.login)
}

// stripCookies rewrites the Cookie header without the gate's cookies, as one line.
func (c cookieNames) stripCookies(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var kept strings.Builder
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			name, _, _ := strings.Cut(p, "=")
			if c.ours(strings.TrimSpace(name)) {
				continue
			}
			if kept.Len() > 0 {
				kept.WriteString("; ")
			}
			kept.WriteString(p)
		}
	}
	delete(h, "Cookie")
	if kept.Len() > 0 {
		h["Cookie"] = []string{kept.String()}
	}
}

// stripSetCookies removes upstream Set-Cookie headers that would overwrite the gate's cookies.
func (c cookieNames) stripSetCookies(h http.Header) {
	vals := h.Values("Set-Cookie")
	if len(vals) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, v := range vals {
		name, _, _ := strings.Cut(v, "=")
		if c.ours(strings.TrimSpace(name)) {
			continue
		}
		h.Add("Set-Cookie", v)
	}
}
