package proxy

import (
	"net/url"
	"strings"

	"github.com/tollgate/tollgate/proxy/canon"
)

// safeRedirect returns rd when it is a same-origin path, re-encoded in its canonical form, and
// "/" otherwise. It is checked after parsing, so encoded and whitespace variants of "//host",
// "/\host", "javascript:" or "user@host" never leave the origin.
func safeRedirect(rd string) string {
	if rd == "" || len(rd) > 4096 || rd[0] != '/' {
		return "/"
	}
	for i := 0; i < len(rd); i++ {
		if c := rd[i]; c <= ' ' || c == 0x7f || c == '\\' || c >= 0x80 {
			return "/"
		}
	}
	if strings.HasPrefix(rd, "//") {
		return "/"
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	t, err := canon.Request("GET", rd)
	if err != nil || (strings.HasPrefix(t.Path, reservedPrefix) && !landing(t.Path)) {
		return "/"
	}
	out := t.Path
	if t.RawQuery != "" {
		out += "?" + t.RawQuery
	}
	// The canonical path never starts with "//", but check the result once more: this string
	// becomes a Location header.
	if strings.HasPrefix(out, "//") || !strings.HasPrefix(out, "/") {
		return "/"
	}
	return out
}

// landing reports whether a gate path is a page a person may be sent back to after signing in:
// the admin and account pages, never an endpoint that acts (callback, logout, invite).
func landing(p string) bool {
	return strings.HasPrefix(p, reservedPrefix+"admin/") || p == reservedPrefix+"account" || strings.HasPrefix(p, reservedPrefix+"account/")
}
