// Package deploy holds what runs Tollgate outside a developer's shell: the container image
// (Dockerfile), the Helm chart (helm/tollgate), the systemd unit (systemd), and the Grafana
// dashboard and Prometheus alerts (monitoring). It is a module of its own so that the
// Kubernetes and Prometheus libraries its tests use to check those files stay out of the
// gate's dependencies; the tests build the gate from the repository and check the files
// against it.
package deploy
