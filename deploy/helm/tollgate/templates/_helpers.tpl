{{/* Names, following the usual chart conventions. */}}
{{- define "tollgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tollgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tollgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tollgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tollgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tollgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.shape }}
{{- end }}

{{- define "tollgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tollgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tollgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* How many gates may run at once: sessions and SQLite must then be shared. */}}
{{- define "tollgate.manyReplicas" -}}
{{- if eq .Values.shape "sidecar" }}
{{- if gt (int .Values.app.replicas) 1 }}true{{ end }}
{{- else if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{- define "tollgate.sessionBackend" -}}
{{- if .Values.session.backend }}{{ .Values.session.backend }}
{{- else if or (eq .Values.shape "gateway") (include "tollgate.manyReplicas" .) }}redis
{{- else }}embedded
{{- end }}
{{- end }}

{{/* Refuse, at render time, combinations that would start but not work. */}}
{{- define "tollgate.validate" -}}
{{- if not (has .Values.shape (list "sidecar" "gateway")) }}
{{- fail (printf "shape: %q is not a shape; use sidecar or gateway" .Values.shape) }}
{{- end }}
{{- if not .Values.oidc.issuer }}{{ fail "oidc.issuer: required: the IdP's issuer URL" }}{{ end }}
{{- if not .Values.oidc.clientID }}{{ fail "oidc.clientID: required: the client ID registered at the IdP" }}{{ end }}
{{- if not .Values.oidc.clientSecret.secretName }}{{ fail "oidc.clientSecret.secretName: required: a Secret holding the client secret" }}{{ end }}
{{- if and (eq .Values.shape "sidecar") (not .Values.app.image.repository) }}
{{- fail "app.image.repository: required in the sidecar shape: the billing app's image" }}
{{- end }}
{{- $backend := include "tollgate.sessionBackend" . }}
{{- if and (include "tollgate.manyReplicas" .) (ne $backend "redis") }}
{{- fail "session.backend: several gates need the redis backend, so that every one knows every session (or run one replica, with autoscaling off)" }}
{{- end }}
{{- if and (include "tollgate.manyReplicas" .) (eq .Values.store.driver "sqlite") }}
{{- fail "store.driver: sqlite is one file in one pod; several gates need postgres" }}
{{- end }}
{{- if eq $backend "redis" }}
{{- if not .Values.session.redis.addrs }}{{ fail "session.redis.addrs: required for the redis backend" }}{{ end }}
{{- if and (eq .Values.session.redis.mode "sentinel") (not .Values.session.redis.masterName) }}
{{- fail "session.redis.masterName: required in sentinel mode" }}
{{- end }}
{{- end }}
{{- $c := .Values.config | default dict }}
{{- range $path := list "oidc.client_secret" "session.redis.password" "store.dsn" "mfa.key" }}
{{- $v := $c }}
{{- range splitList "." $path }}{{ if kindIs "map" $v }}{{ $v = get $v . }}{{ else }}{{ $v = "" }}{{ end }}{{ end }}
{{- if $v }}
{{- fail (printf "config.%s: a secret in values ends up in a ConfigMap; put it in a Secret and name that Secret instead (see values.yaml)" $path) }}
{{- end }}
{{- end }}
{{- if and (eq .Values.store.driver "postgres") (not .Values.store.dsn.secretName) }}
{{- fail "store.dsn.secretName: required for postgres: a Secret holding the connection string" }}
{{- end }}
{{- end }}

{{/* The gate's configuration file: the user's config, with the chart's own keys on top. */}}
{{- define "tollgate.config" -}}
{{- $backend := include "tollgate.sessionBackend" . }}
{{- $upstream := .Values.upstream.url }}
{{- if eq .Values.shape "sidecar" }}
{{- $upstream = printf "http://127.0.0.1:%d" (int .Values.app.port) }}
{{- end }}
{{- $session := dict "backend" $backend "idle_timeout" .Values.session.idleTimeout "absolute_timeout" .Values.session.absoluteTimeout }}
{{- if eq $backend "redis" }}
{{- $r := .Values.session.redis }}
{{- $redis := dict "mode" $r.mode "addrs" $r.addrs "db" (int $r.db) }}
{{- if $r.masterName }}{{ $_ := set $redis "master_name" $r.masterName }}{{ end }}
{{- if $r.username }}{{ $_ := set $redis "username" $r.username }}{{ end }}
{{- if $r.password.secretName }}{{ $_ := set $redis "password_file" "/etc/tollgate/secrets/redis-password" }}{{ end }}
{{- if $r.tls.enabled }}
{{- $tls := dict "enabled" true }}
{{- if $r.tls.serverName }}{{ $_ := set $tls "server_name" $r.tls.serverName }}{{ end }}
{{- if $r.tls.ca.secretName }}{{ $_ := set $tls "ca_file" "/etc/tollgate/secrets/redis-ca.crt" }}{{ end }}
{{- $_ := set $redis "tls" $tls }}
{{- end }}
{{- $_ := set $session "redis" $redis }}
{{- else }}
{{- $_ := set $session "path" "/var/lib/tollgate/sessions.db" }}
{{- end }}
{{- $own := dict
  "listen" (dict "addr" (printf ":%d" (int .Values.listen.port)) "ops_addr" (printf ":%d" (int .Values.listen.opsPort)))
  "gate" (dict "public_url" .Values.publicURL "upstream" (dict "url" $upstream))
  "oidc" (dict "issuer" .Values.oidc.issuer "client_id" .Values.oidc.clientID "client_secret_file" "/etc/tollgate/secrets/oidc-client-secret")
  "session" $session
  "policy" (dict "file" (printf "/etc/tollgate/policy/%s" .Values.policy.key))
  "audit" (dict "spool" (dict "dir" "/var/lib/tollgate/audit-spool"))
}}
{{- if eq .Values.store.driver "sqlite" }}
{{- $_ := set $own "store" (dict "driver" "sqlite" "path" "/var/lib/tollgate/directory.db") }}
{{- else if eq .Values.store.driver "postgres" }}
{{- $_ := set $own "store" (dict "driver" "postgres" "dsn_file" "/etc/tollgate/secrets/postgres-dsn") }}
{{- end }}
{{- if .Values.mfaKey.secretName }}
{{- $_ := set $own "mfa" (dict "key_file" "/etc/tollgate/secrets/mfa.key") }}
{{- end }}
{{- $cfg := mustMergeOverwrite (deepCopy (.Values.config | default dict)) $own }}
{{- toYaml $cfg }}
{{- end }}

{{/* The gate container, the same in both shapes. */}}
{{- define "tollgate.container" -}}
- name: tollgate
  image: {{ include "tollgate.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["serve", "--config", "/etc/tollgate/config/tollgate.yaml"]
  ports:
    - {name: http, containerPort: {{ .Values.listen.port }}, protocol: TCP}
    - {name: ops, containerPort: {{ .Values.listen.opsPort }}, protocol: TCP}
  startupProbe:
    httpGet: {path: /healthz, port: ops}
    periodSeconds: {{ .Values.probes.startup.periodSeconds }}
    failureThreshold: {{ .Values.probes.startup.failureThreshold }}
  livenessProbe:
    httpGet: {path: /healthz, port: ops}
    periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
    failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
    timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  readinessProbe:
    httpGet:
      path: /readyz{{ range $i, $c := .Values.probes.readiness.exclude }}{{ if $i }}&{{ else }}?{{ end }}exclude={{ $c }}{{ end }}
      port: ops
    periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
    failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
    timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  {{- if gt (int .Values.preStopSleepSeconds) 0 }}
  lifecycle:
    preStop:
      sleep: {seconds: {{ int .Values.preStopSleepSeconds }}}
  {{- end }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  volumeMounts:
    - {name: config, mountPath: /etc/tollgate/config, readOnly: true}
    # A directory, never a subPath: the kubelet updates a ConfigMap volume by swapping a
    # symlink, which a subPath mount would not follow, and the policy would never reload.
    - {name: policy, mountPath: /etc/tollgate/policy, readOnly: true}
    - {name: secrets, mountPath: /etc/tollgate/secrets, readOnly: true}
    - {name: state, mountPath: /var/lib/tollgate}
{{- end }}

{{/* The pod's volumes, the same in both shapes. */}}
{{- define "tollgate.volumes" -}}
- name: config
  configMap:
    name: {{ include "tollgate.fullname" . }}-config
- name: policy
  configMap:
    name: {{ default (printf "%s-policy" (include "tollgate.fullname" .)) .Values.policy.existingConfigMap }}
    items: [{key: {{ .Values.policy.key }}, path: {{ .Values.policy.key }}}]
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ .Values.oidc.clientSecret.secretName }}
          items: [{key: {{ .Values.oidc.clientSecret.key }}, path: oidc-client-secret}]
      {{- with .Values.session.redis.password }}
      {{- if .secretName }}
      - secret:
          name: {{ .secretName }}
          items: [{key: {{ .key }}, path: redis-password}]
      {{- end }}
      {{- end }}
      {{- with .Values.session.redis.tls.ca }}
      {{- if .secretName }}
      - secret:
          name: {{ .secretName }}
          items: [{key: {{ .key }}, path: redis-ca.crt}]
      {{- end }}
      {{- end }}
      {{- if eq .Values.store.driver "postgres" }}
      - secret:
          name: {{ .Values.store.dsn.secretName }}
          items: [{key: {{ .Values.store.dsn.key }}, path: postgres-dsn}]
      {{- end }}
      {{- with .Values.mfaKey }}
      {{- if .secretName }}
      - secret:
          name: {{ .secretName }}
          items: [{key: {{ .key }}, path: mfa.key}]
      {{- end }}
      {{- end }}
      {{- range .Values.extraSecretFiles }}
      - secret:
          name: {{ .secretName }}
          items: [{key: {{ .key }}, path: {{ .path }}}]
      {{- end }}
- name: state
  emptyDir:
    sizeLimit: {{ .Values.state.sizeLimit }}
{{- end }}

{{/* Pod-level settings, the same in both shapes. */}}
{{- define "tollgate.podSpec" -}}
serviceAccountName: {{ include "tollgate.serviceAccountName" . }}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "tollgate.podMetadata" -}}
labels:
  {{- include "tollgate.selectorLabels" . | nindent 2 }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  # A new configuration file needs a restart; the policy does not (it is reloaded).
  checksum/config: {{ include "tollgate.config" . | sha256sum }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
