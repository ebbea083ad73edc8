package manifests_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// expect is what one rendered set must contain beyond the rules every set obeys.
type expect struct {
	// kinds is the exact number of objects of each kind.
	kinds map[string]int
	// events: the agent runs with --events=true and may create/patch events.
	events bool
	// tls: the agent serves HTTPS (probes and scrapes use https).
	tls bool
	// basicAuth: the web config has users, so probes are TCP checks.
	basicAuth bool
	// namespace of the agent's objects ("" = ipamwatch); monitors may live elsewhere.
	namespace string
	// release: the `release` label kube-prometheus-stack selects, on every ServiceMonitor,
	// PodMonitor and PrometheusRule ("" = on none).
	release string
}

func (e expect) ns() string {
	if e.namespace == "" {
		return "ipamwatch"
	}
	return e.namespace
}

// agentJob is the `job` label every render must give the agents' targets: the alert rules'
// default job (alerts.DefaultParams), whatever the release name and namespace.
const agentJob = "ipamwatch"

// monitoringKinds are selected by kube-prometheus-stack through the `release` label.
var monitoringKinds = map[string]bool{"ServiceMonitor": true, "PodMonitor": true, "PrometheusRule": true}

const (
	nameLabel      = "app.kubernetes.io/name"
	partOfLabel    = "app.kubernetes.io/part-of"
	componentLabel = "app.kubernetes.io/component"
	cniLogDir      = "/var/log/aws-routed-eni"
	agentPort      = 9713
)

// agentFlags are the flags of `ipamwatch run` (cmd/ipamwatch/run.go): true = the manifests must
// set it, false = allowed (extraArgs). An unknown flag would stop the agent at start-up.
var agentFlags = map[string]bool{
	"web.listen-address": true, "web.config.file": false, "node-name": true,
	"ipamd.address": true, "cni.metrics-url": true, "log.ipamd": true, "log.plugin": true,
	"kubernetes": true, "events": true, "interval.ipamd": true, "interval.cni": true,
	"interval.imds": true, "interval.kubernetes": true, "log.level": true, "log.format": true,
	"imds.endpoint": false, "imds.disable": false, "subnets.metrics-url": false,
	"interval.subnets": false, "log.backfill-bytes": false,
	"kubernetes.api-server": false, "kubernetes.ca-file": false, "kubernetes.token-file": false,
}

// subnetsFlags are the flags of `ipamwatch subnets` (cmd/ipamwatch/subnets.go).
var subnetsFlags = map[string]bool{
	"web.listen-address": true, "cluster-name": true, "leader-elect": true,
	"web.config.file": false, "subnet-ids": false, "vpc-id": false, "region": false,
	"ec2-endpoint": false, "ec2-max-attempts": false, "poll-interval": false,
	"recommendations": false, "leader-elect-namespace": false, "leader-elect-lease-name": false,
	"kube-nodes": false, "log.level": false, "log.format": false,
}

// ruleGrant is one (apiGroup, resource, verb) permission.
type ruleGrant struct{ group, resource, verb string }

func grants(rules []rbacv1.PolicyRule) ([]ruleGrant, []string) {
	var out []ruleGrant
	var problems []string
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			problems = append(problems, fmt.Sprintf("rule grants non-resource URLs %v", r.NonResourceURLs))
		}
		if len(r.ResourceNames) > 0 {
			problems = append(problems, fmt.Sprintf("unexpected resourceNames %v", r.ResourceNames))
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, ruleGrant{g, res, v})
				}
			}
		}
	}
	return out, problems
}

// checkRules reports grants outside allowed and required grants that are missing.
func checkRules(where string, rules []rbacv1.PolicyRule, allowed, required []ruleGrant) []string {
	got, problems := grants(rules)
	for i := range problems {
		problems[i] = where + ": " + problems[i]
	}
	for _, g := range got {
		if !slices.Contains(allowed, g) {
			problems = append(problems, fmt.Sprintf("%s: grants %s %q on %q, wider than the agent needs", where, g.verb, g.resource, g.group))
		}
	}
	for _, g := range required {
		if !slices.Contains(got, g) {
			problems = append(problems, fmt.Sprintf("%s: missing %s %q on %q", where, g.verb, g.resource, g.group))
		}
	}
	return problems
}

// agentRules is the agent's ClusterRole: get its Node, list its pods (collectors/kube). It
// polls, so no watch; Events are not granted at cluster scope (eventsRules).
func agentRules() (allowed, required []ruleGrant) {
	required = []ruleGrant{{"", "nodes", "get"}, {"", "pods", "list"}}
	return required, required
}

// eventsRules is the Role in eventsNamespace that lets the agent create Events about its
// Node (collectors/kube.CreateNodeEvent): create only, as it never updates or patches one.
var eventsRules = []ruleGrant{{"", "events", "create"}}

// eventsNamespace is the one namespace where the API server takes an Event about a Node.
const eventsNamespace = "default"

// The subnets view: a Lease for leader election, and the cluster's Nodes (--kube-nodes).
var (
	leaseRules        = []ruleGrant{{"coordination.k8s.io", "leases", "get"}, {"coordination.k8s.io", "leases", "create"}, {"coordination.k8s.io", "leases", "update"}}
	subnetsNodesRules = []ruleGrant{{"", "nodes", "list"}}
)

// parseArgs splits "--name=value" arguments after the subcommand; it reports malformed,
// unknown, duplicate and missing flags.
func parseArgs(where string, args []string, sub string, known map[string]bool) (map[string]string, []string) {
	var problems []string
	if len(args) == 0 || args[0] != sub {
		return nil, []string{fmt.Sprintf("%s: args must start with the %q subcommand, got %q", where, sub, args)}
	}
	flags := map[string]string{}
	for _, a := range args[1:] {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			problems = append(problems, fmt.Sprintf("%s: argument %q is not --name=value", where, a))
			continue
		}
		if _, k := known[name]; !k {
			problems = append(problems, fmt.Sprintf("%s: unknown flag --%s", where, name))
		}
		if _, dup := flags[name]; dup {
			problems = append(problems, fmt.Sprintf("%s: flag --%s given twice", where, name))
		}
		flags[name] = value
	}
	for name, req := range known {
		if _, ok := flags[name]; req && !ok {
			problems = append(problems, fmt.Sprintf("%s: missing flag --%s", where, name))
		}
	}
	return flags, problems
}

func hasPort(c corev1.Container, p string) bool {
	for _, cp := range c.Ports {
		if cp.Name == p || fmt.Sprint(cp.ContainerPort) == p {
			return true
		}
	}
	return false
}

// checkProbe checks one probe: an HTTP GET of path on a declared port, or a TCP check when
// the endpoints need credentials kubelet cannot send.
func checkProbe(where string, p *corev1.Probe, path string, c corev1.Container, exp expect) []string {
	if p == nil {
		return []string{where + ": probe missing"}
	}
	var problems []string
	switch {
	case exp.basicAuth:
		if p.TCPSocket == nil || !hasPort(c, p.TCPSocket.Port.String()) {
			problems = append(problems, where+": with basic auth the probe must be a tcpSocket check on a declared port")
		}
	case p.HTTPGet == nil:
		problems = append(problems, where+": not an httpGet probe")
	default:
		if p.HTTPGet.Path != path {
			problems = append(problems, fmt.Sprintf("%s: path %q, want %q", where, p.HTTPGet.Path, path))
		}
		if !hasPort(c, p.HTTPGet.Port.String()) {
			problems = append(problems, fmt.Sprintf("%s: port %q is not a port of the container", where, p.HTTPGet.Port.String()))
		}
		want := corev1.URISchemeHTTP
		if exp.tls {
			want = corev1.URISchemeHTTPS
		}
		if p.HTTPGet.Scheme != want {
			problems = append(problems, fmt.Sprintf("%s: scheme %q, want %q", where, p.HTTPGet.Scheme, want))
		}
	}
	if p.PeriodSeconds == 0 || p.TimeoutSeconds == 0 || p.FailureThreshold == 0 {
		problems = append(problems, where+": period, timeout and failure threshold must be explicit")
	}
	return problems
}

// checkContainer holds one ipamwatch container to the security and sizing policy.
func checkContainer(where string, c corev1.Container, pod *corev1.PodSpec, exp expect) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, where+": "+fmt.Sprintf(format, a...)) }

	sc := c.SecurityContext
	if sc == nil {
		bad("no securityContext")
		sc = &corev1.SecurityContext{}
	}
	if sc.Privileged != nil && *sc.Privileged {
		bad("privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		bad("allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		bad("readOnlyRootFilesystem must be true")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		bad("capabilities must drop ALL")
	}
	if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
		bad("adds capabilities %v", sc.Capabilities.Add)
	}
	if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
		bad("non-default procMount")
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && pod.SecurityContext != nil {
		seccomp = pod.SecurityContext.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("seccomp profile must be RuntimeDefault")
	}

	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := req[r]; !ok || q.IsZero() {
			bad("no %s request", r)
		}
	}
	if q, ok := lim[corev1.ResourceMemory]; !ok || q.IsZero() {
		bad("no memory limit")
	} else if rq := req[corev1.ResourceMemory]; rq.Cmp(q) > 0 {
		bad("memory request %s above limit %s", rq.String(), q.String())
	}

	problems = append(problems, checkProbe(where+" livenessProbe", c.LivenessProbe, "/healthz", c, exp)...)
	problems = append(problems, checkProbe(where+" readinessProbe", c.ReadinessProbe, "/readyz", c, exp)...)

	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			bad("volume %q mounted read-write at %s", m.Name, m.MountPath)
		}
	}
	if c.Image == "" || strings.HasSuffix(c.Image, ":latest") || (!strings.Contains(c.Image, "@sha256:") && !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")) {
		bad("image %q must be pinned to a tag or digest (not latest)", c.Image)
	}
	return problems
}

// checkPodSpec checks the pod-level policy shared by every workload.
func checkPodSpec(where string, pod *corev1.PodSpec) []string {
	var problems []string
	if pod.HostPID || pod.HostIPC {
		problems = append(problems, where+": hostPID/hostIPC")
	}
	if len(pod.InitContainers) > 0 || len(pod.EphemeralContainers) > 0 {
		problems = append(problems, where+": unexpected init or ephemeral containers")
	}
	for _, v := range pod.Volumes {
		switch {
		case v.HostPath != nil:
			if v.HostPath.Path != cniLogDir {
				problems = append(problems, fmt.Sprintf("%s: hostPath %q (only %s is allowed)", where, v.HostPath.Path, cniLogDir))
			}
		case v.Secret != nil, v.ConfigMap != nil:
		default:
			problems = append(problems, fmt.Sprintf("%s: volume %q of an unexpected type", where, v.Name))
		}
	}
	return problems
}

// mountedFrom returns the hostPath behind the read-only mount that holds file, if any.
func mountedFrom(c corev1.Container, pod *corev1.PodSpec, file string) (string, bool) {
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly || !strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.HostPath != nil {
				return v.HostPath.Path, true
			}
		}
	}
	return "", false
}

// checkAgentPod checks the node agent's container and the host-facing pod settings it needs.
func checkAgentPod(where string, pod *corev1.PodSpec, exp expect) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, where+": "+fmt.Sprintf(format, a...)) }
	var agent *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == "ipamwatch" {
			agent = &pod.Containers[i]
		}
	}
	if agent == nil {
		return []string{where + ": no container named ipamwatch"}
	}
	if !pod.HostNetwork {
		bad("hostNetwork must be true (ipamd listens on the node's loopback)")
	}
	problems = append(problems, checkContainer(where+" container ipamwatch", *agent, pod, exp)...)
	if sc := agent.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		bad("the agent must run as UID 0 to read the root-owned 0600 ipamd.log")
	}

	flags, fp := parseArgs(where, agent.Args, "run", agentFlags)
	problems = append(problems, fp...)
	if flags != nil {
		if flags["node-name"] != "$(NODE_NAME)" {
			bad("--node-name=%q, want $(NODE_NAME)", flags["node-name"])
		}
		if want := fmt.Sprint(exp.events); flags["events"] != want {
			bad("--events=%s, want %s", flags["events"], want)
		}
		if want := fmt.Sprintf(":%d", agentPort); flags["web.listen-address"] != want {
			bad("--web.listen-address=%s, want %s", flags["web.listen-address"], want)
		}
		if _, ok := flags["web.config.file"]; ok != (exp.tls || exp.basicAuth) {
			bad("--web.config.file present=%v, want %v", ok, exp.tls || exp.basicAuth)
		}
		for _, f := range []string{"log.ipamd", "log.plugin"} {
			if from, ok := mountedFrom(*agent, pod, flags[f]); !ok || from != cniLogDir {
				bad("--%s=%s is not under a read-only mount of %s", f, flags[f], cniLogDir)
			}
		}
	}
	nodeName := false
	for _, e := range agent.Env {
		if e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName" {
			nodeName = true
		}
	}
	if !nodeName {
		bad("NODE_NAME must come from the downward API (spec.nodeName)")
	}
	if !slices.ContainsFunc(agent.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == agentPort }) {
		bad("no container port %d", agentPort)
	}
	seen := map[string]bool{}
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if p.Name != "" && seen[p.Name] {
				bad("port name %q used twice in the pod", p.Name)
			}
			seen[p.Name] = true
		}
	}
	return problems
}

// checkAgentDaemonSet adds the DaemonSet-only rules: scheduling and rollout.
func checkAgentDaemonSet(ds *appsv1.DaemonSet, exp expect) []string {
	where := "DaemonSet " + ds.Name
	pod := &ds.Spec.Template.Spec
	problems := checkPodSpec(where, pod)
	problems = append(problems, checkAgentPod(where, pod, exp)...)
	bad := func(format string, a ...any) { problems = append(problems, where+": "+fmt.Sprintf(format, a...)) }

	// Pod-wide settings the sidecar inherits from aws-node instead.
	if pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		bad("dnsPolicy %q, want ClusterFirstWithHostNet", pod.DNSPolicy)
	}
	if pod.PriorityClassName != "system-node-critical" {
		bad("priorityClassName %q, want system-node-critical", pod.PriorityClassName)
	}
	if !slices.ContainsFunc(pod.Tolerations, func(t corev1.Toleration) bool {
		return t.Operator == corev1.TolerationOpExists && t.Key == "" && t.Effect == ""
	}) {
		bad("must tolerate every taint (operator Exists), like aws-node")
	}
	// Every term (terms are ORed) must pin Linux and keep Fargate, hybrid and EKS Auto Mode
	// nodes out, as the aws-vpc-cni chart does (a user may let Auto Mode in; no rendered set here does).
	if a := pod.Affinity; a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		bad("no required node affinity")
	} else {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			linux, excluded := false, map[string]bool{}
			for _, e := range term.MatchExpressions {
				switch {
				case e.Key == "kubernetes.io/os" && e.Operator == corev1.NodeSelectorOpIn:
					linux = slices.Equal(e.Values, []string{"linux"})
				case e.Key == "eks.amazonaws.com/compute-type" && e.Operator == corev1.NodeSelectorOpNotIn:
					for _, v := range e.Values {
						excluded[v] = true
					}
				}
			}
			if !linux {
				bad("node affinity term lacks kubernetes.io/os In [linux]")
			}
			if !excluded["fargate"] || !excluded["hybrid"] {
				bad("node affinity term lacks eks.amazonaws.com/compute-type NotIn [fargate hybrid]")
			}
			if !excluded["auto"] {
				bad("node affinity term lets the agent onto EKS Auto Mode nodes (compute-type auto), which run no aws-node")
			}
		}
	}
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "10%" {
		bad("updateStrategy must be RollingUpdate with maxUnavailable 10%%")
	}
	return problems
}

func checkSubnetsDeployment(d *appsv1.Deployment, exp expect) []string {
	where := "Deployment " + d.Name
	pod := &d.Spec.Template.Spec
	problems := checkPodSpec(where, pod)
	bad := func(format string, a ...any) { problems = append(problems, where+": "+fmt.Sprintf(format, a...)) }
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		bad("replicas must be 2 (leader election keeps one active)")
	}
	if pod.HostNetwork || len(pod.Volumes) > 0 {
		bad("the subnets view needs neither host network nor volumes")
	}
	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		bad("must run as non-root")
	}
	if len(pod.Containers) != 1 {
		return append(problems, where+": want exactly one container")
	}
	c := pod.Containers[0]
	problems = append(problems, checkContainer(where+" container "+c.Name, c, pod, expect{})...)
	flags, fp := parseArgs(where, c.Args, "subnets", subnetsFlags)
	problems = append(problems, fp...)
	if flags != nil {
		if flags["cluster-name"] == "" {
			bad("--cluster-name is empty")
		}
		if flags["leader-elect"] != "true" {
			bad("--leader-elect=%s, want true", flags["leader-elect"])
		}
	}
	return problems
}

// policy checks one rendered set of objects and returns every problem found.
func policy(objs []object, exp expect) []string {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	counts := map[string]int{}
	byKind := map[string][]object{}
	for _, o := range objs {
		counts[o.Kind]++
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for k := range mergeKeys(counts, exp.kinds) {
		if counts[k] != exp.kinds[k] {
			bad("%d objects of kind %s, want %d", counts[k], k, exp.kinds[k])
		}
	}

	clusterScoped := map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}
	// Monitors and dashboards may go where the monitoring stack looks; everything else stays
	// with the agent.
	elsewhere := map[string]bool{"ServiceMonitor": true, "PodMonitor": true, "ConfigMap": true}
	for _, o := range objs {
		l := o.Meta.Labels
		if l[nameLabel] != "ipamwatch" || l[partOfLabel] != "ipamwatch" {
			bad("%s: labels %s=ipamwatch and %s=ipamwatch are required", o, nameLabel, partOfLabel)
		}
		if !clusterScoped[o.Kind] && o.Namespace == "" {
			bad("%s: no namespace", o)
		}
		if clusterScoped[o.Kind] && o.Namespace != "" {
			bad("%s: cluster-scoped object with a namespace", o)
		}
		// The events Role and its binding live in "default" (checked with the Roles below).
		events := (o.Kind == "Role" || o.Kind == "RoleBinding") && o.Meta.Labels[componentLabel] != "subnets"
		if !clusterScoped[o.Kind] && !elsewhere[o.Kind] && !events && o.Meta.Namespace != exp.ns() {
			bad("%s: namespace %q, want %q", o, o.Meta.Namespace, exp.ns())
		}
		if o.Kind == "Namespace" && o.Name != exp.ns() {
			bad("%s: want Namespace %q", o, exp.ns())
		}
		rel, ok := l["release"]
		switch {
		case monitoringKinds[o.Kind] && rel != exp.release:
			bad("%s: label release=%q, want %q (kube-prometheus-stack selects by it)", o, rel, exp.release)
		case !monitoringKinds[o.Kind] && ok:
			bad("%s: label release=%q belongs on monitors and rules only (it names the Prometheus' release)", o, rel)
		}
	}

	// Pod templates, by the labels Services and monitors select.
	type podTemplate struct {
		where  string
		labels map[string]string
		spec   *corev1.PodSpec
	}
	var pods []podTemplate
	serviceAccounts := map[string]*corev1.ServiceAccount{}
	for _, o := range byKind["ServiceAccount"] {
		serviceAccounts[o.Namespace+"/"+o.Name] = o.Obj.(*corev1.ServiceAccount)
	}
	checkSelector := func(where string, sel map[string]string, tmpl map[string]string) {
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(tmpl)) {
			bad("%s: selector %v does not match the pod template labels %v", where, sel, tmpl)
		}
		if sel[nameLabel] != "ipamwatch" || sel[componentLabel] == "" {
			bad("%s: selector must pin %s and %s", where, nameLabel, componentLabel)
		}
	}
	checkSA := func(where, ns, name string) {
		if serviceAccounts[ns+"/"+name] == nil {
			bad("%s: ServiceAccount %s/%s is not part of the set", where, ns, name)
		}
	}
	for _, o := range byKind["DaemonSet"] {
		ds := o.Obj.(*appsv1.DaemonSet)
		problems = append(problems, checkAgentDaemonSet(ds, exp)...)
		checkSelector(o.String(), ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels)
		checkSA(o.String(), o.Namespace, ds.Spec.Template.Spec.ServiceAccountName)
		pods = append(pods, podTemplate{o.String(), ds.Spec.Template.Labels, &ds.Spec.Template.Spec})
	}
	for _, o := range byKind["Deployment"] {
		d := o.Obj.(*appsv1.Deployment)
		problems = append(problems, checkSubnetsDeployment(d, exp)...)
		checkSelector(o.String(), d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		checkSA(o.String(), o.Namespace, d.Spec.Template.Spec.ServiceAccountName)
		sa := serviceAccounts[o.Namespace+"/"+d.Spec.Template.Spec.ServiceAccountName]
		if sa != nil {
			if _, ok := sa.Annotations["eks.amazonaws.com/role-arn"]; !ok {
				bad("%s: its ServiceAccount needs the eks.amazonaws.com/role-arn annotation (IRSA)", o)
			}
		}
		pods = append(pods, podTemplate{o.String(), d.Spec.Template.Labels, &d.Spec.Template.Spec})
	}
	for _, o := range byKind["ServiceAccount"] {
		sa := o.Obj.(*corev1.ServiceAccount)
		if _, irsa := sa.Annotations["eks.amazonaws.com/role-arn"]; irsa && o.Meta.Labels[componentLabel] != "subnets" {
			bad("%s: only the subnets ServiceAccount may carry an IAM role", o)
		}
	}

	// RBAC: least privilege, and every binding ties a role of this set to a ServiceAccount of it.
	roles := map[string]bool{}
	for _, o := range byKind["ClusterRole"] {
		allowed, required := agentRules()
		if o.Meta.Labels[componentLabel] == "subnets" {
			allowed, required = subnetsNodesRules, subnetsNodesRules
		}
		problems = append(problems, checkRules(o.String(), o.Obj.(*rbacv1.ClusterRole).Rules, allowed, required)...)
		roles["ClusterRole/"+o.Name] = true
	}
	eventRoles := 0
	for _, o := range byKind["Role"] {
		rules := leaseRules
		if o.Meta.Labels[componentLabel] != "subnets" {
			rules = eventsRules
			eventRoles++
			if o.Namespace != eventsNamespace {
				bad("%s: the events Role must be in the namespace %q, the only one where the API server takes Events about a Node", o, eventsNamespace)
			}
		}
		problems = append(problems, checkRules(o.String(), o.Obj.(*rbacv1.Role).Rules, rules, rules)...)
		roles["Role/"+o.Namespace+"/"+o.Name] = true
	}
	if want := map[bool]int{true: 1, false: 0}[exp.events]; eventRoles != want {
		bad("%d Roles for events, want %d (--events=%v)", eventRoles, want, exp.events)
	}
	checkBinding := func(where string, ref rbacv1.RoleRef, roleKey string, subjects []rbacv1.Subject) {
		if ref.APIGroup != rbacv1.GroupName || !roles[roleKey] {
			bad("%s: roleRef %s %s is not a role of this set", where, ref.Kind, ref.Name)
		}
		if len(subjects) != 1 || subjects[0].Kind != rbacv1.ServiceAccountKind {
			bad("%s: must bind exactly one ServiceAccount", where)
			return
		}
		checkSA(where, subjects[0].Namespace, subjects[0].Name)
	}
	for _, o := range byKind["ClusterRoleBinding"] {
		b := o.Obj.(*rbacv1.ClusterRoleBinding)
		if b.RoleRef.Kind != "ClusterRole" {
			bad("%s: must reference a ClusterRole", o)
		}
		checkBinding(o.String(), b.RoleRef, "ClusterRole/"+b.RoleRef.Name, b.Subjects)
	}
	for _, o := range byKind["RoleBinding"] {
		b := o.Obj.(*rbacv1.RoleBinding)
		if b.RoleRef.Kind != "Role" {
			bad("%s: must reference a Role, not a ClusterRole", o)
		}
		checkBinding(o.String(), b.RoleRef, "Role/"+o.Namespace+"/"+b.RoleRef.Name, b.Subjects)
	}

	// Services select a pod template and name a port the pod declares; monitors select them.
	podFor := func(sel map[string]string) *podTemplate {
		for i := range pods {
			if len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(pods[i].labels)) {
				return &pods[i]
			}
		}
		return nil
	}
	podHasPort := func(p *podTemplate, port string) bool {
		return slices.ContainsFunc(p.spec.Containers, func(c corev1.Container) bool { return hasPort(c, port) })
	}
	var services []*corev1.Service
	for _, o := range byKind["Service"] {
		s := o.Obj.(*corev1.Service)
		services = append(services, s)
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			bad("%s: must be headless (clusterIP None): every pod is its own target", o)
		}
		p := podFor(s.Spec.Selector)
		if p == nil {
			bad("%s: selector %v matches no pod template of the set", o, s.Spec.Selector)
			continue
		}
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != "metrics" || !podHasPort(p, s.Spec.Ports[0].TargetPort.String()) {
			bad("%s: want one port named metrics targeting a port of %s", o, p.where)
		}
	}
	// The web config (TLS, basic auth) protects the node agent only.
	checkEndpoints := func(where string, eps []ScrapeEndpoint, portOK func(string) bool, agent bool) {
		if len(eps) == 0 {
			bad("%s: no endpoints", where)
		}
		for _, ep := range eps {
			if !portOK(ep.Port) {
				bad("%s: endpoint port %q not found on its target", where, ep.Port)
			}
			if ep.Path != "/metrics" {
				bad("%s: path %q, want /metrics", where, ep.Path)
			}
			if !agent {
				continue
			}
			if wantTLS := exp.tls; (ep.Scheme == "https") != wantTLS || (wantTLS && (ep.TLSConfig == nil || ep.TLSConfig.InsecureSkipVerify)) {
				bad("%s: scheme %q / tlsConfig do not match tls=%v (and never skip verification)", where, ep.Scheme, wantTLS)
			}
			if exp.basicAuth && ep.BasicAuth == nil {
				bad("%s: basic auth is on but the endpoint sends no credentials", where)
			}
		}
	}
	nodeRelabel := func(where string, eps []ScrapeEndpoint, agent bool) {
		if !agent {
			return
		}
		for _, ep := range eps {
			if !slices.ContainsFunc(ep.Relabelings, func(r RelabelConfig) bool {
				return slices.Equal(r.SourceLabels, []string{"__meta_kubernetes_pod_node_name"}) && r.TargetLabel == "node" && (r.Action == "" || r.Action == "replace")
			}) {
				bad("%s: must relabel __meta_kubernetes_pod_node_name to node", where)
			}
		}
	}
	// The agents' job must be the rules' job under any release name and namespace: the
	// monitor names a label the Service or pods carry (jobLabel), and nothing rewrites it.
	checkJob := func(o object) {
		var jobLabel string
		switch m := o.Obj.(type) {
		case *ServiceMonitor:
			jobLabel = m.Spec.JobLabel
		case *PodMonitor:
			jobLabel = m.Spec.JobLabel
		}
		if jobLabel != nameLabel {
			bad("%s: jobLabel %q, want %s (job independent of release and namespace)", o, jobLabel, nameLabel)
		}
		d, eps, err := agentDiscovery(objs, o)
		if err != nil {
			bad("%v", err)
			return
		}
		for _, ep := range eps {
			if job, err := operatorJob(d, ep.Relabelings); err != nil || job != agentJob {
				bad("%s: Prometheus Operator gives the targets job=%q (%v), want %q", o, job, err, agentJob)
			}
		}
	}
	for _, o := range byKind["ServiceMonitor"] {
		sm := o.Obj.(*ServiceMonitor)
		var svc *corev1.Service
		for _, s := range services {
			if sm.Spec.NamespaceSelector.selects(o.Namespace, s.Namespace) && labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(s.Labels)) {
				svc = s
			}
		}
		if svc == nil {
			bad("%s: selects no Service of the set", o)
			continue
		}
		agent := svc.Labels[componentLabel] != "subnets"
		checkEndpoints(o.String(), sm.Spec.Endpoints, func(p string) bool {
			return slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == p })
		}, agent)
		nodeRelabel(o.String(), sm.Spec.Endpoints, agent)
		if agent {
			checkJob(o)
		} else if sm.Spec.JobLabel != "" {
			bad("%s: the subnets view keeps the operator's default job (its Service name), apart from the agents'", o)
		}
	}
	for _, o := range byKind["PodMonitor"] {
		pm := o.Obj.(*PodMonitor)
		p := podFor(pm.Spec.Selector.MatchLabels)
		if p == nil || !pm.Spec.NamespaceSelector.selects(o.Namespace, exp.ns()) {
			bad("%s: selects no pod template of the set", o)
			continue
		}
		checkEndpoints(o.String(), pm.Spec.PodMetricsEndpoints, func(port string) bool { return podHasPort(p, port) }, true)
		nodeRelabel(o.String(), pm.Spec.PodMetricsEndpoints, true)
		checkJob(o)
	}

	// The NetworkPolicy isolates the agent pods and admits named sources to the agent's port
	// only: an ingress rule without sources would admit everyone.
	for _, o := range byKind["NetworkPolicy"] {
		np := o.Obj.(*networkingv1.NetworkPolicy)
		p := podFor(np.Spec.PodSelector.MatchLabels)
		if p == nil || !strings.Contains(p.where, "DaemonSet") {
			bad("%s: must select the agent's pods", o)
		}
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
			bad("%s: policyTypes %v, want [Ingress]", o, np.Spec.PolicyTypes)
		}
		if len(np.Spec.Ingress) != 1 {
			bad("%s: want exactly one ingress rule", o)
			continue
		}
		rule := np.Spec.Ingress[0]
		if len(rule.From) == 0 {
			bad("%s: an ingress rule without sources admits everyone", o)
		}
		if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.IntValue() != agentPort ||
			rule.Ports[0].Protocol == nil || *rule.Ports[0].Protocol != corev1.ProtocolTCP {
			bad("%s: want one port, TCP %d", o, agentPort)
		}
	}

	for _, o := range byKind["ConfigMap"] {
		cm := o.Obj.(*corev1.ConfigMap)
		if cm.Labels["grafana_dashboard"] != "1" {
			bad("%s: dashboards need the grafana_dashboard=\"1\" label", o)
		}
		for k, v := range cm.Data {
			if !strings.HasSuffix(k, ".json") || !json.Valid([]byte(v)) {
				bad("%s: key %q is not a valid JSON dashboard", o, k)
			}
		}
	}
	for _, o := range byKind["Secret"] {
		if len(pods) == 0 {
			bad("%s: a web config without the agent", o)
			continue
		}
		problems = append(problems, checkWebConfigSecret(o, pods[0].spec, exp)...)
	}
	return problems
}

// checkWebConfigSecret checks the exporter-toolkit web config: it parses, and the TLS files
// it names are mounted read-only in the agent.
func checkWebConfigSecret(o object, pod *corev1.PodSpec, exp expect) []string {
	s := o.Obj.(*corev1.Secret)
	raw, ok := s.StringData["web-config.yml"]
	if !ok {
		if b, ok2 := s.Data["web-config.yml"]; ok2 {
			raw, ok = string(b), true
		}
	}
	if !ok {
		return []string{o.String() + ": no web-config.yml key"}
	}
	var cfg struct {
		TLSServerConfig *struct {
			CertFile   string `json:"cert_file"`
			KeyFile    string `json:"key_file"`
			MinVersion string `json:"min_version"`
		} `json:"tls_server_config"`
		BasicAuthUsers map[string]string `json:"basic_auth_users"`
	}
	if err := yaml.UnmarshalStrict([]byte(raw), &cfg); err != nil {
		return []string{fmt.Sprintf("%s: web-config.yml: %v", o, err)}
	}
	var problems []string
	if (cfg.TLSServerConfig != nil) != exp.tls || (len(cfg.BasicAuthUsers) > 0) != exp.basicAuth {
		problems = append(problems, fmt.Sprintf("%s: web config tls=%v basicAuth=%v, want %v/%v", o, cfg.TLSServerConfig != nil, len(cfg.BasicAuthUsers) > 0, exp.tls, exp.basicAuth))
	}
	if cfg.TLSServerConfig != nil {
		for _, f := range []string{cfg.TLSServerConfig.CertFile, cfg.TLSServerConfig.KeyFile} {
			mounted := false
			for _, c := range pod.Containers {
				for _, m := range c.VolumeMounts {
					mounted = mounted || (m.ReadOnly && strings.HasPrefix(f, strings.TrimSuffix(m.MountPath, "/")+"/"))
				}
			}
			if !mounted {
				problems = append(problems, fmt.Sprintf("%s: %s is not on a read-only mount of the agent", o, f))
			}
		}
	}
	return problems
}

func mergeKeys(a, b map[string]int) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// quantities renders a ResourceList canonically for comparisons.
func quantities(l corev1.ResourceList) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		out[string(k)] = v.String()
	}
	return out
}
