package manifests_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// probeTemplate makes the chart's helpers visible to tests: `helm template` renders no NOTES.txt,
// and the alert rules will include ipamwatch.jobName, so both are rendered into a ConfigMap of a
// copy of the chart.
const probeTemplate = `apiVersion: v1
kind: ConfigMap
metadata:
  name: zz-probe
  labels: {app.kubernetes.io/name: ipamwatch, app.kubernetes.io/part-of: ipamwatch}
data:
  job: {{ include "ipamwatch.jobName" . | quote }}
  notes: {{ include "ipamwatch.notes" . | quote }}
`

// probeChart copies the chart and adds the probe template.
func probeChart(t *testing.T) string {
	t.Helper()
	chart := filepath.Join(t.TempDir(), "ipamwatch")
	copyTree(t, filepath.Join(repoRoot(t), "charts", "ipamwatch"), chart)
	if err := os.WriteFile(filepath.Join(chart, "templates", "zz-probe.yaml"), []byte(probeTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	return chart
}

// renderProbe renders the probe chart and returns the objects without the probe, and its data.
func renderProbe(t *testing.T, chart, release, namespace, values string) ([]object, map[string]string) {
	t.Helper()
	objs, err := decodeAll(helmTemplateAs(t, chart, release, namespace, valuesFile(t, values)))
	if err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	var rest []object
	var probe map[string]string
	for _, o := range objs {
		if cm, ok := o.Obj.(*corev1.ConfigMap); ok && cm.Name == "zz-probe" {
			probe = cm.Data
			continue
		}
		rest = append(rest, o)
	}
	if probe == nil {
		t.Fatal("the probe ConfigMap was not rendered")
	}
	return rest, probe
}

// ipamwatch.jobName is what the alert rules select. It must be the job Prometheus Operator
// really gives the agents' targets (operatorJob, an independent model of the operator's
// relabelings) for either monitor, any release name, namespace, jobLabel and relabeling.
func TestJobNameIsTheJobTheOperatorAssigns(t *testing.T) {
	t.Parallel()
	chart := probeChart(t)
	cases := []struct {
		name, release, namespace, values string
		want                             string
		monitors                         int
	}{
		{"ServiceMonitor, release monitoring", "monitoring", "observability", "serviceMonitor: {enabled: true}", "ipamwatch", 1},
		{"PodMonitor in another namespace", "prod", "default", "podMonitor: {enabled: true, namespace: monitoring}", "ipamwatch", 1},
		{"release named after the chart", "ipamwatch", "ipamwatch", "serviceMonitor: {enabled: true}", "ipamwatch", 1},
		{"namespaceOverride", "prod", "default", "namespaceOverride: kube-system\nserviceMonitor: {enabled: true, namespace: monitoring}", "ipamwatch", 1},
		{"both monitors", "monitoring", "observability", "serviceMonitor: {enabled: true}\npodMonitor: {enabled: true}", "ipamwatch", 2},
		{"nameOverride", "monitoring", "observability", "nameOverride: ipam\nserviceMonitor: {enabled: true}", "ipam", 1},
		{"jobLabel instance", "monitoring", "observability", "serviceMonitor: {enabled: true, jobLabel: app.kubernetes.io/instance}", "monitoring", 1},
		{"jobLabel from commonLabels", "monitoring", "observability", "commonLabels: {team: platform}\npodMonitor: {enabled: true, jobLabel: team}", "platform", 1},
		{"jobLabel from podLabels", "monitoring", "observability", "podLabels: {scrape-job: eks-ipam}\npodMonitor: {enabled: true, jobLabel: scrape-job}", "eks-ipam", 1},
		// podLabels are not on the Service: the operator falls back to the Service's name.
		{"podLabels are not Service labels", "monitoring", "observability", "podLabels: {scrape-job: eks-ipam}\nserviceMonitor: {enabled: true, jobLabel: scrape-job}", "monitoring-ipamwatch", 1},
		{"absent jobLabel, ServiceMonitor", "monitoring", "observability", "serviceMonitor: {enabled: true, jobLabel: absent}", "monitoring-ipamwatch", 1},
		{"absent jobLabel, PodMonitor", "monitoring", "observability", "podMonitor: {enabled: true, namespace: monitoring, jobLabel: absent}", "monitoring/monitoring-ipamwatch", 1},
		{"absent jobLabel, fullnameOverride", "monitoring", "observability", "fullnameOverride: ipam-agent\nserviceMonitor: {enabled: true, jobLabel: absent}", "ipam-agent", 1},
		{"static job relabeling", "monitoring", "observability", "serviceMonitor: {enabled: true, relabelings: [{targetLabel: job, replacement: eks-ipam-agents}]}", "eks-ipam-agents", 1},
		{"relabeling of another label", "monitoring", "observability", "podMonitor: {enabled: true, relabelings: [{sourceLabels: [__meta_kubernetes_pod_host_ip], targetLabel: host_ip}]}", "ipamwatch", 1},
		{"no monitor", "monitoring", "observability", "prometheusRule: {enabled: true}", "ipamwatch", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			objs, probe := renderProbe(t, chart, c.release, c.namespace, c.values)
			if probe["job"] != c.want {
				t.Errorf("ipamwatch.jobName = %q, want %q", probe["job"], c.want)
			}
			n := 0
			for _, o := range objs {
				if (o.Kind != "ServiceMonitor" && o.Kind != "PodMonitor") || o.Meta.Labels[componentLabel] != "node-agent" {
					continue
				}
				n++
				d, eps, err := agentDiscovery(objs, o)
				if err != nil {
					t.Fatal(err)
				}
				for _, ep := range eps {
					job, err := operatorJob(d, ep.Relabelings)
					if err != nil || job != c.want {
						t.Errorf("%s: the operator gives job=%q (%v), the helper says %q", o, job, err, c.want)
					}
				}
			}
			if n != c.monitors {
				t.Errorf("%d agent monitors rendered, want %d", n, c.monitors)
			}
		})
	}
}

// The model itself must be able to disagree: the operator's fallbacks and Prometheus' relabel
// semantics, checked on hand-written cases.
func TestOperatorJobModel(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	sm := discovery{monitorKind: "ServiceMonitor", monitorNamespace: "monitoring", monitorName: "m",
		namespace: "obs", serviceName: "rel-ipamwatch", serviceLabels: map[string]string{"app.kubernetes.io/name": "ipamwatch", "empty": ""},
		podLabels: map[string]string{"tier": "node"}, port: "metrics"}
	pm := sm
	pm.monitorKind, pm.serviceName, pm.serviceLabels = "PodMonitor", "", nil
	with := func(d discovery, jobLabel string) discovery { d.jobLabel = jobLabel; return d }
	cases := []struct {
		name string
		d    discovery
		r    []RelabelConfig
		want string
		err  bool
	}{
		{"service name without jobLabel", sm, nil, "rel-ipamwatch", false},
		{"jobLabel on the Service", with(sm, "app.kubernetes.io/name"), nil, "ipamwatch", false},
		{"empty jobLabel value falls back", with(sm, "empty"), nil, "rel-ipamwatch", false},
		{"pod label is not a Service label", with(sm, "tier"), nil, "rel-ipamwatch", false},
		{"PodMonitor default", pm, nil, "monitoring/m", false},
		{"PodMonitor jobLabel", with(pm, "tier"), nil, "node", false},
		{"static replacement", sm, []RelabelConfig{{TargetLabel: "job", Replacement: str("agents")}}, "agents", false},
		{"replacement from a known label", sm, []RelabelConfig{{SourceLabels: []string{"namespace"}, TargetLabel: "job", Replacement: str("ipam-$1")}}, "ipam-obs", false},
		{"regex that does not match leaves job", sm, []RelabelConfig{{SourceLabels: []string{"namespace"}, Regex: "prod", TargetLabel: "job", Replacement: str("x")}}, "rel-ipamwatch", false},
		{"uppercase", sm, []RelabelConfig{{Action: "uppercase", SourceLabels: []string{"job"}, TargetLabel: "job"}}, "REL-IPAMWATCH", false},
		{"labelmap onto job", sm, []RelabelConfig{{Action: "labelmap", Regex: "__meta_kubernetes_pod_label_(tier)", Replacement: str("job")}}, "node", false},
		{"labeldrop of job", sm, []RelabelConfig{{Action: "labeldrop", Regex: "job"}}, "", false},
		{"keep changes no label", sm, []RelabelConfig{{Action: "keep", SourceLabels: []string{"namespace"}, Regex: "obs"}}, "rel-ipamwatch", false},
		{"job from the node name", sm, []RelabelConfig{{SourceLabels: []string{"__meta_kubernetes_pod_node_name"}, TargetLabel: "job"}}, "", true},
		{"job through an unknown label", sm, []RelabelConfig{
			{SourceLabels: []string{"__meta_kubernetes_pod_ip"}, TargetLabel: "ip"},
			{SourceLabels: []string{"ip"}, TargetLabel: "job"},
		}, "", true},
		{"hashmod into job", sm, []RelabelConfig{{Action: "hashmod", SourceLabels: []string{"namespace"}, Modulus: 2, TargetLabel: "job"}}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := operatorJob(c.d, c.r)
			if (err != nil) != c.err || got != c.want {
				t.Errorf("operatorJob = %q, %v; want %q, error %v", got, err, c.want, c.err)
			}
		})
	}
}

// NOTES.txt tells the user the job and warns when kube-prometheus-stack would ignore the
// monitors or when every node is scraped twice.
func TestNotes(t *testing.T) {
	t.Parallel()
	chart := probeChart(t)
	const warn = "WARNING: no `release` label"
	cases := []struct {
		name, values string
		want, absent []string
	}{
		{"monitors without release", "serviceMonitor: {enabled: true}\nprometheusRule: {enabled: true}",
			[]string{warn + " on the PrometheusRule, ServiceMonitor.", `job="ipamwatch"`, "--set releaseLabel=kube-prometheus-stack"}, []string{"scraped twice"}},
		{"releaseLabel set", "podMonitor: {enabled: true}\nprometheusRule: {enabled: true}\nreleaseLabel: kube-prometheus-stack",
			[]string{`up{job="ipamwatch"}`}, []string{warn}},
		{"release through additionalLabels", "serviceMonitor: {enabled: true, additionalLabels: {release: monitoring}}",
			nil, []string{warn}},
		{"one object unlabelled", "serviceMonitor: {enabled: true, additionalLabels: {release: monitoring}}\nprometheusRule: {enabled: true}",
			[]string{warn + " on the PrometheusRule."}, nil},
		{"both monitors", "serviceMonitor: {enabled: true}\npodMonitor: {enabled: true}\nreleaseLabel: true",
			[]string{"scraped twice"}, []string{warn}},
		{"nothing for Prometheus", "", []string{"rollout status daemonset/monitoring-ipamwatch"}, []string{warn, "job="}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, probe := renderProbe(t, chart, "monitoring", "observability", c.values)
			notes := probe["notes"]
			for _, w := range c.want {
				if !strings.Contains(notes, w) {
					t.Errorf("notes lack %q:\n%s", w, notes)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(notes, a) {
					t.Errorf("notes contain %q:\n%s", a, notes)
				}
			}
		})
	}
}

// The default affinity is the aws-vpc-cni chart's own, in both renderers: amazon-vpc-cni-k8s
// v1.23.0, charts/aws-vpc-cni/values.yaml `affinity` (Linux, amd64 or arm64,
// eks.amazonaws.com/compute-type NotIn fargate, hybrid, auto).
func TestDefaultAffinityIsAwsVpcCnis(t *testing.T) {
	t.Parallel()
	want := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}},
				{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64", "arm64"}},
				{Key: "eks.amazonaws.com/compute-type", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"fargate", "hybrid", "auto"}},
			},
		}}},
	}}
	for _, i := range []int{0, 7} {
		got := daemonSet(t, render(t, renderCases[i])).Spec.Template.Spec.Affinity
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s affinity (-aws-vpc-cni +got):\n%s", renderCases[i].name, diff)
		}
	}
}

// Helm hands a parent chart's `global` values to every subchart: the strict schema must not
// reject them.
func TestHelmAcceptsParentGlobals(t *testing.T) {
	t.Parallel()
	objs, err := decodeAll(helmTemplate(t, filepath.Join(repoRoot(t), "charts", "ipamwatch"),
		valuesFile(t, "global: {imagePullSecrets: [], storageClass: gp3, imageRegistry: mirror.example.com}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := daemonSet(t, objs).Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(got, "mirror.example.com/ipamwatch/ipamwatch:") {
		t.Errorf("image %q does not come from global.imageRegistry", got)
	}
}

// The registry, repository, tag and digest values combine the way the prometheus-community
// charts combine them; an empty registry lets the repository carry a host.
func TestHelmImageReferences(t *testing.T) {
	t.Parallel()
	chart := filepath.Join(repoRoot(t), "charts", "ipamwatch")
	sub := "subnets: {enabled: true, clusterName: demo}\n"
	cases := []struct{ values, agent, subnets string }{
		{sub, "ghcr.io/ipamwatch/ipamwatch:0.1.0", "ghcr.io/ipamwatch/ipamwatch-full:0.1.0"},
		{sub + "image: {registry: mirror.example.com:5000, tag: 0.1.1}", "mirror.example.com:5000/ipamwatch/ipamwatch:0.1.1", "mirror.example.com:5000/ipamwatch/ipamwatch-full:0.1.1"},
		{sub + "image: {registry: '', repository: registry.example.com/team/ipamwatch}", "registry.example.com/team/ipamwatch:0.1.0", "registry.example.com/team/ipamwatch-full:0.1.0"},
		{"subnets: {enabled: true, clusterName: demo, image: {registry: other.example.com, repository: full}}\nglobal: {imageRegistry: mirror.example.com}",
			"mirror.example.com/ipamwatch/ipamwatch:0.1.0", "mirror.example.com/full:0.1.0"},
	}
	appVersion := chartMetadata(t).AppVersion
	for _, c := range cases {
		objs, err := decodeAll(helmTemplate(t, chart, valuesFile(t, c.values)))
		if err != nil {
			t.Fatal(err)
		}
		agent := daemonSet(t, objs).Spec.Template.Spec.Containers[0].Image
		d := find[*appsv1.Deployment](objs, "Deployment")
		if d == nil {
			t.Fatalf("values %q: no subnets Deployment", c.values)
		}
		subnets := d.Spec.Template.Spec.Containers[0].Image
		// The expectations are written for appVersion 0.1.0; follow the chart when it moves.
		agentWant := strings.ReplaceAll(c.agent, ":0.1.0", ":"+appVersion)
		subnetsWant := strings.ReplaceAll(c.subnets, ":0.1.0", ":"+appVersion)
		if agent != agentWant || subnets != subnetsWant {
			t.Errorf("values %q: images %q, %q; want %q, %q", c.values, agent, subnets, agentWant, subnetsWant)
		}
	}
}

type chartYAML struct {
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion"`
	KubeVersion string            `json:"kubeVersion"`
	Home        string            `json:"home"`
	Icon        string            `json:"icon"`
	Annotations map[string]string `json:"annotations"`
}

func chartMetadata(t *testing.T) chartYAML {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "ipamwatch", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c chartYAML
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Chart.yaml points at files that exist in this repository, under the licence it has.
func TestChartMetadata(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	c := chartMetadata(t)
	if !regexp.MustCompile(`^>=1\.\d+\.\d+-0$`).MatchString(c.KubeVersion) {
		t.Errorf("kubeVersion %q: want >=1.N.N-0 (the -0 admits EKS' pre-release version suffixes)", c.KubeVersion)
	}
	const raw = "https://raw.githubusercontent.com/ipamwatch/ipamwatch/main/"
	if p, ok := strings.CutPrefix(c.Icon, raw); !ok {
		t.Errorf("icon %q is not a file of the repository's main branch", c.Icon)
	} else if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || !strings.Contains(string(b), "<svg") {
		t.Errorf("icon %s: not an SVG in the repository (%v)", p, err)
	}
	lic, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Annotations["artifacthub.io/license"] != "Apache-2.0" || !strings.Contains(string(lic), "Apache License") {
		t.Errorf("artifacthub.io/license %q does not match LICENSE", c.Annotations["artifacthub.io/license"])
	}
	var links []struct{ Name, URL string }
	if err := yaml.UnmarshalStrict([]byte(c.Annotations["artifacthub.io/links"]), &links); err != nil || len(links) == 0 {
		t.Fatalf("artifacthub.io/links: %v (%d links)", err, len(links))
	}
	for _, l := range links {
		p, ok := strings.CutPrefix(l.URL, c.Home+"/")
		if !ok {
			t.Errorf("link %q: %s is not under %s", l.Name, l.URL, c.Home)
			continue
		}
		p = strings.TrimPrefix(strings.TrimPrefix(p, "tree/main/"), "blob/main/")
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("link %q: %v", l.Name, err)
		}
	}
	if !slices.Contains([]string{"true", "false"}, c.Annotations["artifacthub.io/operator"]) {
		t.Errorf("artifacthub.io/operator %q", c.Annotations["artifacthub.io/operator"])
	}
}

// The kustomize patch docs/deploy.md gives kube-prometheus-stack users, applied as written on
// top of the servicemonitor overlay: release label on the monitor and the rules, nothing else
// touched (in particular not the DaemonSet's selector).
func TestDocumentedKustomizeReleasePatch(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "kustomize: add the label in your overlay")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/deploy.md: the kustomize release-label example is missing")
	}
	var patch strings.Builder
	for _, l := range strings.Split(strings.TrimRight(block, " \n"), "\n") {
		patch.WriteString(strings.TrimPrefix(l, "  ") + "\n")
	}
	dir := t.TempDir()
	copyTree(t, filepath.Join(root, "manifests"), filepath.Join(dir, "manifests"))
	overlay := filepath.Join(dir, "manifests", "overlays", "kube-prometheus-stack")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../servicemonitor\n" + patch.String()
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(kustomizeBuild(t, overlay))
	if err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	exp := renderCases[1].exp
	exp.release = "kube-prometheus-stack"
	for _, p := range policy(objs, exp) {
		t.Error(p)
	}
	base := daemonSet(t, baseObjects(t)).Spec.Selector
	if diff := cmp.Diff(base, daemonSet(t, objs).Spec.Selector); diff != "" {
		t.Errorf("the patch changes the DaemonSet selector:\n%s", diff)
	}
}

// The README's Helm install line, run as written (release ipamwatch, namespace ipamwatch), gives
// kube-prometheus-stack what it selects and the job the rules select.
func TestReadmeInstallLine(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmdline strings.Builder
	in := false
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "helm install ipamwatch charts/ipamwatch") {
			in = true
		}
		if !in {
			continue
		}
		code, _, _ := strings.Cut(l, "#")
		cmdline.WriteString(strings.TrimSuffix(strings.TrimSpace(code), `\`) + " ")
		if !strings.HasSuffix(strings.TrimSpace(code), `\`) {
			break
		}
	}
	var sets []string
	fields := strings.Fields(cmdline.String())
	for i, f := range fields {
		if f == "--set" && i+1 < len(fields) {
			sets = append(sets, "--set", fields[i+1])
		}
	}
	if !slices.Contains(sets, "releaseLabel=kube-prometheus-stack") || !slices.Contains(sets, "serviceMonitor.enabled=true") {
		t.Fatalf("README's helm install line %q lacks the ServiceMonitor or releaseLabel", cmdline.String())
	}
	out, err := helmTemplateArgs(t, filepath.Join(root, "charts", "ipamwatch"), "ipamwatch", "ipamwatch", sets...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	exp := expect{kinds: agentKinds(map[string]int{"ServiceMonitor": 1, "PrometheusRule": 1, "ConfigMap": chartDashboards(t)}), release: "kube-prometheus-stack"}
	for _, p := range policy(objs, exp) {
		t.Error(p)
	}
}

// The upgrade notes name every label of the agent's immutable selector, in the chart README
// and in docs/deploy.md.
func TestUpgradeNotesNameTheSelector(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	sel := daemonSet(t, render(t, renderCases[7])).Spec.Selector.MatchLabels
	if len(sel) != 3 {
		t.Errorf("the chart's selector is %v; the upgrade notes describe three labels", sel)
	}
	for _, doc := range []string{"charts/ipamwatch/README.md", "docs/deploy.md"} {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		_, notes, ok := strings.Cut(string(b), "## Upgrading")
		if !ok {
			t.Errorf("%s has no Upgrading section", doc)
			continue
		}
		for k := range sel {
			if !strings.Contains(notes, k) {
				t.Errorf("%s: the Upgrading section does not name the selector label %s", doc, k)
			}
		}
		if !strings.Contains(notes, "immutable") {
			t.Errorf("%s: the Upgrading section does not say the selector is immutable", doc)
		}
	}
}
