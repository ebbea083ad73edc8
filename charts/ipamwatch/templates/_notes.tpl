{{/*
The text of NOTES.txt. It is a helper so that tests can render it: `helm template` leaves
NOTES.txt out.
*/}}
{{- define "ipamwatch.notes" -}}
{{- $ns := include "ipamwatch.namespace" . -}}
{{- $name := include "ipamwatch.fullname" . -}}
ipamwatch {{ .Chart.AppVersion }} runs on every Linux EC2 node as DaemonSet {{ $ns }}/{{ $name }}.

Check it:
  kubectl -n {{ $ns }} rollout status daemonset/{{ $name }}
  kubectl -n {{ $ns }} get pods -l app.kubernetes.io/instance={{ .Release.Name }} -o wide
  kubectl -n {{ $ns }} port-forward daemonset/{{ $name }} {{ .Values.agent.port }}
  curl -s{{ if .Values.web.tls.enabled }}k https{{ else }} http{{ end }}://127.0.0.1:{{ .Values.agent.port }}/diagnosis
{{- if or .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}

Prometheus Operator gives the agents' targets job="{{ include "ipamwatch.jobName" . }}"; the alert rules must select that job:
  up{job="{{ include "ipamwatch.jobName" . }}"} should be 1 once per node.
{{- end }}
{{- $release := include "ipamwatch.releaseLabel" . }}
{{- $unlabelled := list }}
{{- range $kind, $v := dict "ServiceMonitor" .Values.serviceMonitor "PodMonitor" .Values.podMonitor "PrometheusRule" .Values.prometheusRule }}
{{- if and $v.enabled (not $release) (not (hasKey ($v.additionalLabels | default dict) "release")) }}
{{- $unlabelled = append $unlabelled $kind }}
{{- end }}
{{- end }}
{{- if $unlabelled }}

WARNING: no `release` label on the {{ join ", " $unlabelled }}. kube-prometheus-stack's
Prometheus selects only objects labelled release=<its own release name> by default, and would
ignore these. Set releaseLabel to that name, e.g. --set releaseLabel=kube-prometheus-stack; this
lists the kube-prometheus-stack releases (first column):
  helm list -A | grep kube-prometheus-stack
If your Prometheus selects them otherwise, ignore this warning. Its selectors:
  kubectl get prometheus -A -o jsonpath='{range .items[*]}{.metadata.name}: {.spec.serviceMonitorSelector} {.spec.podMonitorSelector} {.spec.ruleSelector}{"\n"}{end}'
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}

WARNING: serviceMonitor and podMonitor are both enabled: every node is scraped twice. Keep one.
{{- end }}
{{- if .Values.subnets.enabled }}

Subnet view: Deployment {{ include "ipamwatch.subnetsName" . }}
{{- if not .Values.subnets.serviceAccount.roleArn }} (no IRSA role set: create an EKS Pod Identity association for ServiceAccount {{ include "ipamwatch.subnetsName" . }}){{ end }}.
{{- end }}
{{- end }}
