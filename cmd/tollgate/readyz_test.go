package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadyzExclude(t *testing.T) {
	idpDown := errors.New("discovery: connection refused")
	storeUp, storeDown := func(context.Context) error { return nil }, func(context.Context) error { return errors.New("redis: timeout") }
	for _, tc := range []struct {
		name     string
		store    func(context.Context) error
		query    string
		want     int
		contains string
	}{
		{"an IdP outage makes the gate unready", storeUp, "", 503, "identity_provider: discovery"},
		{"unless the probe leaves the IdP out", storeUp, "?exclude=identity_provider", 200, "ready"},
		{"leaving the IdP out still checks the store", storeDown, "?exclude=identity_provider", 503, "session_store: redis: timeout"},
		{"several exclusions", storeDown, "?exclude=identity_provider&exclude=session_store", 200, "ready"},
		{"a misspelt check is refused, not ignored", storeUp, "?exclude=idp", 400, "the checks are: audit_spool, identity_provider, session_store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := opsHandler(prometheus.NewRegistry(), map[string]func(context.Context) error{
				"session_store":     tc.store,
				"identity_provider": func(context.Context) error { return idpDown },
				"audit_spool":       func(context.Context) error { return nil },
			})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz"+tc.query, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.want || !strings.Contains(string(body), tc.contains) {
				t.Fatalf("GET /readyz%s = %d %q, want %d containing %q", tc.query, rec.Code, body, tc.want, tc.contains)
			}
		})
	}
}
