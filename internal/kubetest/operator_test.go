package kubetest

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// scrapeConfig is the part of a generated scrape configuration the tests read.
type scrapeConfig struct {
	JobName             string `json:"job_name"`
	KubernetesSDConfigs []struct {
		Role       string `json:"role"`
		Namespaces struct {
			Names []string `json:"names"`
		} `json:"namespaces"`
	} `json:"kubernetes_sd_configs"`
	RelabelConfigs []relabelConfig `json:"relabel_configs"`
}

type relabelConfig struct {
	SourceLabels []string `json:"source_labels"`
	Separator    string   `json:"separator"`
	Regex        string   `json:"regex"`
	TargetLabel  string   `json:"target_label"`
	Replacement  *string  `json:"replacement"`
	Action       string   `json:"action"`
}

func parseScrapeConfigs(t *testing.T, config []byte) map[string]scrapeConfig {
	t.Helper()
	var c struct {
		ScrapeConfigs []scrapeConfig `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(config, &c); err != nil {
		t.Fatalf("generated configuration: %v\n%s", err, config)
	}
	out := map[string]scrapeConfig{}
	for _, sc := range c.ScrapeConfigs {
		out[sc.JobName] = sc
	}
	return out
}

// jobRelabelings returns the relabelings of sc that write the job label, in order.
func jobRelabelings(sc scrapeConfig) []relabelConfig {
	var out []relabelConfig
	for _, r := range sc.RelabelConfigs {
		if r.TargetLabel == "job" {
			out = append(out, r)
		}
	}
	return out
}

const monitoringObjects = `
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: NS}
spec:
  version: v2.42.0
  serviceMonitorSelector: {matchLabels: {release: monitoring}}
  podMonitorSelector: {matchLabels: {release: monitoring}}
---
apiVersion: v1
kind: Service
metadata:
  name: monitoring-ipamwatch
  namespace: NS
  labels: {app.kubernetes.io/name: ipamwatch, app.kubernetes.io/instance: monitoring}
spec:
  selector: {app.kubernetes.io/name: ipamwatch}
  ports: [{name: metrics, port: 9713, targetPort: metrics}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: monitoring-ipamwatch-1
  namespace: NS
  labels: {kubernetes.io/service-name: monitoring-ipamwatch, app.kubernetes.io/name: ipamwatch}
addressType: IPv4
ports: [{name: metrics, port: 9713, protocol: TCP}]
endpoints: [{addresses: [10.0.1.23], conditions: {ready: true}, nodeName: ip-10-0-1-23.ec2.internal}]
---
# The chart's ServiceMonitor as it is today: no jobLabel.
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: ipamwatch, namespace: NS, labels: {release: monitoring}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ipamwatch}}
  endpoints:
  - port: metrics
    relabelings: [{targetLabel: cluster, replacement: test-cluster}]
---
# With jobLabel, as the prometheus-community charts set it.
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: ipamwatch-joblabel, namespace: NS, labels: {release: monitoring}}
spec:
  jobLabel: app.kubernetes.io/name
  selector: {matchLabels: {app.kubernetes.io/name: ipamwatch}}
  endpoints: [{port: metrics}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: ipamwatch, namespace: NS, labels: {release: monitoring}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ipamwatch}}
  podMetricsEndpoints: [{port: metrics}]
---
# Without the release label the Prometheus object does not select it.
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: unselected, namespace: NS}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ipamwatch}}
  endpoints: [{port: metrics}]
`

// TestPrometheusOperatorGeneratesConfig runs prometheus-operator against the real API server
// and reads the configuration it generates for a Prometheus object, a ServiceMonitor with and
// without jobLabel and a PodMonitor: job names, selection by label, and the job relabelings,
// checked against what the CRDs' own descriptions (kubectl explain) document.
func TestPrometheusOperatorGeneratesConfig(t *testing.T) {
	t.Parallel()
	srv := kube.Get(t)
	ns := srv.NewNamespace(t)
	op := StartOperator(t, srv, ns)
	srv.Apply(t, strings.ReplaceAll(monitoringObjects, "NS", ns))

	smJob := "serviceMonitor/" + ns + "/ipamwatch/0"
	smLabelJob := "serviceMonitor/" + ns + "/ipamwatch-joblabel/0"
	pmJob := "podMonitor/" + ns + "/ipamwatch/0"
	config := op.PrometheusConfig(t, ns, "k8s", func(c []byte) bool {
		s := string(c)
		return strings.Contains(s, smJob) && strings.Contains(s, smLabelJob) && strings.Contains(s, pmJob)
	})
	t.Logf("generated configuration:\n%s", config)
	jobs := parseScrapeConfigs(t, config)
	var names []string
	for name := range jobs {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{pmJob, smJob, smLabelJob}; !slices.Equal(names, want) {
		t.Errorf("scrape jobs %q, want %q (the unselected ServiceMonitor must be absent)", names, want)
	}

	// ServiceMonitor without jobLabel: job = the Service's name.
	explain := func(field string) string {
		out, stderr, err := srv.Kubectl(t, "explain", field)
		if err != nil {
			t.Fatalf("kubectl explain %s: %v %s", field, err, stderr)
		}
		return strings.Join(strings.Fields(out), " ")
	}
	if doc := explain("servicemonitors.spec.jobLabel"); !strings.Contains(doc, "defaults to the name of the associated Kubernetes `Service`") {
		t.Errorf("the ServiceMonitor CRD no longer documents the default job label:\n%s", doc)
	}
	want := []relabelConfig{{SourceLabels: []string{"__meta_kubernetes_service_name"}, TargetLabel: "job"}}
	if got := jobRelabelings(jobs[smJob]); !sameRelabelings(got, want) {
		t.Errorf("%s: job relabelings %+v, want %+v", smJob, got, want)
	}
	// The user's relabelings come after the operator's.
	sc := jobs[smJob]
	if last := sc.RelabelConfigs[len(sc.RelabelConfigs)-1]; last.TargetLabel != "cluster" || last.Replacement == nil || *last.Replacement != "test-cluster" {
		t.Errorf("%s: the ServiceMonitor's relabeling is not last: %+v", smJob, sc.RelabelConfigs)
	}
	if roles := sc.KubernetesSDConfigs; len(roles) != 1 || roles[0].Role != "endpoints" || !slices.Equal(roles[0].Namespaces.Names, []string{ns}) {
		t.Errorf("%s: kubernetes_sd_configs %+v, want role endpoints in %s", smJob, roles, ns)
	}

	// With jobLabel: the Service's label, when set, overrides the Service name.
	want = []relabelConfig{
		{SourceLabels: []string{"__meta_kubernetes_service_name"}, TargetLabel: "job"},
		{SourceLabels: []string{"__meta_kubernetes_service_label_app_kubernetes_io_name"}, Regex: "(.+)", TargetLabel: "job"},
	}
	if got := jobRelabelings(jobs[smLabelJob]); !sameRelabelings(got, want) {
		t.Errorf("%s: job relabelings %+v, want %+v", smLabelJob, got, want)
	}

	// PodMonitor without jobLabel: job = <namespace>/<name>.
	if doc := explain("podmonitors.spec.jobLabel"); !strings.Contains(doc, "`<namespace>/<name>`") {
		t.Errorf("the PodMonitor CRD no longer documents the default job label:\n%s", doc)
	}
	got := jobRelabelings(jobs[pmJob])
	if len(got) != 1 || got[0].Replacement == nil || *got[0].Replacement != ns+"/ipamwatch" || len(got[0].SourceLabels) != 0 {
		t.Errorf("%s: job relabelings %+v, want one setting job to %s/ipamwatch", pmJob, got, ns)
	}
}

// sameRelabelings compares source labels, regex and target; the defaults Prometheus fills in
// (action replace, separator ";", replacement "$1") may or may not be spelt out.
func sameRelabelings(got, want []relabelConfig) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if !slices.Equal(g.SourceLabels, w.SourceLabels) || g.TargetLabel != w.TargetLabel ||
			orDefault(g.Regex, "(.*)") != orDefault(w.Regex, "(.*)") ||
			orDefault(g.Action, "replace") != "replace" ||
			(g.Replacement != nil && *g.Replacement != "$1" && *g.Replacement != "${1}") {
			return false
		}
	}
	return true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
