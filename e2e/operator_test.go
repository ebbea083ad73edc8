package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/internal/kubetest"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// TestOperatorView runs the chart's monitoring objects the way a kube-prometheus-stack user
// runs them: `helm template` with a release name other than ipamwatch renders the
// ServiceMonitor or PodMonitor and the PrometheusRule; prometheus-operator v0.85.0, against a
// real kube-apiserver, generates the scrape configuration and the rule files from them; a
// Prometheus with Kubernetes discovery runs exactly that (job name, relabelings, the node
// label). The agent-health alerts must then see the agents under the job the operator gave
// them: a failing scrape fires IpamwatchAgentDown on its node, a healthy agent fires nothing,
// and IpamwatchAgentAbsent fires only when no agent is up.
func TestOperatorView(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: a kube-apiserver, prometheus-operator and two Prometheus servers")
	}
	helm := testtools.Lookup(t, "helm")
	srv := kubetest.Start(t)
	podNS, svcNS := srv.NewNamespace(t), srv.NewNamespace(t)
	op := kubetest.StartOperator(t, srv, podNS, svcNS)

	// A healthy agent on loopback; the second agent's port answers nothing.
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, "# TYPE ipamwatch_build_info gauge\nipamwatch_build_info{version=\"e2e\",revision=\"\",goversion=\"\"} 1\n")
	}))
	t.Cleanup(agent.Close)
	live := agent.Listener.Addr().(*net.TCPAddr).Port
	dead := testtools.FreePort(t)

	t.Run("PodMonitor", func(t *testing.T) {
		objs := renderMonitoring(t, helm, podNS, "podMonitor")
		srv.Apply(t, objs.yaml(t, "ServiceAccount", "PodMonitor", "PrometheusRule"))
		srv.Apply(t, objs.pod(t, podNS, "node-up", live)+"---\n"+objs.pod(t, podNS, "node-down", dead)+"---\n"+prometheusObject(podNS))
		srv.MarkPodRunning(t, podNS, "ipamwatch-node-up", "127.0.0.1")
		srv.MarkPodRunning(t, podNS, "ipamwatch-node-down", "127.0.0.1")
		prom := runGenerated(t, srv, op, podNS, "podMonitor/")
		job := waitJob(t, prom, 2, objs.ruleJob(t))
		t.Logf("the operator gave the agents job %q; the rules select job=~%q", job, objs.ruleJob(t))
		firing := waitAlerts(t, prom, map[string][]string{"IpamwatchAgentDown": {"node-down"}})
		if len(firing["IpamwatchAgentAbsent"]) > 0 {
			t.Errorf("IpamwatchAgentAbsent fires although an agent is up: %v", firing)
		}
	})

	t.Run("ServiceMonitor", func(t *testing.T) {
		objs := renderMonitoring(t, helm, svcNS, "serviceMonitor")
		srv.Apply(t, objs.yaml(t, "ServiceAccount", "Service", "ServiceMonitor", "PrometheusRule"))
		srv.Apply(t, objs.pod(t, svcNS, "node-a", 9713)+"---\n"+objs.pod(t, svcNS, "node-b", 9713)+"---\n"+prometheusObject(svcNS))
		// No endpoints controller runs, and the API refuses loopback endpoint addresses: the
		// Service's endpoints are TEST-NET-3 addresses that never answer (up 0), each pointing at
		// its Pod, from which discovery takes the node name.
		srv.Apply(t, objs.endpoints(t, svcNS, map[string]string{"node-a": "203.0.113.11", "node-b": "203.0.113.12"}))
		srv.MarkPodRunning(t, svcNS, "ipamwatch-node-a", "203.0.113.11")
		srv.MarkPodRunning(t, svcNS, "ipamwatch-node-b", "203.0.113.12")
		prom := runGenerated(t, srv, op, svcNS, "serviceMonitor/")
		job := waitJob(t, prom, 2, objs.ruleJob(t))
		t.Logf("the operator gave the agents job %q; the rules select job=~%q", job, objs.ruleJob(t))
		waitAlerts(t, prom, map[string][]string{"IpamwatchAgentDown": {"node-a", "node-b"}, "IpamwatchAgentAbsent": {""}})
	})
}

// monitoring is the chart's rendered objects.
type monitoring struct{ docs []map[string]any }

// renderMonitoring renders the chart as release "monitoring" in ns with one monitor and the
// PrometheusRule; the agent-health alerts fire after 4 s instead of 15 minutes.
func renderMonitoring(t *testing.T, helm, ns, monitor string) monitoring {
	t.Helper()
	out, err := exec.Command(helm, "template", "monitoring", filepath.Join("..", "charts", "ipamwatch"), "--kube-version", kubetest.KubeVersion, "--namespace", ns,
		"--set", monitor+".enabled=true", "--set", "prometheusRule.enabled=true",
		"--set", "prometheusRule.for.IpamwatchAgentDown=4s", "--set", "prometheusRule.for.IpamwatchAgentAbsent=4s").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var m monitoring
	for _, doc := range strings.Split(string(out), "\n---") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered object: %v\n%s", err, doc)
		}
		if obj != nil {
			m.docs = append(m.docs, obj)
		}
	}
	return m
}

func (m monitoring) find(t *testing.T, kind string) map[string]any {
	t.Helper()
	for _, d := range m.docs {
		if d["kind"] == kind {
			return d
		}
	}
	t.Fatalf("the chart rendered no %s", kind)
	return nil
}

// yaml returns the rendered objects of the kinds, as a multi-document manifest.
func (m monitoring) yaml(t *testing.T, kinds ...string) string {
	t.Helper()
	var docs []string
	for _, k := range kinds {
		b, err := yaml.Marshal(m.find(t, k))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}

// pod is an agent Pod as the DaemonSet would create it on node: the template's labels, its
// container and its metrics port name, listening on port.
func (m monitoring) pod(t *testing.T, ns, node string, port int) string {
	t.Helper()
	ds := m.find(t, "DaemonSet")
	tpl := dig(t, ds, "spec", "template").(map[string]any)
	labels := dig(t, tpl, "metadata", "labels")
	c := dig(t, tpl, "spec", "containers").([]any)[0].(map[string]any)
	var portName string
	for _, p := range c["ports"].([]any) {
		if pn := p.(map[string]any)["name"].(string); pn == "metrics" {
			portName = pn
		}
	}
	if portName == "" {
		t.Fatalf("the DaemonSet's container has no port named metrics: %v", c["ports"])
	}
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "ipamwatch-" + node, "namespace": ns, "labels": labels},
		"spec": map[string]any{
			"nodeName":           node,
			"serviceAccountName": dig(t, tpl, "spec", "serviceAccountName"),
			"containers": []any{map[string]any{
				"name": c["name"], "image": "ipamwatch",
				"ports": []any{map[string]any{"name": portName, "containerPort": port}},
			}},
		},
	}
	b, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// endpoints are the Service's Endpoints, one address per node's Pod.
func (m monitoring) endpoints(t *testing.T, ns string, ips map[string]string) string {
	t.Helper()
	svc := m.find(t, "Service")
	name := dig(t, svc, "metadata", "name")
	var addrs []any
	nodes := make([]string, 0, len(ips))
	for n := range ips {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		addrs = append(addrs, map[string]any{"ip": ips[n], "nodeName": n,
			"targetRef": map[string]any{"kind": "Pod", "name": "ipamwatch-" + n, "namespace": ns}})
	}
	b, err := yaml.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Endpoints",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": dig(t, svc, "metadata", "labels")},
		"subsets":  []any{map[string]any{"addresses": addrs, "ports": []any{map[string]any{"name": "metrics", "port": 9713}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var jobMatcherRE = regexp.MustCompile(`up\{job=~"([^"]+)"\}`)

// ruleJob is the job regular expression the rendered IpamwatchAgentDown selects.
func (m monitoring) ruleJob(t *testing.T) string {
	t.Helper()
	for _, g := range dig(t, m.find(t, "PrometheusRule"), "spec", "groups").([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			if rule["alert"] == "IpamwatchAgentDown" {
				if mm := jobMatcherRE.FindStringSubmatch(rule["expr"].(string)); mm != nil {
					return mm[1]
				}
				t.Fatalf("IpamwatchAgentDown selects no job: %s", rule["expr"])
			}
		}
	}
	t.Fatal("the PrometheusRule has no IpamwatchAgentDown")
	return ""
}

func dig(t *testing.T, obj map[string]any, path ...string) any {
	t.Helper()
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok || m[p] == nil {
			t.Fatalf("no %s in %v", strings.Join(path, "."), obj["kind"])
		}
		cur = m[p]
	}
	return cur
}

// prometheusObject is a Prometheus that selects the monitors and rules of its namespace.
func prometheusObject(ns string) string {
	return fmt.Sprintf(`apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: %s}
spec:
  version: %s
  scrapeInterval: 1s
  scrapeTimeout: 500ms
  evaluationInterval: 1s
  serviceMonitorSelector: {}
  podMonitorSelector: {}
  ruleSelector: {}
`, ns, kubetest.PrometheusVersion)
}

// runGenerated waits for the operator's configuration (with a scrape job of the monitor kind)
// and rule files, and runs Prometheus on them: the generated configuration as it is, its rule
// files read from the ConfigMaps the operator wrote.
func runGenerated(t *testing.T, srv *kubetest.Server, op *kubetest.Operator, ns, jobPrefix string) *kubetest.Prometheus {
	t.Helper()
	config := op.PrometheusConfig(t, ns, "k8s", func(c []byte) bool {
		return strings.Contains(string(c), "job_name: "+jobPrefix+ns+"/") && strings.Contains(string(c), "rule_files")
	})
	rulesDir := t.TempDir()
	deadline := time.Now().Add(90 * time.Second)
	for {
		cms, err := srv.Client().CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "managed-by=prometheus-operator"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, cm := range cms.Items {
			if !strings.HasPrefix(cm.Name, "prometheus-k8s-rulefiles-") {
				continue
			}
			for name, data := range cm.Data {
				if err := os.WriteFile(filepath.Join(rulesDir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				n++
			}
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the operator wrote no rule files for %s/k8s\n%s", ns, op.LogTail(25))
		}
		time.Sleep(250 * time.Millisecond)
	}
	var c map[string]any
	if err := yaml.Unmarshal(config, &c); err != nil {
		t.Fatal(err)
	}
	c["rule_files"] = []string{filepath.Join(rulesDir, "*.yaml")}
	rewritten, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("generated configuration:\n%s", config)
		}
	})
	return kubetest.RunPrometheus(t, srv, rewritten)
}

// waitJob waits until Prometheus scrapes n agent targets, each with the node label of its Pod,
// and returns their job, which the rules' job expression must match.
func waitJob(t *testing.T, prom *kubetest.Prometheus, n int, ruleJob string) string {
	t.Helper()
	re := regexp.MustCompile("^(?:" + ruleJob + ")$")
	deadline := time.Now().Add(90 * time.Second)
	for {
		up := prom.Query(t, "up")
		jobs, nodes := map[string]bool{}, map[string]bool{}
		for _, s := range up {
			jobs[s.Labels["job"]] = true
			nodes[s.Labels["node"]] = true
		}
		if len(up) == n && len(jobs) == 1 && !nodes[""] {
			for job := range jobs {
				if !re.MatchString(job) {
					t.Fatalf("the operator gave the agents job %q, which the rules' job=~%q does not match", job, ruleJob)
				}
				return job
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("up: %+v, want %d agent targets of one job, each with a node label\ntargets: %+v", up, n, prom.ActiveTargets(t))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitAlerts waits until exactly the wanted alerts fire (alert name -> the node labels of its
// instances, "" for an instance without one) and returns what fires.
func waitAlerts(t *testing.T, prom *kubetest.Prometheus, want map[string][]string) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := map[string][]string{}
		for _, s := range prom.Query(t, `ALERTS{alertstate="firing"}`) {
			got[s.Labels["alertname"]] = append(got[s.Labels["alertname"]], s.Labels["node"])
		}
		for _, v := range got {
			slices.Sort(v)
		}
		if equalAlerts(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("firing alerts %v, want %v\nup: %+v", got, want, prom.Query(t, "up"))
		}
		time.Sleep(time.Second)
	}
}

func equalAlerts(got, want map[string][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			return false
		}
	}
	return true
}
