package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/internal/browsertest"
)

// TestPagesInBrowser drives the admin pages in headless Chromium: add a user (the invitation
// link is shown), give them a role, disable them, and see the list say so; a refused change
// (your own roles) is explained on the page.
func TestPagesInBrowser(t *testing.T) {
	e := newEnv(t, backends[0].open)
	// The browser carries no test header: every request is the admin's session.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.h.Serve(w, r, e.caller("admin"))
	}))
	t.Cleanup(srv.Close)

	ctx := browsertest.Start(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	read := func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	step("add a user",
		chromedp.Navigate(srv.URL+Prefix+"users/new"),
		chromedp.WaitVisible(`#new-user`),
		chromedp.SendKeys(`#email`, "pat@example.com"),
		chromedp.SendKeys(`#name`, "Pat Payments"),
		chromedp.Click(`#role-support`),
		chromedp.Submit(`#new-user`),
		chromedp.WaitVisible(`#invite-link`),
	)
	if link := read(chromedp.Value(`#invite-link`)); !strings.HasPrefix(link, "https://billing.example.com/_tollgate/invite?token=inv_") {
		t.Fatalf("invitation link %q", link)
	}
	// The stylesheet loaded under the strict CSP: links take its accent colour.
	if c := read(chromedp.Evaluate[string](`getComputedStyle(document.querySelector("main a")).color`)); c != "rgb(10, 88, 202)" {
		t.Errorf("stylesheet not applied (link colour %q)", c)
	}
	pat := e.userByEmail("pat@example.com")

	step("assign a role",
		chromedp.Navigate(srv.URL+Prefix+"users/"+pat.ID),
		chromedp.WaitVisible(`#roles-form`),
		chromedp.Click(`#role-billing_manager`),
		chromedp.Submit(`#roles-form`),
		chromedp.WaitVisible(`#notice`),
	)
	if roles := read(chromedp.Text(`#user-roles`)); roles != "billing_manager, support" {
		t.Errorf("page shows roles %q", roles)
	}
	step("disable", chromedp.Click(`#disable`), chromedp.WaitVisible(`#enable`))
	if status := read(chromedp.Text(`#user-status`)); status != "disabled" {
		t.Errorf("page shows status %q", status)
	}
	step("list", chromedp.Navigate(srv.URL+Prefix+"?q=pat"), chromedp.WaitVisible(`#users`))
	listRoles := read(chromedp.Text(`#users tr[data-email="pat@example.com"] .roles`))
	listStatus := read(chromedp.Text(`#users tr[data-email="pat@example.com"] .status`))
	if listRoles != "billing_manager, support" || listStatus != "disabled" {
		t.Errorf("list shows roles %q status %q", listRoles, listStatus)
	}
	if u := e.userByEmail("pat@example.com"); u.Status != directory.StatusDisabled || !has(u.Roles, "billing_manager") {
		t.Errorf("store has %+v", u)
	}

	step("change own roles",
		chromedp.Navigate(srv.URL+Prefix+"users/"+e.admin.ID),
		chromedp.WaitVisible(`#roles-form`),
		chromedp.Click(`#role-administrator`),
		chromedp.Submit(`#roles-form`),
		chromedp.WaitVisible(`#error`),
	)
	if msg := read(chromedp.Text(`#error`)); !strings.Contains(msg, "You cannot change your own roles") {
		t.Errorf("error shown %q", msg)
	}
}

// TestPagesMarkup: the pages are accessible and carry nothing inline that the CSP forbids.
func TestPagesMarkup(t *testing.T) {
	e := newEnv(t, backends[0].open)
	u := e.addUser("m@example.com", directory.StatusActive, "support")
	e.openSessions(u, 1)
	for _, path := range []string{Prefix, Prefix + "users/new", Prefix + "users/" + u.ID, Prefix + "tokens"} {
		r := e.do(t, req{as: "admin", method: "GET", path: path})
		want(t, r, http.StatusOK)
		page := string(r.body)
		for _, bad := range []string{"<script", "style=", " on", "http://", "https://"} {
			if bad == " on" {
				if strings.Contains(page, " onclick") || strings.Contains(page, " onsubmit") {
					t.Errorf("%s has an inline handler", path)
				}
				continue
			}
			if strings.Contains(page, bad) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		for _, good := range []string{`<html lang="en">`, "<h1>", "<main", `rel="stylesheet" href="/_tollgate/admin/assets/admin.css"`} {
			if !strings.Contains(page, good) {
				t.Errorf("%s lacks %q", path, good)
			}
		}
		// Every input but hidden ones has a label.
		for _, id := range []string{"q", "email", "name", "token-name"} {
			if strings.Contains(page, `id="`+id+`"`) && !strings.Contains(page, `for="`+id+`"`) {
				t.Errorf("%s: #%s has no label", path, id)
			}
		}
		if strings.Contains(page, "<table") && !strings.Contains(page, "<caption>") && !strings.Contains(page, `scope="col"`) {
			t.Errorf("%s: a table without caption or header cells", path)
		}
	}
	css := e.do(t, req{method: "GET", path: cssPath})
	want(t, css, http.StatusOK)
	if ct := css.header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("CSS Content-Type %q", ct)
	}
}
