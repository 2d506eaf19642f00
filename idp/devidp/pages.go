package devidp

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
)

// pagesTemplate holds every HTML page. No external assets: the pages must work offline and a
// strict Content-Security-Policy keeps them that way.
const pagesTemplate = `
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#222}
label{display:block;margin-top:1rem}
input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
button{margin-top:1.25rem;padding:.5rem 1.5rem}
.error{color:#a00;border:1px solid #a00;padding:.5rem}
.hint{color:#555;font-size:.9rem}
</style>
</head>
<body>{{end}}

{{define "login"}}{{template "head" "Sign in — Tollgate demo IdP"}}
<h1>Sign in — Tollgate demo IdP</h1>
<p>to continue to <strong>{{.ClientID}}</strong></p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="auth_request" value="{{.RequestID}}">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="{{.Username}}" autocomplete="username" autofocus required>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{{if .Users}}<p class="hint">Demo users: {{range $i, $u := .Users}}{{if $i}}, {{end}}<code>{{$u}}</code>{{end}}</p>{{end}}
</body>
</html>
{{end}}

{{define "message"}}{{template "head" .Title}}
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
</body>
</html>
{{end}}
`

type loginPage struct {
	Action    string
	RequestID string
	ClientID  string
	Username  string
	Error     string
	Users     []string
}

type messagePage struct {
	Title   string
	Message string
}

func parsePages() (*template.Template, error) {
	t, err := template.New("pages").Parse(pagesTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse pages: %w", err)
	}
	return t, nil
}

// renderPage writes one of the HTML pages. It renders into a buffer first so that a template
// error becomes a clean 500, not half a page.
func (p *Provider) renderPage(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.pages.ExecuteTemplate(&buf, name, data); err != nil {
		p.log.Error("devidp: render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No form-action: browsers apply it to the redirect after the login POST, which goes to
	// the relying party.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// renderMessage shows a page with a title and one paragraph.
func (p *Provider) renderMessage(w http.ResponseWriter, status int, title, message string) {
	p.renderPage(w, status, "message", messagePage{Title: title, Message: message})
}
