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

{{/* Selector of the node agent's pods. Never change it: selectors are immutable. */}}
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

{{- define "ipamwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ipamwatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ipamwatch.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The subnets Deployment's image: the full binary (the agent image is an agent-only build). */}}
{{- define "ipamwatch.subnetsImage" -}}
{{- $img := .Values.subnets.image -}}
{{- $repo := default (printf "%s-full" .Values.image.repository) $img.repository -}}
{{- if $img.digest }}
{{- printf "%s@%s" $repo $img.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default (default .Chart.AppVersion .Values.image.tag) $img.tag) }}
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
{{- $tls = dict "serverName" (printf "%s.%s.svc" (include "ipamwatch.fullname" .root) .root.Release.Namespace) "ca" (dict "secret" (dict "name" .root.Values.web.tls.secretName "key" "ca.crt")) }}
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
