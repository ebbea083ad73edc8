{{/* Name of the chart, shortened to a valid label value. */}}
{{- define "ipamwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-scoped unless the release is already called like the chart. */}}
{{- define "ipamwatch.fullname" -}}
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

{{- define "ipamwatch.subnetsName" -}}
{{- printf "%s-subnets" (include "ipamwatch.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Namespace of every namespaced object (namespaceOverride, as the prometheus-community charts name it). */}}
{{- define "ipamwatch.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "ipamwatch.serviceMonitorNamespace" -}}
{{- default (include "ipamwatch.namespace" .) .Values.serviceMonitor.namespace }}
{{- end }}

{{- define "ipamwatch.podMonitorNamespace" -}}
{{- default (include "ipamwatch.namespace" .) .Values.podMonitor.namespace }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "ipamwatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "ipamwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ipamwatch
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of the node agent's objects, among them its Service: a ServiceMonitor's jobLabel reads them. */}}
{{- define "ipamwatch.agentLabels" -}}
{{ include "ipamwatch.labels" . }}
app.kubernetes.io/component: node-agent
{{- end }}

{{/* Labels of the node agent's pods: a PodMonitor's jobLabel reads them. */}}
{{- define "ipamwatch.agentPodLabels" -}}
{{ include "ipamwatch.agentLabels" . }}
{{- with .Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector of the node agent's pods. A DaemonSet's spec.selector is immutable: changing any of
these labels (nameOverride, the release name) makes `helm upgrade` fail (UPGRADING in README.md).
*/}}
{{- define "ipamwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ipamwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node-agent
{{- end }}

{{- define "ipamwatch.subnetsSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ipamwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: subnets
{{- end }}

{{/* The value of the `release` label for kube-prometheus-stack, or nothing. */}}
{{- define "ipamwatch.releaseLabel" -}}
{{- $v := .Values.releaseLabel }}
{{- if kindIs "bool" $v }}
{{- if $v }}{{ .Release.Name }}{{ end }}
{{- else }}
{{- $v }}
{{- end }}
{{- end }}

{{/*
Labels of a ServiceMonitor, PodMonitor or PrometheusRule: the chart's labels, the release label
and the object's additionalLabels. dict: root, values (name of the values key), component
(optional), additional.
*/}}
{{- define "ipamwatch.monitoringLabels" -}}
{{- $l := include "ipamwatch.labels" .root | fromYaml }}
{{- with .component }}
{{- $_ := set $l "app.kubernetes.io/component" . }}
{{- end }}
{{- $extra := .additional | default dict }}
{{- $release := include "ipamwatch.releaseLabel" .root }}
{{- if and $release (hasKey $extra "release") (ne (toString (index $extra "release")) $release) }}
{{- fail (printf "releaseLabel gives release=%q but %s.additionalLabels.release is %q: set the release label in one place" $release .values (toString (index $extra "release"))) }}
{{- end }}
{{- with $release }}
{{- $_ := set $l "release" . }}
{{- end }}
{{- range $k, $v := $extra }}
{{- $_ := set $l $k $v }}
{{- end }}
{{- toYaml $l }}
{{- end }}

{{/*
The `job` label Prometheus Operator gives the agent's targets under one monitor, computed the way
the operator generates its relabelings (pkg/prometheus/promcfg.go, v0.85.0):
- ServiceMonitor: job = the Service's name, replaced by the value of the Service's label named by
  spec.jobLabel when that value is not empty;
- PodMonitor: job = "<PodMonitor namespace>/<PodMonitor name>", replaced by the value of the pod's
  label named by spec.jobLabel when that value is not empty;
- then the endpoint's relabelings run; one that writes `job` must be a static replacement.
dict: root, kind (ServiceMonitor|PodMonitor), cfg (.Values.serviceMonitor or .Values.podMonitor),
values (its name, for messages).
*/}}
{{- define "ipamwatch.monitorJob" -}}
{{- $root := .root }}
{{- $cfg := .cfg }}
{{- $jobLabel := default "app.kubernetes.io/name" $cfg.jobLabel }}
{{- $job := include "ipamwatch.fullname" $root }}
{{- $labels := include "ipamwatch.agentLabels" $root | fromYaml }}
{{- if eq .kind "PodMonitor" }}
{{- $job = printf "%s/%s" (include "ipamwatch.podMonitorNamespace" $root) (include "ipamwatch.fullname" $root) }}
{{- $labels = include "ipamwatch.agentPodLabels" $root | fromYaml }}
{{- end }}
{{- with index $labels $jobLabel }}
{{- $job = toString . }}
{{- end }}
{{- range $cfg.relabelings }}
{{- if eq (toString (default "" .targetLabel)) "job" }}
{{- $static := and (has (default "replace" .action) (list "replace" "Replace")) (not .sourceLabels) (not .regex) (ne (toString (default "" .replacement)) "") (not (contains "$" (toString (default "" .replacement)))) }}
{{- if not $static }}
{{- fail (printf "%s.relabelings: a relabeling that writes `job` must be a static replacement (action replace, no sourceLabels or regex, a literal replacement), so that the chart knows the job its alert rules select; or choose the job with %s.jobLabel" $.values $.values) }}
{{- end }}
{{- $job = toString .replacement }}
{{- end }}
{{- end }}
{{- range $cfg.metricRelabelings }}
{{- if eq (toString (default "" .targetLabel)) "job" }}
{{- fail (printf "%s.metricRelabelings must not write `job`: the series would leave the job of their `up` series, which the alert rules select; use %s.jobLabel or %s.relabelings" $.values $.values $.values) }}
{{- end }}
{{- end }}
{{- $job }}
{{- end }}

{{/*
The `job` label of the agent's targets: what the alert rules must select. With neither monitor
enabled (a scrape configuration of your own), the value the kustomize manifests give: the
app.kubernetes.io/name label. Both monitors must agree when both are on.
*/}}
{{- define "ipamwatch.jobName" -}}
{{- $jobs := list }}
{{- if .Values.serviceMonitor.enabled }}
{{- $jobs = append $jobs (include "ipamwatch.monitorJob" (dict "root" . "kind" "ServiceMonitor" "cfg" .Values.serviceMonitor "values" "serviceMonitor")) }}
{{- end }}
{{- if .Values.podMonitor.enabled }}
{{- $jobs = append $jobs (include "ipamwatch.monitorJob" (dict "root" . "kind" "PodMonitor" "cfg" .Values.podMonitor "values" "podMonitor")) }}
{{- end }}
{{- $jobs = uniq $jobs }}
{{- if gt (len $jobs) 1 }}
{{- fail (printf "serviceMonitor and podMonitor would give the agent the jobs %s: the alert rules select one job. Enable one monitor (both scrape every node twice) or give both the same job" (join " and " $jobs)) }}
{{- end }}
{{- if $jobs }}
{{- first $jobs }}
{{- else }}
{{- include "ipamwatch.name" . }}
{{- end }}
{{- end }}

{{/* The subnets view's job: its ServiceMonitor sets no jobLabel, so the operator names it after the Service. */}}
{{- define "ipamwatch.subnetsJobName" -}}
{{- include "ipamwatch.subnetsName" . }}
{{- end }}

{{/*
Values that were removed or renamed fail with what replaced them, instead of the schema's bare
"additional properties" error. values.schema.json accepts them for this reason only.
*/}}
{{- define "ipamwatch.removedValues" -}}
{{- if hasKey .Values "excludeComputeTypes" }}
{{- fail "excludeComputeTypes was removed: the agent's node affinity is the value `affinity` now, whose default keeps the agent off fargate, hybrid and auto (EKS Auto Mode) nodes as the aws-vpc-cni chart does (UPGRADING in the chart README)" }}
{{- end }}
{{- range $k := list "serviceMonitor" "podMonitor" "prometheusRule" }}
{{- if hasKey (index $.Values $k) "labels" }}
{{- fail (printf "%s.labels was renamed %s.additionalLabels; for kube-prometheus-stack set releaseLabel (UPGRADING in the chart README)" $k $k) }}
{{- end }}
{{- end }}
{{- if .Values.podSecurityContext.runAsNonRoot }}
{{- fail "podSecurityContext.runAsNonRoot: the agent runs as UID 0 to read the root-owned 0600 ipamd.log, so kubelet would refuse to start it" }}
{{- end }}
{{- end }}

{{/*
An image reference. dict: values (the values key, for messages), registry, repository, tag, digest.
A repository that starts with a registry host (a first path element with "." or ":", or
"localhost", as container runtimes tell hosts apart) while a registry is set would pull from
"<registry>/<host>/...": refuse it.
*/}}
{{- define "ipamwatch.imageRef" -}}
{{- $parts := splitList "/" .repository }}
{{- $head := first $parts }}
{{- if and .registry (gt (len $parts) 1) (or (contains "." $head) (contains ":" $head) (eq $head "localhost")) }}
{{- fail (printf "%s.repository %q starts with the registry host %q while the registry is %q: put the host in %s.registry (or global.imageRegistry) and only the path in %s.repository" .values .repository $head .registry .values .values) }}
{{- end }}
{{- $name := .repository }}
{{- if .registry }}
{{- $name = printf "%s/%s" .registry .repository }}
{{- end }}
{{- if .digest }}
{{- printf "%s@%s" $name .digest }}
{{- else }}
{{- printf "%s:%s" $name .tag }}
{{- end }}
{{- end }}

{{/* The agent image (agent-only build). global.imageRegistry wins over image.registry. */}}
{{- define "ipamwatch.image" -}}
{{- $g := .Values.global | default dict }}
{{- include "ipamwatch.imageRef" (dict "values" "image" "registry" (default .Values.image.registry $g.imageRegistry) "repository" .Values.image.repository "tag" (default .Chart.AppVersion .Values.image.tag) "digest" .Values.image.digest) }}
{{- end }}

{{/* The subnets Deployment's image: the full binary (the agent image is an agent-only build). */}}
{{- define "ipamwatch.subnetsImage" -}}
{{- $g := .Values.global | default dict }}
{{- $img := .Values.subnets.image }}
{{- $registry := default (default .Values.image.registry $img.registry) $g.imageRegistry }}
{{- $repo := default (printf "%s-full" .Values.image.repository) $img.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) $img.tag }}
{{- include "ipamwatch.imageRef" (dict "values" "subnets.image" "registry" $registry "repository" $repo "tag" $tag "digest" $img.digest) }}
{{- end }}

{{- define "ipamwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ipamwatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* True (non-empty) when the agent gets a --web.config.file. */}}
{{- define "ipamwatch.webConfigEnabled" -}}
{{- if or .Values.web.tls.enabled .Values.web.basicAuthUsers .Values.web.existingConfigSecret }}true{{ end }}
{{- end }}

{{- define "ipamwatch.webConfigSecretName" -}}
{{- default (printf "%s-web-config" (include "ipamwatch.fullname" .)) .Values.web.existingConfigSecret }}
{{- end }}

{{/* The exporter-toolkit web config built from values. */}}
{{- define "ipamwatch.webConfig" -}}
{{- if .Values.web.tls.enabled }}
tls_server_config:
  cert_file: /etc/ipamwatch/tls/tls.crt
  key_file: /etc/ipamwatch/tls/tls.key
  min_version: {{ .Values.web.tls.minVersion }}
{{- end }}
{{- with .Values.web.basicAuthUsers }}
basic_auth_users:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Probe handler for path (kubelet cannot send basic-auth credentials: TCP then). */}}
{{- define "ipamwatch.probeHandler" -}}
{{- if .root.Values.web.basicAuthUsers }}
tcpSocket:
  port: metrics
{{- else }}
httpGet:
  path: {{ .path }}
  port: metrics
  scheme: {{ if .root.Values.web.tls.enabled }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}
{{- end }}

{{/* Scrape TLS settings: explicit values win; with web.tls, verify the Service name. */}}
{{- define "ipamwatch.scrapeTLS" -}}
{{- $tls := .tlsConfig }}
{{- if and (not $tls) .root.Values.web.tls.enabled }}
{{- $tls = dict "serverName" (printf "%s.%s.svc" (include "ipamwatch.fullname" .root) (include "ipamwatch.namespace" .root)) "ca" (dict "secret" (dict "name" .root.Values.web.tls.secretName "key" "ca.crt")) }}
{{- end }}
{{- if .root.Values.web.tls.enabled }}
scheme: https
{{- end }}
{{- with $tls }}
tlsConfig:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .basicAuth }}
basicAuth:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
