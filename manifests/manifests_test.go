package manifests_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"
)

type renderCase struct {
	name string
	// kustomize directory (relative to the module root), or helm values files.
	kustomize string
	helm      []string
	// values is more Helm values (YAML), after the files.
	values string
	// release and namespace of `helm template`; ipamwatch and ipamwatch when empty.
	release, namespace string
	exp                expect
}

func (c renderCase) releaseName() string {
	if c.release == "" {
		return "ipamwatch"
	}
	return c.release
}

func (c renderCase) namespaceName() string {
	if c.namespace == "" {
		return "ipamwatch"
	}
	return c.namespace
}

func agentKinds(extra map[string]int) map[string]int {
	k := map[string]int{"ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "DaemonSet": 1, "Service": 1}
	for kind, n := range extra {
		k[kind] += n
	}
	return k
}

// eventsKinds is the Role and RoleBinding in "default" that let the agent create Events.
var eventsKinds = map[string]int{"Role": 1, "RoleBinding": 1}

var subnetsKinds = map[string]int{"ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "Deployment": 1, "Service": 1}

func plus(a, b map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

// renderCases is every way the project can be deployed. The sidecar overlay has its own test.
var renderCases = []renderCase{
	{name: "kustomize base", kustomize: "manifests/base",
		exp: expect{kinds: agentKinds(map[string]int{"Namespace": 1})}},
	{name: "kustomize servicemonitor", kustomize: "manifests/overlays/servicemonitor",
		exp: expect{kinds: agentKinds(map[string]int{"Namespace": 1, "ServiceMonitor": 1, "PrometheusRule": 1})}},
	{name: "kustomize podmonitor", kustomize: "manifests/overlays/podmonitor",
		exp: expect{kinds: agentKinds(map[string]int{"Namespace": 1, "PodMonitor": 1, "PrometheusRule": 1})}},
	{name: "kustomize events", kustomize: "manifests/overlays/events",
		exp: expect{kinds: plus(agentKinds(map[string]int{"Namespace": 1}), eventsKinds), events: true}},
	{name: "kustomize subnets", kustomize: "manifests/overlays/subnets",
		exp: expect{kinds: plus(agentKinds(map[string]int{"Namespace": 1}), subnetsKinds)}},
	{name: "kustomize web-tls", kustomize: "manifests/overlays/web-tls",
		exp: expect{kinds: agentKinds(map[string]int{"Namespace": 1, "Secret": 1}), tls: true}},
	{name: "kustomize all", kustomize: "manifests/overlays/all",
		exp: expect{kinds: plus(plus(agentKinds(map[string]int{"Namespace": 1, "ServiceMonitor": 1, "PrometheusRule": 1, "Secret": 1}), subnetsKinds), eventsKinds), events: true, tls: true}},
	{name: "helm defaults", helm: nil,
		exp: expect{kinds: agentKinds(nil)}},
	{name: "helm full values", helm: []string{"charts/ipamwatch/ci/full-values.yaml"},
		exp: expect{kinds: plus(plus(agentKinds(map[string]int{"Secret": 1, "ServiceMonitor": 2, "PodMonitor": 1, "PrometheusRule": 1, "NetworkPolicy": 1, "ConfigMap": chartDashboards(nil)}), subnetsKinds), eventsKinds),
			events: true, tls: true, basicAuth: true, namespace: "ipamwatch-system", release: "kube-prometheus-stack"}},
	// The README's kube-prometheus-stack install, under a release name that is not the chart's.
	{name: "helm kube-prometheus-stack, release monitoring", release: "monitoring", namespace: "observability",
		values: "serviceMonitor: {enabled: true}\nprometheusRule: {enabled: true}\nreleaseLabel: kube-prometheus-stack\n",
		exp:    expect{kinds: agentKinds(map[string]int{"ServiceMonitor": 1, "PrometheusRule": 1}), namespace: "observability", release: "kube-prometheus-stack"}},
	// namespaceOverride, a PodMonitor in the monitoring namespace, and releaseLabel: true.
	{name: "helm podmonitor elsewhere, release prod", release: "prod", namespace: "default",
		values: "namespaceOverride: ipamwatch-system\npodMonitor: {enabled: true, namespace: monitoring}\nprometheusRule: {enabled: true}\nreleaseLabel: true\n",
		exp:    expect{kinds: agentKinds(map[string]int{"PodMonitor": 1, "PrometheusRule": 1}), namespace: "ipamwatch-system", release: "prod"}},
	{name: "kustomize networkpolicy", kustomize: "manifests/overlays/networkpolicy",
		exp: expect{kinds: agentKinds(map[string]int{"Namespace": 1, "NetworkPolicy": 1})}},
}

// chartDashboards counts the dashboards shipped in the chart (0 until they are generated).
func chartDashboards(t testing.TB) int {
	m, err := filepath.Glob(filepath.Join("..", "charts", "ipamwatch", "dashboards", "*.json"))
	if err != nil && t != nil {
		t.Fatal(err)
	}
	return len(m)
}

func render(t *testing.T, c renderCase) []object {
	t.Helper()
	root := repoRoot(t)
	var out []byte
	if c.kustomize != "" {
		out = kustomizeBuild(t, filepath.Join(root, c.kustomize))
	} else {
		var files []string
		for _, f := range c.helm {
			files = append(files, filepath.Join(root, f))
		}
		if c.values != "" {
			files = append(files, valuesFile(t, c.values))
		}
		out = helmTemplateAs(t, filepath.Join(root, "charts", "ipamwatch"), c.releaseName(), c.namespaceName(), files...)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("strict decoding of %s: %v", c.name, err)
	}
	return objs
}

func TestRenderedObjectsDecodeStrictlyAndPassPolicy(t *testing.T) {
	t.Parallel()
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, c)
			for _, p := range policy(objs, c.exp) {
				t.Error(p)
			}
		})
	}
}

// A new overlay must be added to renderCases (or be the sidecar), or it ships unchecked.
func TestEveryOverlayIsChecked(t *testing.T) {
	t.Parallel()
	dirs, err := os.ReadDir("overlays")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{"sidecar": true}
	for _, c := range renderCases {
		if rest, ok := strings.CutPrefix(c.kustomize, "manifests/overlays/"); ok {
			covered[rest] = true
		}
	}
	for _, d := range dirs {
		if d.IsDir() && !covered[d.Name()] {
			t.Errorf("overlay %s is not in renderCases", d.Name())
		}
	}
}

func baseObjects(t *testing.T) []object {
	t.Helper()
	return render(t, renderCases[0])
}

func find[T any](objs []object, kind string) T {
	for _, o := range objs {
		if o.Kind == kind {
			return o.Obj.(T)
		}
	}
	var zero T
	return zero
}

// The events Role is held to the same policy: one namespace, create only.
func TestPolicyRejectsEventsViolations(t *testing.T) {
	t.Parallel()
	var events renderCase
	for _, c := range renderCases {
		if c.name == "kustomize events" {
			events = c
		}
	}
	cases := []struct {
		name   string
		mutate func([]object)
		want   string
	}{
		{"Role moved out of default", func(o []object) {
			for i := range o {
				if o[i].Kind == "Role" {
					o[i].Namespace = "ipamwatch"
				}
			}
		}, `must be in the namespace "default"`},
		{"patch on events", func(o []object) {
			r := find[*rbacv1.Role](o, "Role")
			r.Rules[0].Verbs = append(r.Rules[0].Verbs, "patch")
		}, `grants patch "events"`},
		{"no events Role", func(o []object) {
			find[*rbacv1.Role](o, "Role").Rules = nil
		}, `missing create "events"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, events)
			if p := policy(objs, events.exp); len(p) != 0 {
				t.Fatalf("the events overlay already fails: %v", p)
			}
			c.mutate(objs)
			p := policy(objs, events.exp)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("want a problem containing %q, got %q", c.want, p)
			}
		})
	}
}

// The policy must be able to fail: each mutation of the base must be reported.
func TestPolicyRejectsViolations(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	cases := []struct {
		name   string
		mutate func(objs []object)
		want   string
		set    int // index in renderCases: 0 is the kustomize base
	}{
		{"privileged", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].SecurityContext.Privileged = &yes
		}, "privileged", 0},
		{"added capability", func(o []object) {
			sc := find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].SecurityContext
			sc.Capabilities.Add = []corev1.Capability{"DAC_READ_SEARCH"}
		}, "adds capabilities", 0},
		{"capabilities not dropped", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Drop = nil
		}, "drop ALL", 0},
		{"writable root", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &no
		}, "readOnlyRootFilesystem", 0},
		{"privilege escalation", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		}, "allowPrivilegeEscalation", 0},
		{"read-write mount", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].VolumeMounts[0].ReadOnly = false
		}, "mounted read-write", 0},
		{"other host path", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Volumes[0].HostPath.Path = "/"
		}, "hostPath \"/\"", 0},
		{"no limits", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].Resources.Limits = nil
		}, "no memory limit", 0},
		{"no readiness probe", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].ReadinessProbe = nil
		}, "readinessProbe: probe missing", 0},
		{"probe on wrong path", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path = "/metrics"
		}, "want \"/healthz\"", 0},
		{"no host network", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.HostNetwork = false
		}, "hostNetwork", 0},
		{"fargate allowed", func(o []object) {
			a := find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Affinity.NodeAffinity
			a.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[2].Values = []string{"hybrid", "auto"}
		}, "eks.amazonaws.com/compute-type NotIn", 0},
		{"auto mode allowed", func(o []object) {
			a := find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Affinity.NodeAffinity
			a.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[2].Values = []string{"fargate", "hybrid"}
		}, "EKS Auto Mode", 0},
		{"object in another namespace", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Namespace = "default"
		}, "want \"ipamwatch\"", 0},
		{"release label on the DaemonSet", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Labels["release"] = "kube-prometheus-stack"
		}, "monitors and rules only", 0},
		{"monitor without the release label", func(o []object) {
			delete(find[*ServiceMonitor](o, "ServiceMonitor").Labels, "release")
		}, "kube-prometheus-stack selects", 9},
		{"no jobLabel", func(o []object) {
			find[*ServiceMonitor](o, "ServiceMonitor").Spec.JobLabel = ""
		}, "jobLabel \"\"", 1},
		{"relabeling rewrites job", func(o []object) {
			ep := &find[*ServiceMonitor](o, "ServiceMonitor").Spec.Endpoints[0]
			ep.Relabelings = append(ep.Relabelings, RelabelConfig{SourceLabels: []string{"__meta_kubernetes_pod_node_name"}, TargetLabel: "job"})
		}, "known only at discovery time", 1},
		{"jobLabel the Service lacks", func(o []object) {
			find[*ServiceMonitor](o, "ServiceMonitor").Spec.JobLabel = "team"
		}, "job=\"monitoring-ipamwatch\"", 9},
		{"monitor selects another namespace", func(o []object) {
			find[*ServiceMonitor](o, "ServiceMonitor").Spec.NamespaceSelector = &NamespaceSelector{MatchNames: []string{"kube-system"}}
		}, "selects no Service", 1},
		{"unknown flag", func(o []object) {
			c := &find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0]
			c.Args = append(c.Args, "--ipamd.adress=http://127.0.0.1:61679")
		}, "unknown flag --ipamd.adress", 0},
		{"events on without RBAC change", func(o []object) {
			c := &find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0]
			c.Args[slices.Index(c.Args, "--events=false")] = "--events=true"
		}, "--events=true, want false", 0},
		{"wider ClusterRole", func(o []object) {
			cr := find[*rbacv1.ClusterRole](o, "ClusterRole")
			cr.Rules = append(cr.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}})
		}, "grants get \"secrets\"", 0},
		{"pods watch (the agent polls)", func(o []object) {
			cr := find[*rbacv1.ClusterRole](o, "ClusterRole")
			cr.Rules[1].Verbs = append(cr.Rules[1].Verbs, "watch")
		}, "grants watch \"pods\"", 0},
		{"events in every namespace", func(o []object) {
			cr := find[*rbacv1.ClusterRole](o, "ClusterRole")
			cr.Rules = append(cr.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}})
		}, "grants create \"events\"", 0},
		{"wildcard verbs", func(o []object) {
			find[*rbacv1.ClusterRole](o, "ClusterRole").Rules[1].Verbs = []string{"*"}
		}, "grants * \"pods\"", 0},
		{"service selects nothing", func(o []object) {
			find[*corev1.Service](o, "Service").Spec.Selector = map[string]string{"app": "other"}
		}, "matches no pod template", 0},
		{"binding to a foreign account", func(o []object) {
			find[*rbacv1.ClusterRoleBinding](o, "ClusterRoleBinding").Subjects[0].Name = "default"
		}, "ServiceAccount ipamwatch/default is not part of the set", 0},
		{"latest image", func(o []object) {
			find[*appsv1.DaemonSet](o, "DaemonSet").Spec.Template.Spec.Containers[0].Image = "ghcr.io/ipamwatch/ipamwatch:latest"
		}, "pinned", 0},
		{"missing label", func(o []object) {
			delete(find[*corev1.ServiceAccount](o, "ServiceAccount").Labels, partOfLabel)
		}, "labels", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, renderCases[c.set])
			if p := policy(objs, renderCases[c.set].exp); len(p) != 0 {
				t.Fatalf("%s already fails: %v", renderCases[c.set].name, p)
			}
			c.mutate(objs)
			p := policy(objs, renderCases[c.set].exp)
			if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("want a problem containing %q, got %q", c.want, p)
			}
		})
	}
}

func TestStrictDecodingRejects(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"unknown pod field": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostNetwrok: true\n",
		"misplaced field":   "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nclusterIP: None\n",
		"duplicate key":     "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nmetadata: {name: y}\n",
		"monitor typo":      "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  endpoints:\n    - port: metrics\n      relabelling: []\n",
		"rule typo":         "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: A\n          expr: up == 0\n          anotations: {}\n",
		"unreviewed kind":   "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: x}\n",
		"no kind":           "metadata: {name: x}\n",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := decodeAll([]byte(doc)); err == nil {
				t.Errorf("decoded without error:\n%s", doc)
			}
		})
	}
}

func daemonSet(t *testing.T, objs []object) *appsv1.DaemonSet {
	t.Helper()
	ds := find[*appsv1.DaemonSet](objs, "DaemonSet")
	if ds == nil {
		t.Fatal("no DaemonSet rendered")
	}
	return ds
}

// kustomize and Helm deploy the same agent: same arguments, same sizing, same image version.
func TestKustomizeAndHelmAgree(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	kc := daemonSet(t, baseObjects(t)).Spec.Template.Spec.Containers[0]
	hc := daemonSet(t, render(t, renderCases[7])).Spec.Template.Spec.Containers[0]

	if diff := cmp.Diff(kc.Args, hc.Args); diff != "" {
		t.Errorf("agent arguments differ (-kustomize +helm):\n%s", diff)
	}
	if diff := cmp.Diff(quantities(kc.Resources.Requests), quantities(hc.Resources.Requests)); diff != "" {
		t.Errorf("requests differ (-kustomize +helm):\n%s", diff)
	}
	if diff := cmp.Diff(quantities(kc.Resources.Limits), quantities(hc.Resources.Limits)); diff != "" {
		t.Errorf("limits differ (-kustomize +helm):\n%s", diff)
	}
	if diff := cmp.Diff(kc.SecurityContext, hc.SecurityContext); diff != "" {
		t.Errorf("securityContext differs (-kustomize +helm):\n%s", diff)
	}
	kp, hp := daemonSet(t, baseObjects(t)).Spec.Template.Spec, daemonSet(t, render(t, renderCases[7])).Spec.Template.Spec
	if diff := cmp.Diff(kp.Affinity, hp.Affinity); diff != "" {
		t.Errorf("affinity differs (-kustomize +helm):\n%s", diff)
	}
	if diff := cmp.Diff(kp.SecurityContext, hp.SecurityContext); diff != "" {
		t.Errorf("pod securityContext differs (-kustomize +helm):\n%s", diff)
	}

	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	b, err := os.ReadFile(filepath.Join(root, "charts", "ipamwatch", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	want := "ghcr.io/ipamwatch/ipamwatch:" + chart.AppVersion
	if kc.Image != want || hc.Image != want {
		t.Errorf("images kustomize %q, helm %q, want %q (Chart appVersion)", kc.Image, hc.Image, want)
	}
	// The subnets Deployment runs the full binary, from its own repository (the agent image
	// is an agent-only build; a kustomize `images:` override of the agent must not turn the
	// subnets Deployment into it).
	wantFull := "ghcr.io/ipamwatch/ipamwatch-full:" + chart.AppVersion
	subnetsValues := filepath.Join(t.TempDir(), "subnets.yaml")
	if err := os.WriteFile(subnetsValues, []byte("subnets:\n  enabled: true\n  clusterName: demo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var full struct {
		Subnets struct {
			Image struct{ Digest string } `json:"image"`
		} `json:"subnets"`
	}
	b, err = os.ReadFile(filepath.Join(root, "charts", "ipamwatch", "ci", "full-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &full); err != nil || full.Subnets.Image.Digest == "" {
		t.Fatalf("ci/full-values.yaml should pin subnets.image.digest (%v)", err)
	}
	for _, c := range []struct {
		name string
		objs []object
		want string
	}{
		{"kustomize all", render(t, renderCase{name: "all", kustomize: "manifests/overlays/all"}), wantFull},
		{"helm subnets.enabled", helmObjects(t, helmTemplate(t, filepath.Join(root, "charts", "ipamwatch"), subnetsValues)), wantFull},
		// ci/full-values.yaml sets global.imageRegistry, which covers both images.
		{"helm full values", render(t, renderCase{name: "full", helm: []string{"charts/ipamwatch/ci/full-values.yaml"}}), "registry.example.com/ipamwatch/ipamwatch-full@" + full.Subnets.Image.Digest},
	} {
		d := find[*appsv1.Deployment](c.objs, "Deployment")
		if d == nil {
			t.Errorf("%s: no subnets Deployment rendered", c.name)
			continue
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != c.want {
			t.Errorf("%s: subnets Deployment image %q, want %q", c.name, got, c.want)
		}
	}
}

func helmObjects(t *testing.T, out []byte) []object {
	t.Helper()
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	return objs
}

func yamlToJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// The sidecar overlay, merged into an aws-node DaemonSet the way the API server merges it,
// adds one compliant container and one volume and leaves aws-node's own containers alone;
// the unpatch file restores the original.
func TestSidecarOverlayPatchesAwsNode(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	objs, err := decodeAll(kustomizeBuild(t, filepath.Join(root, "manifests", "overlays", "sidecar")))
	if err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	var partial []byte
	var rest []object
	for _, o := range objs {
		if o.Kind == "DaemonSet" {
			if o.Name != "aws-node" || o.Namespace != "kube-system" {
				t.Fatalf("sidecar overlay renders DaemonSet %s, want kube-system/aws-node", o)
			}
			partial = o.JSON
			continue
		}
		rest = append(rest, o)
	}
	if partial == nil {
		t.Fatal("sidecar overlay renders no aws-node DaemonSet")
	}

	// RBAC and Service of the overlay: same rules as the agent, bound to aws-node's account.
	kinds := map[string]int{}
	for _, o := range rest {
		kinds[o.Kind]++
		if o.Meta.Labels[nameLabel] != "ipamwatch" {
			t.Errorf("%s: missing %s label", o, nameLabel)
		}
		switch v := o.Obj.(type) {
		case *rbacv1.ClusterRole:
			allowed, required := agentRules()
			for _, p := range checkRules(o.String(), v.Rules, allowed, required) {
				t.Error(p)
			}
		case *rbacv1.ClusterRoleBinding:
			want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "aws-node", Namespace: "kube-system"}}
			if diff := cmp.Diff(want, v.Subjects); diff != "" {
				t.Errorf("%s subjects (-want +got):\n%s", o, diff)
			}
		case *corev1.Service:
			if v.Namespace != "kube-system" || v.Spec.Selector["k8s-app"] != "aws-node" || v.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("%s must be a headless kube-system Service selecting k8s-app=aws-node", o)
			}
		}
	}
	if diff := cmp.Diff(map[string]int{"ClusterRole": 1, "ClusterRoleBinding": 1, "Service": 1}, kinds); diff != "" {
		t.Errorf("sidecar kinds (-want +got):\n%s", diff)
	}

	fixture, err := os.ReadFile(filepath.Join("testdata", "aws-node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	orig := yamlToJSON(t, fixture)
	merged, err := strategicpatch.StrategicMergePatch(orig, partial, appsv1.DaemonSet{})
	if err != nil {
		t.Fatalf("strategic merge: %v", err)
	}
	var before, after appsv1.DaemonSet
	if err := json.Unmarshal(orig, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(merged, &after); err != nil {
		t.Fatal(err)
	}
	pod := &after.Spec.Template.Spec
	for _, p := range checkAgentPod("patched aws-node", pod, expect{}) {
		t.Error(p)
	}
	names := func(cs []corev1.Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	got := names(pod.Containers)
	slices.Sort(got)
	if diff := cmp.Diff([]string{"aws-eks-nodeagent", "aws-node", "ipamwatch"}, got); diff != "" {
		t.Fatalf("containers after the patch (-want +got):\n%s", diff)
	}
	var sidecar corev1.Container
	var own []corev1.Container
	for _, c := range pod.Containers {
		if c.Name == "ipamwatch" {
			sidecar = c
		} else {
			own = append(own, c)
		}
	}
	if diff := cmp.Diff(before.Spec.Template.Spec.Containers, own); diff != "" {
		t.Errorf("aws-node's own containers changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(before.Spec.Template.Spec.InitContainers, pod.InitContainers); diff != "" {
		t.Errorf("init containers changed:\n%s", diff)
	}
	if len(pod.Volumes) != len(before.Spec.Template.Spec.Volumes)+1 {
		t.Errorf("want exactly one added volume, got %d -> %d", len(before.Spec.Template.Spec.Volumes), len(pod.Volumes))
	}
	kc := daemonSet(t, baseObjects(t)).Spec.Template.Spec.Containers[0]
	if diff := cmp.Diff(kc.Args, sidecar.Args); diff != "" {
		t.Errorf("sidecar arguments differ from the DaemonSet's (-daemonset +sidecar):\n%s", diff)
	}
	if diff := cmp.Diff(quantities(kc.Resources.Limits), quantities(sidecar.Resources.Limits)); diff != "" {
		t.Errorf("sidecar limits differ (-daemonset +sidecar):\n%s", diff)
	}

	unpatch, err := os.ReadFile(filepath.Join("overlays", "sidecar", "aws-node-unpatch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	restored, err := strategicpatch.StrategicMergePatch(merged, yamlToJSON(t, unpatch), appsv1.DaemonSet{})
	if err != nil {
		t.Fatalf("strategic merge of the unpatch: %v", err)
	}
	var back appsv1.DaemonSet
	if err := json.Unmarshal(restored, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, back); diff != "" {
		t.Errorf("unpatch does not restore aws-node (-original +restored):\n%s", diff)
	}
}

// copyTree copies a directory tree (the chart) so a test can add files to it.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Dashboards become one ConfigMap each, labelled for the Grafana sidecar, content unchanged.
func TestHelmDashboardConfigMaps(t *testing.T) {
	t.Parallel()
	chart := filepath.Join(t.TempDir(), "ipamwatch")
	copyTree(t, filepath.Join(repoRoot(t), "charts", "ipamwatch"), chart)
	dash := `{"uid": "ipamwatch-test", "title": "Test", "panels": []}`
	if err := os.WriteFile(filepath.Join(chart, "dashboards", "IPAM_Node.json"), []byte(dash), 0o644); err != nil {
		t.Fatal(err)
	}
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("dashboards:\n  enabled: true\n  namespace: monitoring\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(helmTemplate(t, chart, values))
	if err != nil {
		t.Fatal(err)
	}
	var cms []*corev1.ConfigMap
	for _, o := range objs {
		if cm, ok := o.Obj.(*corev1.ConfigMap); ok {
			cms = append(cms, cm)
		}
	}
	if len(cms) != chartDashboards(t)+1 {
		t.Fatalf("%d dashboard ConfigMaps, want %d", len(cms), chartDashboards(t)+1)
	}
	var got *corev1.ConfigMap
	for _, cm := range cms {
		if _, ok := cm.Data["IPAM_Node.json"]; ok {
			got = cm
		}
	}
	if got == nil {
		t.Fatal("no ConfigMap carries IPAM_Node.json")
	}
	if got.Name != "ipamwatch-dashboard-ipam-node" || got.Namespace != "monitoring" || got.Labels["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap %s/%s labels %v", got.Namespace, got.Name, got.Labels)
	}
	if got.Data["IPAM_Node.json"] != dash {
		t.Errorf("dashboard content changed:\n%s", got.Data["IPAM_Node.json"])
	}
}

// Values that cannot work are refused at render time with a message, not deployed: the schema
// rejects unknown keys at every level the chart reads, and the templates say what replaced a
// removed value.
func TestHelmRejectsBadValues(t *testing.T) {
	t.Parallel()
	chart := filepath.Join(repoRoot(t), "charts", "ipamwatch")
	cases := map[string]struct{ values, want string }{
		"unknown key":              {"agent: {intervall: {ipamd: 1s}}", "additional properties"},
		"bad kubernetes mode":      {"agent: {kubernetes: maybe}", "agent/kubernetes"},
		"bad interval":             {"agent: {intervals: {ipamd: soon}}", "agent/intervals/ipamd"},
		"subnets without cluster":  {"subnets: {enabled: true}", "subnets.clusterName"},
		"tls without secret":       {"web: {tls: {enabled: true}}", "web.tls.secretName"},
		"servicemonitor w/o svc":   {"serviceMonitor: {enabled: true}\nservice: {enabled: false}", "service.enabled"},
		"not a role arn":           {"subnets: {serviceAccount: {roleArn: admin}}", "roleArn"},
		"plaintext basic password": {"web: {basicAuthUsers: {prometheus: secret}}", "basicAuthUsers"},
		"monitor key typo":         {"serviceMonitor: {jobLable: app}", "jobLable"},
		"relabeling field typo":    {"serviceMonitor: {relabelings: [{sourceLabel: [a], targetLabel: b}]}", "sourceLabel"},
		"relabeling action":        {"podMonitor: {metricRelabelings: [{action: rename}]}", "action"},
		"affinity typo":            {"affinity: {nodeAfinity: {}}", "nodeAfinity"},
		"pod security typo":        {"podSecurityContext: {runAsUsr: 0}", "runAsUsr"},
		"mount without path":       {"extraVolumeMounts: [{name: ca}]", "mountPath"},
		"volume without name":      {"extraVolumes: [{configMap: {name: ca}}]", "name"},
		"namespace not a name":     {"namespaceOverride: Ipam_Watch", "namespaceOverride"},
		"release not a label":      {"releaseLabel: kube prometheus", "releaseLabel"},
		"removed excludeCompute":   {"excludeComputeTypes: [fargate, hybrid, auto]", "the value `affinity` now"},
		"renamed monitor labels":   {"serviceMonitor: {labels: {release: kps}}", "serviceMonitor.labels was renamed serviceMonitor.additionalLabels"},
		"renamed rule labels":      {"prometheusRule: {labels: {release: kps}}", "prometheusRule.additionalLabels"},
		"registry in repository":   {"image: {repository: registry.example.com/ipamwatch}", "put the host in image.registry"},
		"subnets registry in repo": {"subnets: {enabled: true, clusterName: c, image: {repository: 10.0.0.1:5000/ipamwatch-full}}", "subnets.image.registry"},
		"agent as non-root":        {"podSecurityContext: {runAsNonRoot: true}", "UID 0"},
		"job from discovery":       {"serviceMonitor: {enabled: true, relabelings: [{sourceLabels: [__meta_kubernetes_pod_node_name], targetLabel: job}]}", "static replacement"},
		"job from a regex":         {"podMonitor: {enabled: true, relabelings: [{targetLabel: job, regex: x, replacement: agents}]}", "static replacement"},
		"metric relabeling job":    {"serviceMonitor: {enabled: true, metricRelabelings: [{targetLabel: job, replacement: x}]}", "must not write `job`"},
		"two release labels":       {"releaseLabel: kps\nserviceMonitor: {enabled: true, additionalLabels: {release: other}}", "set the release label in one place"},
		"monitors disagree on job": {"serviceMonitor: {enabled: true}\npodMonitor: {enabled: true, jobLabel: app.kubernetes.io/instance}", "the alert rules select one job"},
		"networkpolicy bad peer":   {"networkPolicy: {from: [{pods: x}]}", "networkPolicy/from/0"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := helmTemplateErr(t, chart, "x", "ipamwatch", valuesFile(t, c.values))
			if err == nil {
				t.Fatalf("helm template with %q succeeded", c.values)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not mention %q:\n%v", c.want, err)
			}
		})
	}
}

// The NetworkPolicy checks can fail: a rule without sources, or one on another port, or one
// that selects no agent pod, is reported.
func TestPolicyRejectsOpenNetworkPolicy(t *testing.T) {
	t.Parallel()
	c := renderCases[len(renderCases)-1]
	if c.kustomize != "manifests/overlays/networkpolicy" {
		t.Fatalf("the last render case is %s, want the networkpolicy overlay", c.name)
	}
	for name, mutate := range map[string]func(*networkingv1.NetworkPolicy){
		"no sources":     func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].From = nil },
		"another port":   func(np *networkingv1.NetworkPolicy) { p := intstr.FromInt32(22); np.Spec.Ingress[0].Ports[0].Port = &p },
		"selects no pod": func(np *networkingv1.NetworkPolicy) { np.Spec.PodSelector.MatchLabels = map[string]string{"x": "y"} },
	} {
		objs := render(t, c)
		np := find[*networkingv1.NetworkPolicy](objs, "NetworkPolicy")
		if np == nil {
			t.Fatal("no NetworkPolicy rendered")
		}
		mutate(np)
		if len(policy(objs, c.exp)) == 0 {
			t.Errorf("%s: the policy check found nothing", name)
		}
	}
}
