package kubetest

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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

// monitoringObjects are what a kube-prometheus-stack user's cluster holds for ipamwatch, in
// namespace NS: a Prometheus selecting monitors by `release: monitoring`, the Service and its
// Endpoints, an agent Pod, a ServiceMonitor with and without jobLabel, a PodMonitor, and a
// ServiceMonitor the Prometheus does not select. PORT is the test's fake agent on 127.0.0.1.
const monitoringObjects = `
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: NS}
spec:
  version: PROMVERSION      # generate for the Prometheus RunPrometheus runs
  scrapeInterval: 2s
  scrapeTimeout: 1s
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
# Written by hand: there is no endpoints controller. The API refuses loopback addresses here,
# so the Service's target is a TEST-NET-3 address that never answers (up 0).
apiVersion: v1
kind: Endpoints
metadata: {name: monitoring-ipamwatch, namespace: NS, labels: {app.kubernetes.io/name: ipamwatch}}
subsets: [{addresses: [{ip: 203.0.113.10}], ports: [{name: metrics, port: 9713}]}]
---
# Pods may have a loopback podIP (MarkPodRunning), so the PodMonitor's target is the fake agent.
apiVersion: v1
kind: Pod
metadata: {name: ipamwatch-x, namespace: NS, labels: {app.kubernetes.io/name: ipamwatch}}
spec:
  nodeName: ip-10-0-1-23.ec2.internal
  containers: [{name: ipamwatch, image: ipamwatch, ports: [{name: metrics, containerPort: PORT}]}]
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

// TestPrometheusOperatorEndToEnd runs prometheus-operator against the real API server, reads
// the configuration it generates (job names, selection by label, the job relabelings, checked
// against what the CRDs' own descriptions document through kubectl explain), then runs Debian's
// Prometheus on that configuration, discovering targets from the same API server, and checks
// the job label each target really gets: the Service's name without jobLabel, the Service's
// label with it, <namespace>/<name> for the PodMonitor.
func TestPrometheusOperatorEndToEnd(t *testing.T) {
	t.Parallel()
	srv := kube.Get(t)
	ns := srv.NewNamespace(t)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, "# TYPE ipamwatch_test_gauge gauge\nipamwatch_test_gauge 1\n")
	}))
	t.Cleanup(agent.Close)
	agentPort := agent.Listener.Addr().(*net.TCPAddr).Port

	op := StartOperator(t, srv, ns)
	srv.Apply(t, strings.NewReplacer("NS", ns, "PORT", strconv.Itoa(agentPort), "PROMVERSION", PrometheusVersion).Replace(monitoringObjects))
	srv.MarkPodRunning(t, ns, "ipamwatch-x", "127.0.0.1")

	smJob := "serviceMonitor/" + ns + "/ipamwatch/0"
	smLabelJob := "serviceMonitor/" + ns + "/ipamwatch-joblabel/0"
	pmJob := "podMonitor/" + ns + "/ipamwatch/0"
	applied := time.Now()
	config := op.PrometheusConfig(t, ns, "k8s", func(c []byte) bool {
		s := string(c)
		return strings.Contains(s, smJob) && strings.Contains(s, smLabelJob) && strings.Contains(s, pmJob)
	})
	t.Logf("the generated configuration had all three monitors %s after they were applied", time.Since(applied).Round(10*time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("generated configuration:\n%s", config)
		}
	}()
	jobs := parseScrapeConfigs(t, config)
	var names []string
	for name := range jobs {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{pmJob, smJob, smLabelJob}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("scrape jobs %q, want %q (the unselected ServiceMonitor must be absent)", names, want)
	}

	explain := func(field string) string {
		out, stderr, err := srv.Kubectl(t, "explain", field)
		if err != nil {
			t.Fatalf("kubectl explain %s: %v %s", field, err, stderr)
		}
		return strings.Join(strings.Fields(out), " ")
	}
	// ServiceMonitor without jobLabel: job = the Service's name.
	if doc := explain("servicemonitors.spec.jobLabel"); !strings.Contains(doc, "defaults to the name of the associated Kubernetes `Service`") {
		t.Errorf("the ServiceMonitor CRD no longer documents the default job label:\n%s", doc)
	}
	wantRelabel := []relabelConfig{{SourceLabels: []string{"__meta_kubernetes_service_name"}, TargetLabel: "job"}}
	if got := jobRelabelings(jobs[smJob]); !sameRelabelings(got, wantRelabel) {
		t.Errorf("%s: job relabelings %+v, want %+v", smJob, got, wantRelabel)
	}
	// The ServiceMonitor's own relabelings run after the operator's job and endpoint labels
	// (and before its sharding rules).
	sc := jobs[smJob]
	jobAt := slices.IndexFunc(sc.RelabelConfigs, func(r relabelConfig) bool { return r.TargetLabel == "job" })
	userAt := slices.IndexFunc(sc.RelabelConfigs, func(r relabelConfig) bool { return r.TargetLabel == "cluster" })
	if userAt < 0 || userAt < jobAt {
		t.Errorf("%s: the ServiceMonitor's relabeling (cluster) at %d, the job relabeling at %d: %+v", smJob, userAt, jobAt, sc.RelabelConfigs)
	}
	// role endpoints (the operator's default serviceDiscoveryRole), limited to the namespace.
	if roles := sc.KubernetesSDConfigs; len(roles) != 1 || roles[0].Role != "endpoints" || !slices.Equal(roles[0].Namespaces.Names, []string{ns}) {
		t.Errorf("%s: kubernetes_sd_configs %+v, want role endpoints in %s", smJob, roles, ns)
	}
	// With jobLabel: the Service's label, when set, overrides the Service name.
	wantRelabel = []relabelConfig{
		{SourceLabels: []string{"__meta_kubernetes_service_name"}, TargetLabel: "job"},
		{SourceLabels: []string{"__meta_kubernetes_service_label_app_kubernetes_io_name"}, Regex: "(.+)", TargetLabel: "job"},
	}
	if got := jobRelabelings(jobs[smLabelJob]); !sameRelabelings(got, wantRelabel) {
		t.Errorf("%s: job relabelings %+v, want %+v", smLabelJob, got, wantRelabel)
	}
	// PodMonitor without jobLabel: job = <namespace>/<name>.
	if doc := explain("podmonitors.spec.jobLabel"); !strings.Contains(doc, "`<namespace>/<name>`") {
		t.Errorf("the PodMonitor CRD no longer documents the default job label:\n%s", doc)
	}
	got := jobRelabelings(jobs[pmJob])
	if len(got) != 1 || got[0].Replacement == nil || *got[0].Replacement != ns+"/ipamwatch" || len(got[0].SourceLabels) != 0 {
		t.Errorf("%s: job relabelings %+v, want one setting job to %s/ipamwatch", pmJob, got, ns)
	}
	if t.Failed() {
		return
	}

	// The same configuration in a real Prometheus: the job label each target ends up with,
	// and which targets are up.
	promStarted := time.Now()
	prom := RunPrometheus(t, srv, config)
	wantUp := map[string]float64{
		"monitoring-ipamwatch": 0, // ServiceMonitor without jobLabel: the Service's name
		"ipamwatch":            0, // with jobLabel app.kubernetes.io/name
		ns + "/ipamwatch":      1, // PodMonitor: the fake agent on 127.0.0.1
	}
	var up map[string]float64
	deadline := time.Now().Add(90 * time.Second)
	for {
		up = map[string]float64{}
		for _, s := range prom.Query(t, "up") {
			up[s.Labels["job"]] = s.Value
		}
		if maps.Equal(up, wantUp) {
			t.Logf("up by job as expected %s after Prometheus started", time.Since(promStarted).Round(10*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("up by job: %v, want %v\ntargets: %+v", up, wantUp, prom.ActiveTargets(t))
		}
		time.Sleep(500 * time.Millisecond)
	}
	series := prom.Query(t, "ipamwatch_test_gauge")
	if len(series) != 1 {
		t.Fatalf("ipamwatch_test_gauge: %+v, want one series from the PodMonitor's target", series)
	}
	for k, v := range map[string]string{"job": ns + "/ipamwatch", "namespace": ns, "pod": "ipamwatch-x", "container": "ipamwatch", "endpoint": "metrics"} {
		if series[0].Labels[k] != v {
			t.Errorf("the scraped series has %s=%q, want %q (labels %v)", k, series[0].Labels[k], v, series[0].Labels)
		}
	}
	for _, tg := range prom.ActiveTargets(t) {
		if tg.Labels["job"] == "monitoring-ipamwatch" && tg.Labels["cluster"] != "test-cluster" {
			t.Errorf("the ServiceMonitor's relabeling did not apply: %v", tg.Labels)
		}
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
