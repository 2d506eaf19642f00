package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestChartRefuses: combinations that would deploy but not work are refused at render time,
// with a message that names the value and the fix.
func TestChartRefuses(t *testing.T) {
	sidecar, gateway := filepath.Join(chartDir, "ci", "sidecar.yaml"), filepath.Join(chartDir, "ci", "gateway-single.yaml")
	for _, c := range []struct {
		name, values string
		set          []string
		want         string
	}{
		{"several gateways with embedded sessions", gateway, []string{"session.backend=embedded"}, "several gates need the redis backend"},
		{"sidecar app scaled out with embedded sessions", sidecar, []string{"app.replicas=2", "session.backend=embedded", "store.driver="}, "several gates need the redis backend"},
		{"several gates on one SQLite file", gateway, []string{"store.driver=sqlite"}, "several gates need postgres"},
		{"scaled-out sidecar on one SQLite file", sidecar, []string{"app.replicas=2"}, "several gates need postgres"},
		{"sentinel without a master name", gateway, []string{"session.redis.mode=sentinel"}, "session.redis.masterName: required"},
		{"redis without addresses", gateway, []string{"session.redis.addrs=null"}, "session.redis.addrs: required"},
		{"postgres without its DSN secret", gateway, []string{"store.driver=postgres"}, "store.dsn.secretName: required"},
		{"sidecar without the app's image", sidecar, []string{"app.image.repository="}, "app.image.repository: required"},
		{"no issuer", gateway, []string{"oidc.issuer="}, "oidc.issuer: required"},
		{"no client secret", gateway, []string{"oidc.clientSecret.secretName="}, "oidc.clientSecret.secretName: required"},
		{"unknown shape", gateway, []string{"shape=daemonset"}, "shape"},
		{"misspelt value", gateway, []string{"replicaCont=3"}, "replicaCont"},
		{"unknown redis mode", gateway, []string{"session.redis.mode=sentinal"}, "/session/redis/mode"},
		{"client secret in values", gateway, []string{"config.oidc.client_secret=hunter2"}, "config.oidc.client_secret: a secret in values"},
		{"redis password in values", gateway, []string{"config.session.redis.password=hunter2"}, "config.session.redis.password: a secret in values"},
		{"postgres DSN in values", gateway, []string{"config.store.dsn=postgres://u:pw@db/x"}, "config.store.dsn: a secret in values"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := helmTemplate(t, c.values, c.set...)
			if err == nil {
				t.Fatalf("rendered with %v; want a refusal mentioning %q", c.set, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v\nwant it to mention %q", err, c.want)
			}
		})
	}
	// Positive control: the same files render unchanged.
	for _, v := range []string{sidecar, gateway} {
		if _, err := helmTemplate(t, v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

// TestChartPolicy: the chart ships the example billing policy as its default, byte for byte
// once rendered, and a policy of one's own replaces it without the chart's ConfigMap.
func TestChartPolicy(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(chartDir, "files", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(example), string(shipped)); diff != "" {
		t.Errorf("%s/files/policy.yaml differs from examples/policy.yaml; copy it again (-example +chart):\n%s", chartDir, diff)
	}
	values := filepath.Join(chartDir, "ci", "gateway-single.yaml")
	r := render(t, values)
	got := r.configMaps["tg-tollgate-policy"].Data["policy.yaml"]
	if diff := cmp.Diff(strings.TrimRight(string(example), "\n"), strings.TrimRight(got, "\n")); diff != "" {
		t.Errorf("rendered policy differs from examples/policy.yaml (-want +got):\n%s", diff)
	}

	r = render(t, values, "policy.existingConfigMap=billing-policy", "policy.key=rules.yaml")
	if _, ok := r.configMaps["tg-tollgate-policy"]; ok {
		t.Error("the chart still renders its policy ConfigMap next to an existing one")
	}
	d := r.deployment(t)
	found := false
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == "billing-policy" {
			found = len(v.ConfigMap.Items) == 1 && v.ConfigMap.Items[0].Key == "rules.yaml"
		}
	}
	if !found {
		t.Errorf("no volume of ConfigMap billing-policy with key rules.yaml: %+v", d.Spec.Template.Spec.Volumes)
	}
	var cfg struct {
		Policy struct {
			File string `json:"file"`
		} `json:"policy"`
	}
	if err := yaml.Unmarshal([]byte(r.configMaps["tg-tollgate-config"].Data["tollgate.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.File != "/etc/tollgate/policy/rules.yaml" {
		t.Errorf("policy.file = %q, want /etc/tollgate/policy/rules.yaml", cfg.Policy.File)
	}
}

// TestChartOwnsItsKeys: keys the chart wires to volumes and Secrets cannot be overridden
// through config, while other keys pass through, and a config change rolls the pods (the
// checksum changes).
func TestChartOwnsItsKeys(t *testing.T) {
	values := filepath.Join(chartDir, "ci", "gateway-single.yaml")
	base := render(t, values)
	r := render(t, values,
		"config.oidc.client_secret_file=/tmp/elsewhere",
		"config.policy.file=/tmp/other.yaml",
		"config.session.backend=embedded",
		"config.gate.login_ttl=5m",
	)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(r.configMaps["tg-tollgate-config"].Data["tollgate.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	oidc := cfg["oidc"].(map[string]any)
	if oidc["client_secret_file"] != "/etc/tollgate/secrets/oidc-client-secret" {
		t.Errorf("oidc.client_secret_file = %v", oidc["client_secret_file"])
	}
	if got := cfg["policy"].(map[string]any)["file"]; got != "/etc/tollgate/policy/policy.yaml" {
		t.Errorf("policy.file = %v: config overrode the chart", got)
	}
	if got := cfg["session"].(map[string]any)["backend"]; got != "redis" {
		t.Errorf("session.backend = %v: config overrode the chart", got)
	}
	if got := cfg["gate"].(map[string]any)["login_ttl"]; got != "5m" {
		t.Errorf("gate.login_ttl = %v: a key of config did not pass through", got)
	}
	before := base.deployment(t).Spec.Template.Annotations["checksum/config"]
	after := r.deployment(t).Spec.Template.Annotations["checksum/config"]
	if before == "" || before == after {
		t.Errorf("checksum/config %q → %q: a config change must roll the pods", before, after)
	}
	policyOnly := render(t, values, "policy.content=version: 1")
	if got := policyOnly.deployment(t).Spec.Template.Annotations["checksum/config"]; got != before {
		t.Error("a policy change rolls the pods: it should be reloaded in place")
	}
}
