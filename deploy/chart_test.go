package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// chartCase is one values file of the chart's ci folder and what it must produce.
type chartCase struct {
	values     string
	shape      string
	containers []string // of the pod, in order
	session    string   // session.backend in the rendered config
	redisMode  string
	hpa, pdb   bool
	monitor    bool
	secrets    []string // files projected into /etc/tollgate/secrets
}

var chartCases = []chartCase{
	{values: "gateway-single.yaml", shape: "gateway", containers: []string{"tollgate"}, session: "redis", redisMode: "single",
		hpa: true, pdb: true, secrets: []string{"oidc-client-secret", "redis-password"}},
	{values: "gateway-sentinel.yaml", shape: "gateway", containers: []string{"tollgate"}, session: "redis", redisMode: "sentinel",
		pdb: true, monitor: true, secrets: []string{"oidc-client-secret", "redis-password", "redis-ca.crt", "postgres-dsn"}},
	{values: "gateway-cluster.yaml", shape: "gateway", containers: []string{"tollgate"}, session: "redis", redisMode: "cluster",
		hpa: true, pdb: true, monitor: true, secrets: []string{"oidc-client-secret", "postgres-dsn", "mfa.key", "loki-authorization"}},
	{values: "sidecar.yaml", shape: "sidecar", containers: []string{"billing", "tollgate"}, session: "embedded",
		secrets: []string{"oidc-client-secret"}},
	{values: "sidecar-redis.yaml", shape: "sidecar", containers: []string{"billing", "tollgate"}, session: "redis", redisMode: "single",
		secrets: []string{"oidc-client-secret"}},
}

func TestChart(t *testing.T) {
	for _, c := range chartCases {
		t.Run(strings.TrimSuffix(c.values, ".yaml"), func(t *testing.T) {
			r := render(t, filepath.Join(chartDir, "ci", c.values))
			d := r.deployment(t)
			checkPod(t, c, r, d)
			checkServices(t, c, r, d)
			checkScaling(t, c, r, d)
			checkConfig(t, c, r)
		})
	}
}

// checkPod holds the pod to the hardening and wiring the README promises.
func checkPod(t *testing.T, c chartCase, r *rendered, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("Deployment selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	var names []string
	for _, ctr := range pod.Containers {
		names = append(names, ctr.Name)
	}
	if diff := cmp.Diff(c.containers, names); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("pod does not require a non-root user")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("pod mounts a service account token it never uses")
	}
	if _, ok := r.accounts[pod.ServiceAccountName]; !ok {
		t.Errorf("service account %q is not rendered", pod.ServiceAccountName)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, ctr := range pod.Containers {
		sc := ctr.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("container %s has no securityContext", ctr.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("container %s may write its root filesystem", ctr.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("container %s allows privilege escalation", ctr.Name)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
			t.Errorf("container %s keeps its capabilities", ctr.Name)
		}
		for _, m := range ctr.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("container %s mounts undefined volume %q", ctr.Name, m.Name)
			}
		}
	}

	gate := container(t, d, "tollgate")
	if got := gate.Args; !slices.Equal(got, []string{"serve", "--config", "/etc/tollgate/config/tollgate.yaml"}) {
		t.Errorf("gate args = %q", got)
	}
	// Readiness leaves the IdP out: an IdP outage must not empty the Service.
	for name, probe := range map[string]*corev1.Probe{"/healthz": gate.LivenessProbe, "/readyz?exclude=identity_provider": gate.ReadinessProbe, "/healthz ": gate.StartupProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != strings.TrimSpace(name) || probe.HTTPGet.Port.String() != "ops" {
			t.Errorf("probe for %s = %+v, want GET %s on the ops port", name, probe, strings.TrimSpace(name))
		}
	}
	if gate.Lifecycle == nil || gate.Lifecycle.PreStop == nil || gate.Lifecycle.PreStop.Sleep == nil {
		t.Error("no preStop pause: endpoints would still send requests to a stopping gate")
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 25 {
		t.Errorf("terminationGracePeriodSeconds = %v: shorter than the gate's 20s drain plus the pause", g)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range gate.VolumeMounts {
		mounts[m.MountPath] = m
	}
	// Hot reload of the policy depends on a directory mount: a subPath never sees an update.
	if m, ok := mounts["/etc/tollgate/policy"]; !ok || m.SubPath != "" || volumes[m.Name].ConfigMap == nil {
		t.Errorf("policy mount = %+v: want the policy ConfigMap as a directory at /etc/tollgate/policy", m)
	} else if cm := volumes[m.Name].ConfigMap.Name; r.configMaps[cm] == nil {
		t.Errorf("policy volume names ConfigMap %q, which is not rendered", cm)
	}
	if m, ok := mounts["/var/lib/tollgate"]; !ok || m.ReadOnly || volumes[m.Name].EmptyDir == nil {
		t.Errorf("state mount = %+v: want a writable emptyDir at /var/lib/tollgate", m)
	}
	sec, ok := mounts["/etc/tollgate/secrets"]
	if !ok || !sec.ReadOnly || volumes[sec.Name].Projected == nil {
		t.Fatalf("secrets mount = %+v: want a read-only projected volume", sec)
	}
	var files []string
	for _, src := range volumes[sec.Name].Projected.Sources {
		if src.Secret == nil {
			t.Errorf("secrets volume has a source that is not a Secret: %+v", src)
			continue
		}
		for _, it := range src.Secret.Items {
			files = append(files, it.Path)
		}
	}
	if diff := cmp.Diff(c.secrets, files); diff != "" {
		t.Errorf("secret files (-want +got):\n%s", diff)
	}
}

// checkServices: browsers reach the gate and only the gate; the ops port is reachable on its
// own Service, and the network policy keeps the app's port closed.
func checkServices(t *testing.T, c chartCase, r *rendered, d *appsv1.Deployment) {
	t.Helper()
	gate := container(t, d, "tollgate")
	gatePorts := map[string]int32{}
	for _, p := range gate.Ports {
		gatePorts[p.Name] = p.ContainerPort
	}
	main, ops := r.services["tg-tollgate"], r.services["tg-tollgate-ops"]
	if main == nil || ops == nil {
		t.Fatalf("services %v, want tg-tollgate and tg-tollgate-ops", keys(r.services))
	}
	for _, svc := range []*corev1.Service{main, ops} {
		if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v, not the pods %v", svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
		}
	}
	if len(main.Spec.Ports) != 1 || main.Spec.Ports[0].TargetPort.String() != "http" || gatePorts["http"] == 0 {
		t.Errorf("Service %s ports = %+v: want one, to the gate's http port", main.Name, main.Spec.Ports)
	}
	if len(ops.Spec.Ports) != 1 || ops.Spec.Ports[0].TargetPort.String() != "ops" || gatePorts["ops"] == 0 {
		t.Errorf("Service %s ports = %+v: want one, to the gate's ops port", ops.Name, ops.Spec.Ports)
	}
	if len(r.netpols) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(r.netpols))
	}
	np := r.netpols[0]
	if !selects(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("NetworkPolicy does not select the pods")
	}
	var open []string
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			open = append(open, p.Port.String())
		}
	}
	if !slices.Equal(open, []string{"http", "ops"}) {
		t.Errorf("NetworkPolicy opens ports %v, want only [http ops]", open)
	}
	if got := len(r.monitors); got != map[bool]int{true: 1}[c.monitor] {
		t.Fatalf("%d ServiceMonitors, want monitor=%v", got, c.monitor)
	}
	for _, m := range r.monitors {
		if !selects(m.Spec.Selector.MatchLabels, ops.Labels) || selects(m.Spec.Selector.MatchLabels, main.Labels) {
			t.Errorf("ServiceMonitor selects %v: want the ops Service only", m.Spec.Selector.MatchLabels)
		}
		if len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Port != "ops" || m.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints = %+v", m.Spec.Endpoints)
		}
	}
}

// checkScaling: the gateway shape scales and survives voluntary disruptions; the sidecar
// shape leaves both to the app.
func checkScaling(t *testing.T, c chartCase, r *rendered, d *appsv1.Deployment) {
	t.Helper()
	if got := len(r.hpas) == 1; got != c.hpa {
		t.Errorf("HPA rendered = %v, want %v", got, c.hpa)
	}
	for _, h := range r.hpas {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name {
			t.Errorf("HPA scales %+v, not Deployment %s", h.Spec.ScaleTargetRef, d.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			t.Errorf("HPA minReplicas = %v, want at least 2", h.Spec.MinReplicas)
		}
		if d.Spec.Replicas != nil {
			t.Error("the Deployment sets replicas although the HPA owns them: every upgrade would reset the scale")
		}
	}
	if got := len(r.pdbs) == 1; got != c.pdb {
		t.Errorf("PDB rendered = %v, want %v", got, c.pdb)
	}
	for _, p := range r.pdbs {
		if !selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("PDB selects %v, not the pods", p.Spec.Selector.MatchLabels)
		}
	}
}

// checkConfig runs the rendered configuration and policy through `tollgate check-config`:
// the gate's strict loader is the judge of every key the chart writes.
func checkConfig(t *testing.T, c chartCase, r *rendered) {
	t.Helper()
	cfgMap, polMap := r.configMaps["tg-tollgate-config"], r.configMaps["tg-tollgate-policy"]
	if cfgMap == nil || polMap == nil {
		t.Fatalf("config maps %v, want tg-tollgate-config and tg-tollgate-policy", keys(r.configMaps))
	}
	var cfg map[string]any
	if err := yaml.UnmarshalStrict([]byte(cfgMap.Data["tollgate.yaml"]), &cfg); err != nil {
		t.Fatalf("tollgate.yaml: %v", err)
	}
	session, _ := cfg["session"].(map[string]any)
	if session["backend"] != c.session {
		t.Errorf("session.backend = %v, want %s", session["backend"], c.session)
	}
	if redis, _ := session["redis"].(map[string]any); c.redisMode != "" && (redis == nil || redis["mode"] != c.redisMode) {
		t.Errorf("session.redis = %v, want mode %s", redis, c.redisMode)
	}
	if listen, _ := cfg["listen"].(map[string]any); listen["ops_addr"] != ":9090" {
		t.Errorf("listen.ops_addr = %v: probes and Prometheus cannot reach a loopback address", listen["ops_addr"])
	}
	if policy, _ := cfg["policy"].(map[string]any); policy["file"] != "/etc/tollgate/policy/policy.yaml" {
		t.Errorf("policy.file = %v, want the mounted ConfigMap's file", policy["file"])
	}
	upstream := cfg["gate"].(map[string]any)["upstream"].(map[string]any)["url"]
	if c.shape == "sidecar" && upstream != "http://127.0.0.1:8081" {
		t.Errorf("sidecar upstream = %v, want the app on loopback", upstream)
	}

	dir := t.TempDir()
	polPath := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(polPath, []byte(polMap.Data["policy.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg["policy"] = map[string]any{"file": polPath}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(tollgateBinary(t), "check-config", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("tollgate check-config on the rendered config: %v\n%s\n%s", err, out.String(), b)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
