package manifests_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The `job` label Prometheus Operator gives a monitor's targets, worked out the way the operator
// writes its scrape configuration (github.com/prometheus-operator/prometheus-operator v0.85.0,
// pkg/prometheus/promcfg.go) and Prometheus then applies it:
//
//   - ServiceMonitor (generateServiceMonitorConfig): `job` := __meta_kubernetes_service_name;
//     with spec.jobLabel, `job` := __meta_kubernetes_service_label_<jobLabel, sanitized> if that
//     value matches `(.+)`, i.e. is not empty.
//   - PodMonitor (generatePodMonitorConfig): `job` := "<PodMonitor namespace>/<PodMonitor name>";
//     with spec.jobLabel, `job` := __meta_kubernetes_pod_label_<jobLabel, sanitized> if not empty.
//   - Then the scrape class' relabelings and the endpoint's own `relabelings`, in order.
//     metricRelabelings act on scraped samples only, never on `up`.
//
// The API documentation says the same (pkg/apis/monitoring/v1, servicemonitor_types.go and
// podmonitor_types.go, field JobLabel). Scrape classes are configured on the Prometheus object,
// not by the chart, so they are outside this model.

// discovery is what service discovery knows about a target before relabeling, as far as the
// rendered objects tell it. Labels it cannot know before a real cluster runs (the node a pod
// landed on, its IP) are absent and count as unknown.
type discovery struct {
	monitorKind, monitorNamespace, monitorName string
	jobLabel                                   string
	namespace                                  string            // of the Service and pods
	serviceName                                string            // ServiceMonitor only
	serviceLabels                              map[string]string // ServiceMonitor only
	podLabels                                  map[string]string
	port                                       string
}

var invalidLabelChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sanitize is the operator's sanitizeLabelName (promcfg.go): every invalid character becomes "_".
func sanitize(name string) string { return invalidLabelChar.ReplaceAllString(name, "_") }

// errUnknown marks a `job` that depends on labels only a running cluster knows.
var errUnknown = errors.New("depends on labels known only at discovery time")

// operatorJob returns the `job` label of the targets of one monitor endpoint.
func operatorJob(d discovery, relabelings []RelabelConfig) (string, error) {
	known := map[string]string{
		"__meta_kubernetes_namespace": d.namespace,
		"namespace":                   d.namespace,
		"container":                   "ipamwatch",
		"endpoint":                    d.port,
	}
	for k, v := range d.podLabels {
		known["__meta_kubernetes_pod_label_"+sanitize(k)] = v
	}
	switch d.monitorKind {
	case "ServiceMonitor":
		known["__meta_kubernetes_service_name"] = d.serviceName
		known["service"] = d.serviceName
		for k, v := range d.serviceLabels {
			known["__meta_kubernetes_service_label_"+sanitize(k)] = v
		}
		known["job"] = d.serviceName
		if d.jobLabel != "" {
			if v := known["__meta_kubernetes_service_label_"+sanitize(d.jobLabel)]; v != "" {
				known["job"] = v
			}
		}
	case "PodMonitor":
		known["job"] = d.monitorNamespace + "/" + d.monitorName
		if d.jobLabel != "" {
			if v := known["__meta_kubernetes_pod_label_"+sanitize(d.jobLabel)]; v != "" {
				known["job"] = v
			}
		}
	default:
		return "", fmt.Errorf("not a monitor kind: %q", d.monitorKind)
	}
	unknown := map[string]bool{}
	for i, r := range relabelings {
		if err := relabel(known, unknown, r); err != nil {
			return "", fmt.Errorf("relabeling %d: %w", i, err)
		}
	}
	if unknown["job"] {
		return "", fmt.Errorf("job %w", errUnknown)
	}
	return known["job"], nil
}

// discoveredOnly: labels whose value exists only once the cluster runs (the pod's name, node and
// IPs, the labels the DaemonSet controller adds to its pods). The Service's labels and the pod
// template's labels are all known, so any other such label is known to be empty.
func discoveredOnly(l string) bool {
	switch l {
	case "__address__", "instance", "pod",
		"__meta_kubernetes_pod_label_controller_revision_hash", "__meta_kubernetes_pod_label_pod_template_generation":
		return true
	}
	return strings.HasPrefix(l, "__meta_") &&
		!strings.HasPrefix(l, "__meta_kubernetes_service_label_") && !strings.HasPrefix(l, "__meta_kubernetes_pod_label_")
}

// relabel applies one relabeling the way Prometheus' relabel package does, for the actions that
// can change a label; keep and drop only select targets and leave the labels alone. A label
// computed from an unknown one is unknown.
func relabel(known map[string]string, unknown map[string]bool, r RelabelConfig) error {
	action := strings.ToLower(r.Action)
	if action == "" {
		action = "replace"
	}
	regex := "(.*)"
	if r.Regex != "" {
		regex = r.Regex
	}
	re, err := regexp.Compile("^(?:" + regex + ")$")
	if err != nil {
		return err
	}
	sep := ";"
	if r.Separator != nil {
		sep = *r.Separator
	}
	replacement := "$1"
	if r.Replacement != nil {
		replacement = *r.Replacement
	}
	var vals []string
	srcUnknown := false
	for _, l := range r.SourceLabels {
		v, ok := known[l]
		if !ok && (unknown[l] || discoveredOnly(l)) {
			srcUnknown = true
		}
		vals = append(vals, v)
	}
	value := strings.Join(vals, sep)
	set := func(name, v string) {
		delete(unknown, name)
		if v == "" {
			delete(known, name)
			return
		}
		known[name] = v
	}
	switch action {
	case "keep", "drop", "keepequal", "dropequal":
		return nil
	case "replace":
		if srcUnknown {
			unknown[r.TargetLabel] = true
			return nil
		}
		m := re.FindStringSubmatchIndex(value)
		if m == nil {
			return nil
		}
		target := string(re.ExpandString(nil, r.TargetLabel, value, m))
		set(target, string(re.ExpandString(nil, replacement, value, m)))
	case "lowercase", "uppercase":
		if srcUnknown {
			unknown[r.TargetLabel] = true
			return nil
		}
		if action == "lowercase" {
			set(r.TargetLabel, strings.ToLower(value))
		} else {
			set(r.TargetLabel, strings.ToUpper(value))
		}
	case "hashmod":
		unknown[r.TargetLabel] = true
	case "labelmap":
		for name, v := range known {
			if m := re.FindStringSubmatchIndex(name); m != nil {
				set(string(re.ExpandString(nil, replacement, name, m)), v)
			}
		}
	case "labeldrop", "labelkeep":
		for name := range known {
			if re.MatchString(name) == (action == "labeldrop") && !strings.HasPrefix(name, "__") {
				delete(known, name)
			}
		}
	default:
		return fmt.Errorf("action %q not modelled", r.Action)
	}
	return nil
}

// agentDiscovery builds the discovery of an agent monitor from a rendered set: the Service (or
// pod template) it selects, in the namespaces it looks into.
func agentDiscovery(objs []object, mon object) (discovery, []ScrapeEndpoint, error) {
	var pods []object
	for _, o := range objs {
		if o.Kind == "DaemonSet" {
			pods = append(pods, o)
		}
	}
	podLabelsIn := func(ns string, sel map[string]string) (map[string]string, bool) {
		for _, p := range pods {
			l := p.Obj.(*appsv1.DaemonSet).Spec.Template.Labels
			if p.Namespace == ns && matches(sel, l) {
				return l, true
			}
		}
		return nil, false
	}
	switch m := mon.Obj.(type) {
	case *ServiceMonitor:
		for _, o := range objs {
			if o.Kind != "Service" || !m.Spec.NamespaceSelector.selects(mon.Namespace, o.Namespace) || !matches(m.Spec.Selector.MatchLabels, o.Meta.Labels) {
				continue
			}
			pl, ok := podLabelsIn(o.Namespace, o.Obj.(*corev1.Service).Spec.Selector)
			if !ok {
				return discovery{}, nil, fmt.Errorf("%s: Service %s selects no agent pods", mon, o)
			}
			return discovery{monitorKind: "ServiceMonitor", monitorNamespace: mon.Namespace, monitorName: mon.Name,
				jobLabel: m.Spec.JobLabel, namespace: o.Namespace, serviceName: o.Name, serviceLabels: o.Meta.Labels,
				podLabels: pl, port: firstPort(m.Spec.Endpoints)}, m.Spec.Endpoints, nil
		}
		return discovery{}, nil, fmt.Errorf("%s selects no Service", mon)
	case *PodMonitor:
		for _, p := range pods {
			if !m.Spec.NamespaceSelector.selects(mon.Namespace, p.Namespace) {
				continue
			}
			if l := p.Obj.(*appsv1.DaemonSet).Spec.Template.Labels; matches(m.Spec.Selector.MatchLabels, l) {
				return discovery{monitorKind: "PodMonitor", monitorNamespace: mon.Namespace, monitorName: mon.Name,
					jobLabel: m.Spec.JobLabel, namespace: p.Namespace, podLabels: l,
					port: firstPort(m.Spec.PodMetricsEndpoints)}, m.Spec.PodMetricsEndpoints, nil
			}
		}
		return discovery{}, nil, fmt.Errorf("%s selects no agent pods", mon)
	}
	return discovery{}, nil, fmt.Errorf("%s is not a monitor", mon)
}

func firstPort(eps []ScrapeEndpoint) string {
	if len(eps) == 0 {
		return ""
	}
	return eps[0].Port
}

// matches: every selector label is on the object (an empty selector matches nothing here).
func matches(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
