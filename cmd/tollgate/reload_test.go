package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigReloadRefusesAnInvalidFileAndKeepsServing(t *testing.T) {
	cfg := defaultRigConfig(t)
	r := newReloadRig(t, cfg)
	accountant := r.client("accountant")
	if code, _ := r.get(accountant, "/reports"); code != http.StatusOK {
		t.Fatalf("before: /reports %d, want 200", code)
	}
	gateBefore, dirBefore := r.gw.gate.Load(), r.gw.dir.Load()

	// A value the decoder cannot read, which echoes a piece of it: it could be a secret typed
	// under the wrong key, so it must not reach the log or the trail.
	bad := cfg
	bad.IdleTimeout = "hunter2pass"
	bad.LogLevel = "debug" // would be live, if the file were accepted
	bad.Users = "    - email: sales@example.com\n      roles: [sales_rep]\n"
	r.writeConfig(bad)
	// The policy file changes too, and is not taken up while the config file is refused.
	r.writePolicy(strings.Replace(reloadPolicy, "allow: [home, reports.read]", "allow: [home]", 1))
	policyBefore := r.gw.policy.Engine().Version()
	text := bad.text(r.gateURL, r.appURL, r.idpURL)
	wantAt := fmt.Sprintf("%s:%d: ", r.file, lineNumber(t, text, "idle_timeout:"))
	err := r.gw.reload()
	if err == nil || !strings.Contains(err.Error(), wantAt) {
		t.Fatalf("reload error %v, want one naming %s", err, wantAt)
	}
	// A file that decodes but does not validate.
	semantic := cfg
	semantic.LogLevel = "verbose"
	r.writeConfig(semantic)
	text = semantic.text(r.gateURL, r.appURL, r.idpURL)
	wantLevelAt := fmt.Sprintf("%s:%d: log.level: ", r.file, lineNumber(t, text, "level: verbose"))
	if err := r.gw.reload(); err == nil || !strings.Contains(err.Error(), wantLevelAt) {
		t.Fatalf("reload error %v, want one naming %s", err, wantLevelAt)
	}

	// Everything stays as it was.
	if code, _ := r.get(accountant, "/reports"); code != http.StatusOK {
		t.Errorf("after refused reloads: /reports %d, want 200", code)
	}
	if r.gw.gate.Load() != gateBefore || r.gw.dir.Load() != dirBefore {
		t.Error("a refused file swapped the gate or the directory")
	}
	if r.gw.policy.Engine().Version() != policyBefore {
		t.Error("a refused config file reloaded the policy")
	}
	if r.gw.log.Enabled(t.Context(), slog.LevelDebug) || r.gw.cfg.Load().Log.Level != "info" {
		t.Error("a refused file changed the log level")
	}

	logs := r.logs.String()
	for _, want := range []string{wantAt, wantLevelAt, "configuration file refused", "tollgate check-config --config " + r.file} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "hunter2") {
		t.Errorf("the log repeats the refused value:\n%s", logs)
	}
	m := r.metrics()
	metricLine(t, m, `tollgate_config_reload_total{outcome="failure"} 2`)
	metricLine(t, m, `tollgate_config_reload_total{outcome="success"} 0`)
	recs := auditRecords(t, filepath.Join(r.dir, "audit.jsonl"), "config_reload", 2)
	for i, want := range []string{wantAt, wantLevelAt} {
		if recs[i].Event.Outcome != "failure" || !strings.Contains(recs[i].Event.Reason, want) {
			t.Errorf("audit record %d: %s, want a failure naming %s", i, recs[i].raw, want)
		}
		if strings.Contains(recs[i].raw, "hunter2") {
			t.Errorf("the audit record repeats the refused value: %s", recs[i].raw)
		}
	}
}

func TestConfigReloadAppliesLiveKeys(t *testing.T) {
	cfg := defaultRigConfig(t)
	cfg.KeyFile = writeSigningKey(t, t.TempDir())
	r := newReloadRig(t, cfg)
	accountant := r.client("accountant")
	if code, body := r.get(accountant, "/reports"); code != http.StatusOK || !strings.Contains(body, "header X-Tollgate-Email\n") {
		t.Fatalf("before: /reports %d:\n%s", code, body)
	}
	sales := r.client("sales")
	if code, _ := r.get(sales, "/customers"); code == http.StatusOK {
		t.Fatal("before: sales has no role yet, but reached /customers")
	}
	r.gw.log.Debug("probe before")

	next := cfg
	next.LogLevel = "debug"
	next.EmailHeader = "X-Billing-Email"
	next.Users = accountantUser + "    - email: sales@example.com\n      roles: [sales_rep]\n"
	next.CookieName = "tollgate-renamed" // waits for a restart: the session below keeps working
	r.writeConfig(next)
	r.writePolicy(strings.Replace(reloadPolicy, "allow: [home, reports.read]", "allow: [home]", 1))
	if err := r.gw.reload(); err != nil {
		t.Fatal(err)
	}

	// The policy: the same session is now refused the reports.
	if code, _ := r.get(accountant, "/reports"); code != http.StatusForbidden {
		t.Errorf("after: /reports %d, want 403 from the reloaded policy", code)
	}
	// The gate: the upstream gets the identity under the new header name.
	code, body := r.get(accountant, "/")
	if code != http.StatusOK || !strings.Contains(body, "header X-Billing-Email\n") || strings.Contains(body, "header X-Tollgate-Email\n") {
		t.Errorf("after: / %d, want the email under X-Billing-Email only:\n%s", code, body)
	}
	// The directory: a new sign-in resolves with the new users.
	sales = r.client("sales")
	if code, _ := r.get(sales, "/customers"); code != http.StatusOK {
		t.Errorf("after: sales /customers %d, want 200 with the role the reloaded directory gives", code)
	}
	// The log level.
	r.gw.log.Debug("probe after")
	logs := r.logs.String()
	if strings.Contains(logs, "probe before") || !strings.Contains(logs, "probe after") {
		t.Errorf("debug lines: want only the one after the reload:\n%s", grepLines(logs, "probe"))
	}
	if !strings.Contains(logs, `"applied":["gate.headers.email","directory.users","log.level"],"restart_required":["gate.cookie.name"]`) {
		t.Errorf("log lacks the applied and waiting keys:\n%s", logs)
	}

	m := r.metrics()
	metricLine(t, m, `tollgate_config_reload_total{outcome="success"} 1`)
	metricLine(t, m, `tollgate_config_reload_total{outcome="failure"} 0`)
	metricLine(t, m, `tollgate_config_restart_pending 1`)
	recs := auditRecords(t, filepath.Join(r.dir, "audit.jsonl"), "config_reload", 1)
	if want := "applied: gate.headers.email, directory.users, log.level; restart required: gate.cookie.name"; recs[0].Event.Outcome != "success" || recs[0].Event.Reason != want {
		t.Errorf("audit record: %s, want success with reason %q", recs[0].raw, want)
	}
}

// Without key files the gate signs with a key generated at start: a rebuilt gate would
// publish another, so gate settings wait for a restart.
func TestConfigReloadKeepsTheGateWhenItsKeyIsGenerated(t *testing.T) {
	cfg := defaultRigConfig(t)
	r := newReloadRig(t, cfg)
	accountant := r.client("accountant")
	gateBefore := r.gw.gate.Load()
	next := cfg
	next.EmailHeader = "X-Billing-Email"
	r.writeConfig(next)
	if err := r.gw.reload(); err != nil {
		t.Fatal(err)
	}
	if code, body := r.get(accountant, "/"); code != http.StatusOK || !strings.Contains(body, "header X-Tollgate-Email\n") {
		t.Errorf("after: / %d, want the email still under X-Tollgate-Email:\n%s", code, body)
	}
	if r.gw.gate.Load() != gateBefore {
		t.Error("the gate was rebuilt")
	}
	logs := r.logs.String()
	if !strings.Contains(logs, `"restart_required":["gate.headers.email"]`) || !strings.Contains(logs, "gate.assertion.key_files") {
		t.Errorf("log does not say gate.headers.email waits for a restart, and why:\n%s", logs)
	}
}

func TestConfigReloadReportsRestartOnlyKeys(t *testing.T) {
	cfg := defaultRigConfig(t)
	r := newReloadRig(t, cfg)
	startCfg := r.gw.cfg.Load()
	next := cfg
	next.ListenAddr = freeAddr(t)
	next.IdleTimeout = "20m"
	next.ClientSecret = "n3w-s3cret-value"
	r.writeConfig(next)
	if err := r.gw.reload(); err != nil {
		t.Fatal(err)
	}
	// The relying party still uses the secret it started with (the IdP knows only that one),
	// so a new sign-in works.
	accountant := r.client("accountant")
	if code, _ := r.get(accountant, "/reports"); code != http.StatusOK {
		t.Errorf("sign-in after the reload: /reports %d, want 200 with the old client secret", code)
	}
	in := r.gw.cfg.Load()
	if in.Listen.Addr != startCfg.Listen.Addr || in.Session.IdleTimeout != 30*time.Minute || in.OIDC.ClientSecret != "s3cret" {
		t.Errorf("configuration in force changed: listen.addr %s, session.idle_timeout %s", in.Listen.Addr, in.Session.IdleTimeout)
	}
	want := []string{"listen.addr", "oidc.client_secret", "session.idle_timeout"}
	logs := r.logs.String()
	if !strings.Contains(logs, `"restart_required":["listen.addr","oidc.client_secret","session.idle_timeout"]`) || !strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("log lacks a warning naming %v:\n%s", want, logs)
	}
	recs := auditRecords(t, filepath.Join(r.dir, "audit.jsonl"), "config_reload", 1)
	if reason := recs[0].Event.Reason; reason != "applied: none; restart required: "+strings.Join(want, ", ") {
		t.Errorf("audit reason %q", reason)
	}
	for _, secret := range []string{"s3cret", "n3w-s3cret-value"} {
		if strings.Contains(logs, secret) || strings.Contains(recs[0].raw, secret) {
			t.Errorf("a client secret reached the log or the trail")
		}
	}
	metricLine(t, r.metrics(), `tollgate_config_restart_pending 1`)

	// Reverting the file clears what waits for a restart.
	r.writeConfig(cfg)
	if err := r.gw.reload(); err != nil {
		t.Fatal(err)
	}
	metricLine(t, r.metrics(), `tollgate_config_restart_pending 0`)
}

// A policy change the file watcher picks up later is checked against the directory in force
// after a reload, not the one the process started with.
func TestPolicyWatchChecksTheReloadedDirectory(t *testing.T) {
	cfg := defaultRigConfig(t)
	r := newReloadRig(t, cfg)
	next := cfg
	next.Users = accountantUser + "    - email: sales@example.com\n      roles: [sales_rep]\n"
	r.writeConfig(next)
	if err := r.gw.reload(); err != nil {
		t.Fatal(err)
	}
	version := r.gw.policy.Engine().Version()
	withoutSales := strings.Replace(reloadPolicy, "  sales_rep:\n    description: Reads customers\n    allow: [home, customers.read]\n", "", 1)
	if withoutSales == reloadPolicy {
		t.Fatal("policy edit did not apply")
	}
	r.writePolicy(withoutSales)
	if err := r.gw.policy.Reload(); err == nil || !strings.Contains(err.Error(), "directory.users[1].roles") {
		t.Fatalf("policy reload: %v, want a refusal naming directory.users[1].roles", err)
	}
	if r.gw.policy.Engine().Version() != version {
		t.Error("the refused policy is served")
	}
	// Positive control: a policy that keeps the role loads.
	r.writePolicy(reloadPolicy + "# edited\n")
	if err := r.gw.policy.Reload(); err != nil || r.gw.policy.Engine().Version() == version {
		t.Fatalf("policy reload: %v, version %s", err, r.gw.policy.Engine().Version())
	}
}

// A reload of an unchanged file keeps the very same gate and directory: rebuilding them on
// every logrotate SIGHUP would forget the directory's first-login bindings.
func TestConfigReloadOfAnUnchangedFileKeepsEverything(t *testing.T) {
	cfg := defaultRigConfig(t)
	cfg.KeyFile = writeSigningKey(t, t.TempDir())
	r := newReloadRig(t, cfg)
	gateBefore, dirBefore := r.gw.gate.Load(), r.gw.dir.Load()
	if keys := changedKeys(r.gw.cfg.Load(), mustLoad(t, r.file)); len(keys) != 0 {
		t.Fatalf("the same file loaded twice differs in %v", keys)
	}
	if err := r.gw.reload(); err != nil {
		t.Fatal(err)
	}
	if r.gw.gate.Load() != gateBefore || r.gw.dir.Load() != dirBefore {
		t.Error("an unchanged file rebuilt the gate or the directory")
	}
	recs := auditRecords(t, filepath.Join(r.dir, "audit.jsonl"), "config_reload", 1)
	if recs[0].Event.Outcome != "success" || recs[0].Event.Reason != "no changes" {
		t.Errorf("audit record: %s", recs[0].raw)
	}
}
