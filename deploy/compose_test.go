package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestComposeExample checks the docker-compose example, which cannot run here (no container
// engine), for what would break it: the gate's configuration must pass check-config, and the
// gate, Dex and the browser must agree on the issuer, the client and the redirect URI.
func TestComposeExample(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "examples", "docker-compose")
	read := func(name string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var compose struct {
		Services map[string]struct {
			NetworkMode string            `json:"network_mode"`
			ReadOnly    bool              `json:"read_only"`
			Ports       []string          `json:"ports"`
			Environment map[string]string `json:"environment"`
			Secrets     []string          `json:"secrets"`
		} `json:"services"`
	}
	read("docker-compose.yaml", &compose)
	var dex struct {
		Issuer        string `json:"issuer"`
		StaticClients []struct {
			ID           string   `json:"id"`
			Secret       string   `json:"secret"`
			RedirectURIs []string `json:"redirectURIs"`
		} `json:"staticClients"`
		StaticPasswords []struct {
			Email string `json:"email"`
		} `json:"staticPasswords"`
	}
	read("dex.yaml", &dex)
	var gate struct {
		Gate struct {
			PublicURL string `json:"public_url"`
		} `json:"gate"`
		OIDC struct {
			Issuer   string `json:"issuer"`
			ClientID string `json:"client_id"`
		} `json:"oidc"`
		Directory struct {
			Users []struct {
				Email string `json:"email"`
			} `json:"users"`
		} `json:"directory"`
	}
	read("tollgate.yaml", &gate)

	for _, name := range []string{"redis", "dex", "billing", "tollgate"} {
		if _, ok := compose.Services[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	tg := compose.Services["tollgate"]
	if tg.NetworkMode != "service:dex" {
		t.Errorf("tollgate network_mode = %q: the gate must reach Dex at the browser's issuer URL", tg.NetworkMode)
	}
	if !tg.ReadOnly {
		t.Error("tollgate runs with a writable root filesystem")
	}
	for _, p := range compose.Services["dex"].Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("port %q is published beyond loopback", p)
		}
	}
	if dex.Issuer != gate.OIDC.Issuer {
		t.Errorf("Dex issuer %q, gate oidc.issuer %q", dex.Issuer, gate.OIDC.Issuer)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "secrets", "oidc-client-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dex.StaticClients) != 1 {
		t.Fatalf("%d Dex clients, want 1", len(dex.StaticClients))
	}
	client := dex.StaticClients[0]
	if client.ID != gate.OIDC.ClientID || client.Secret != strings.TrimSpace(string(secret)) {
		t.Errorf("Dex client %q with secret %q; the gate uses %q and secrets/oidc-client-secret", client.ID, client.Secret, gate.OIDC.ClientID)
	}
	if want := gate.Gate.PublicURL + "/_tollgate/callback"; !slices.Equal(client.RedirectURIs, []string{want}) {
		t.Errorf("Dex redirect URIs %v, want [%s]", client.RedirectURIs, want)
	}
	var dexUsers []string
	for _, p := range dex.StaticPasswords {
		dexUsers = append(dexUsers, p.Email)
	}
	for _, u := range gate.Directory.Users {
		if !slices.Contains(dexUsers, u.Email) {
			t.Errorf("directory user %s cannot sign in at Dex", u.Email)
		}
	}

	// check-config with the files laid out as the compose file mounts them.
	work := t.TempDir()
	for src, dst := range map[string]string{
		filepath.Join(dir, "tollgate.yaml"):                   "tollgate.yaml",
		filepath.Join(repoRoot(t), "examples", "policy.yaml"): "policy.yaml",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(tollgateBinary(t), "check-config", "--config", filepath.Join(work, "tollgate.yaml"))
	cmd.Env = os.Environ()
	for k, v := range tg.Environment {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("tollgate check-config examples/docker-compose/tollgate.yaml: %v\n%s", err, out)
	}
}
