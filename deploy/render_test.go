package deploy_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart, relative to this module.
const chartDir = "helm/tollgate"

// rendered is a chart's output, each object decoded strictly into its Kubernetes type: a
// field the API does not know, or a value of the wrong type, fails the decoding, as the API
// server would refuse it.
type rendered struct {
	configMaps  map[string]*corev1.ConfigMap
	services    map[string]*corev1.Service
	accounts    map[string]*corev1.ServiceAccount
	deployments []*appsv1.Deployment
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	netpols     []*networkingv1.NetworkPolicy
	monitors    []*monitoringv1.ServiceMonitor
}

// helmTemplate renders the chart with a values file and --set pairs; it returns the output, or
// helm's error message when rendering fails.
func helmTemplate(t *testing.T, valuesFile string, set ...string) (string, error) {
	t.Helper()
	helm := tool(t, "helm", "go install helm.sh/helm/v4/cmd/helm@v4.3.2")
	args := []string{"template", "tg", chartDir, "--namespace", "billing"}
	if valuesFile != "" {
		args = append(args, "--values", valuesFile)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func render(t *testing.T, valuesFile string, set ...string) *rendered {
	t.Helper()
	out, err := helmTemplate(t, valuesFile, set...)
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{
		configMaps: map[string]*corev1.ConfigMap{},
		services:   map[string]*corev1.Service{},
		accounts:   map[string]*corev1.ServiceAccount{},
	}
	for _, doc := range strings.Split(out, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		if err := r.add([]byte(doc)); err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(valuesFile), err, doc)
		}
	}
	return r
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// decode fills obj from doc, refusing unknown and duplicate fields.
func decode(doc []byte, obj any) error {
	return yaml.UnmarshalStrict(doc, obj)
}

func (r *rendered) add(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	if errs := validation.IsDNS1123Subdomain(head.Metadata.Name); len(errs) > 0 {
		return fmt.Errorf("%s name %q: %s", head.Kind, head.Metadata.Name, strings.Join(errs, "; "))
	}
	for k, v := range head.Metadata.Labels {
		if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
			return fmt.Errorf("%s label %s=%s: %s", head.Kind, k, v, strings.Join(errs, "; "))
		}
	}
	var err error
	switch head.APIVersion + " " + head.Kind {
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		err = decode(doc, o)
		r.configMaps[o.Name] = o
	case "v1 Service":
		o := &corev1.Service{}
		err = decode(doc, o)
		r.services[o.Name] = o
	case "v1 ServiceAccount":
		o := &corev1.ServiceAccount{}
		err = decode(doc, o)
		r.accounts[o.Name] = o
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		err = decode(doc, o)
		r.deployments = append(r.deployments, o)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		o := &autoscalingv2.HorizontalPodAutoscaler{}
		err = decode(doc, o)
		r.hpas = append(r.hpas, o)
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		err = decode(doc, o)
		r.pdbs = append(r.pdbs, o)
	case "networking.k8s.io/v1 NetworkPolicy":
		o := &networkingv1.NetworkPolicy{}
		err = decode(doc, o)
		r.netpols = append(r.netpols, o)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o := &monitoringv1.ServiceMonitor{}
		err = decode(doc, o)
		r.monitors = append(r.monitors, o)
	default:
		return fmt.Errorf("unexpected object %s %s", head.APIVersion, head.Kind)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	return nil
}

// deployment is the one Deployment the chart renders, in either shape.
func (r *rendered) deployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	if len(r.deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(r.deployments))
	}
	return r.deployments[0]
}

// container returns the pod's container of that name.
func container(t *testing.T, d *appsv1.Deployment, name string) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q in Deployment %s", name, d.Name)
	return nil
}

// selects reports whether a selector's labels all appear in labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
