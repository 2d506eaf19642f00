package billing

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"mime"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the templates in templates/, each rendered inside layout.html.
var pageNames = []string{
	"dashboard", "customers", "customer", "invoices", "invoice", "payments", "payment",
	"reports", "aging", "revenue", "settings", "error",
}

// parsePages panics on a broken template: they are compiled into the binary, so a failure is a
// programming error that every test run would catch.
func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{"join": strings.Join}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		pages[name] = template.Must(template.New(name).Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return pages
}

// page is the data every template receives.
type page struct {
	Title      string
	Section    string // which nav entry is current
	Company    string
	Who        identity
	LogoutPath string
	Data       any
}

func (a *App) render(w http.ResponseWriter, r *http.Request, status int, name, section, title string, data any) {
	p := page{
		Title: title, Section: section, Company: a.data.currentSettings().Company,
		Who: a.identity(r), LogoutPath: a.cfg.LogoutPath, Data: data,
	}
	// Render to a buffer first so that a template failure becomes a clean 500, not half a page.
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// wantsJSON reports whether the client listed application/json in Accept; API-style clients get
// JSON answers instead of pages and redirects.
func wantsJSON(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == "application/json" {
				return true
			}
		}
	}
	return false
}

type errorView struct {
	Status  int
	Text    string
	Message string
}

// fail answers an error in the form the client asked for.
func (a *App) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		writeJSON(w, status, map[string]any{"ok": false, "error": msg})
		return
	}
	a.render(w, r, status, "error", "", http.StatusText(status),
		errorView{Status: status, Text: http.StatusText(status), Message: msg})
}

// done finishes a successful POST: JSON for API clients, otherwise a 303 to the page that shows
// the result, so a browser reload does not repeat the action.
func (a *App) done(w http.ResponseWriter, r *http.Request, status int, location string, key string, v any) {
	if wantsJSON(r) {
		w.Header().Set("Location", location)
		writeJSON(w, status, map[string]any{"ok": true, key: v})
		return
	}
	http.Redirect(w, r, location, http.StatusSeeOther)
}
