package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/examples"
	"github.com/tollgate/tollgate/examples/billing"
	"github.com/tollgate/tollgate/idp/devidp"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/mfa"
)

// cmdDemo runs everything in one process: the demo IdP, the example billing app, and the gate in
// front of it with the embedded session store, so that a newcomer needs nothing but Go.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "gate address (host:port; port 0 picks a free one)")
	opsAddr := fs.String("ops-addr", "127.0.0.1:9090", "metrics and health address")
	data := fs.String("data", defaultDataDir(), "folder for the demo's session store and audit trail")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := runDemo(ctx, *addr, *opsAddr, *data, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "tollgate demo:", err)
		return 1
	}
	return 0
}

func defaultDataDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "tollgate-demo")
}

func runDemo(ctx context.Context, addr, opsAddr, data string, stdout, stderr io.Writer) error {
	log := newLogger("warn", stderr)
	gateLn, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	opsLn, err := net.Listen("tcp", opsAddr)
	if err != nil {
		gateLn.Close()
		return fmt.Errorf("--ops-addr: %w", err)
	}
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	gateURL, opsURL := "http://"+reachable(gateLn.Addr()), "http://"+reachable(opsLn.Addr())
	idpURL, appURL := "http://"+idpLn.Addr().String(), "http://"+appLn.Addr().String()

	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	clientSecret := base64.RawURLEncoding.EncodeToString(secret)
	provider, err := devidp.New(devidp.Config{
		Issuer:    idpURL,
		Users:     demoUsers(),
		Clients:   []devidp.Client{{ID: "tollgate-demo", Secret: clientSecret, RedirectURIs: []string{gateURL + "/_tollgate/callback"}}},
		ShowUsers: true,
		Logger:    log,
	})
	if err != nil {
		return err
	}

	insecure := false
	cfg := &Config{path: "demo"}
	cfg.Gate.PublicURL = gateURL
	cfg.Gate.Upstream.URL = appURL
	cfg.Gate.Cookie.Secure = &insecure // plain http on loopback
	cfg.OIDC.Issuer, cfg.OIDC.ClientID, cfg.OIDC.ClientSecret = idpURL, "tollgate-demo", clientSecret
	cfg.Session.Backend, cfg.Session.Path = "embedded", filepath.Join(data, "sessions.db")
	// The policy is copied into the data folder on the first start, so that it can be edited
	// there and watched being reloaded.
	cfg.Policy.File = filepath.Join(data, "policy.yaml")
	if err := writeIfAbsent(cfg.Policy.File, examples.Policy); err != nil {
		return err
	}
	// The demo users live in the durable directory, so that the administrator can change
	// their roles and disable them from the admin pages.
	cfg.Directory.Mode = directory.ModeInviteOnly
	cfg.Store = &directory.StoreConfig{Driver: "sqlite", Path: filepath.Join(data, "directory.db")}
	// The gate's own second factor: asked of anyone whose IdP login carried none (the demo
	// user "newhire"), and offered to everyone at /_tollgate/account.
	keyFile := filepath.Join(data, "mfa.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := writeIfAbsent(keyFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n")); err != nil {
		return err
	}
	cfg.MFA = mfa.Config{Mode: mfa.ModeEither, Issuer: "Tollgate demo", KeyFile: keyFile}
	cfg.MFA.WebAuthn.Enabled = true
	auditFile := filepath.Join(data, "audit", "audit.jsonl")
	cfg.Audit = audit.Config{Spool: audit.SpoolConfig{Dir: filepath.Join(data, "audit", "spool")},
		Sinks: []audit.SinkConfig{{Type: "file", Path: auditFile}}}
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	gw, err := assemble(cfg, log)
	if err != nil {
		return err
	}
	defer gw.close()
	if err := seedDemoUsers(ctx, gw.directory); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Tollgate demo is running. Open the gate in a browser:\n\n")
	fmt.Fprintf(stdout, "gate: %s\nops: %s\nidp: %s\napp: %s\n\n", gateURL, opsURL, idpURL, appURL)
	fmt.Fprintf(stdout, "Demo users (password \"demo\"): admin (administrator), manager (billing_manager), sales (sales_rep), accountant (accountant), support (support)\n")
	fmt.Fprintf(stdout, "and newhire (support), whose IdP login has no second factor: the gate asks them to enrol an authenticator app\n")
	fmt.Fprintf(stdout, "User administration: %s/_tollgate/admin/ (as admin); your factors and sessions: %s/_tollgate/account\n", gateURL, gateURL)
	fmt.Fprintf(stdout, "Data (sessions, users, policy, audit trail) is kept in %s; the policy file is %s (edits are picked up live)\n", data, cfg.Policy.File)
	fmt.Fprintf(stdout, "The audit trail is written to %s; check it with: tollgate audit verify %s\n", auditFile, auditFile)
	fmt.Fprintf(stdout, "The app port is for looking behind the gate only: it trusts any identity header. Press Ctrl-C to stop.\n")

	return runGateway(ctx, gw, cfg,
		serverOn{newServer(gw.gate, log), gateLn},
		serverOn{newServer(gw.ops, log), opsLn},
		serverOn{newServer(provider, log), idpLn},
		serverOn{newServer(billing.New(billing.Config{}), log), appLn},
	)
}

func writeIfAbsent(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// demoRoles gives each demo user the role its name suggests.
var demoRoles = map[string]string{"admin": "administrator", "manager": "billing_manager", "sales": "sales_rep",
	"accountant": "accountant", "support": "support", "newhire": "support"}

// demoUsers are the demo IdP's users plus one whose login asserts no second factor.
func demoUsers() []devidp.User {
	return append(devidp.DemoUsers(), devidp.User{Username: "newhire", Password: "demo", Email: "newhire@example.com",
		Name: "Nia Newhire", Groups: []string{"billing-support"}, AMR: []string{"pwd"}})
}

// seedDemoUsers puts the demo IdP's users into the directory on the first start; later starts
// keep whatever the administrator changed.
func seedDemoUsers(ctx context.Context, store *directory.SQLStore) error {
	for _, u := range demoUsers() {
		_, err := store.GetUserByEmail(ctx, u.Email)
		if err == nil {
			continue
		}
		if !errors.Is(err, directory.ErrNotFound) {
			return err
		}
		if _, err := store.CreateUser(ctx, directory.User{Email: u.Email, Name: u.Name, Roles: []string{demoRoles[u.Username]},
			Status: directory.StatusActive, InvitedBy: "demo"}); err != nil {
			return fmt.Errorf("seed demo user %s: %w", u.Username, err)
		}
	}
	return nil
}

// reachable turns a listener address into one a browser can open: a loopback or unspecified
// host becomes "localhost", since browsers allow passkeys only on a domain name.
func reachable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && (ip.IsUnspecified() || ip.IsLoopback())) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
