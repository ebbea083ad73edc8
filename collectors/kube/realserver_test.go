package kube_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/collectors/kube"
	"github.com/ipamwatch/ipamwatch/internal/kubetest"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// The proof against a real kube-apiserver (v1.37.2, internal/kubetest): the chart's RBAC as
// rendered by helm, a ServiceAccount token from the TokenRequest API, and then what the agent
// does on a cluster. The previous client-go path (kube.LegacyFetch) runs against the same
// server with the same token, and both must read the same thing.

const (
	realNode  = "ip-10-0-1-10.eu-west-1.compute.internal"
	agentNS   = "ipamwatch"
	agentSA   = "ipamwatch"
	awsNodeNS = "kube-system"
)

func TestRealAPIServer(t *testing.T) {
	srv := kubetest.Start(t)
	ctx := context.Background()
	admin := srv.Client()

	// The chart's ServiceAccount, ClusterRole and binding, and the events Role and binding.
	srv.CreateNamespace(t, agentNS)
	rbac := chartRBAC(t)
	srv.Apply(t, rbac)
	seedCluster(t, admin)

	// A token bound to a Secret: deleting the Secret revokes it, which is how the test
	// proves that a rotated token is read again (TokenRequest tokens stay valid otherwise).
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	tokenA := boundToken(t, admin, "agent-token-a")
	writeToken(t, tokenFile, tokenA)

	api, err := kube.NewAPI(kube.Config{Host: srv.URL, CAFile: srv.CAFile, TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	client, err := kube.NewClient(api, kube.Options{NodeName: realNode})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reads its Node and its pods, as client-go did", func(t *testing.T) {
		got, err := client.Fetch(ctx)
		if err != nil {
			t.Fatalf("Fetch with the chart's RBAC: %v\n%s", err, srv.LogTail(20))
		}
		want := &nodestate.Kube{
			FromAPI: true, NodeName: realNode, Zone: "eu-west-1b", InstanceTypeLbl: "m5.large",
			CreationTime: got.CreationTime, AllocatablePods: 29, CapacityPods: 29, PodENICapacity: 9,
			ENIConfigName: "eu-west-1b", Pods: 3, HostNetworkPods: 1, PodENIRequests: 1, PendingSandboxPods: 1,
			AWSNodeEnv:   map[string]string{"ENI_CONFIG_LABEL_DEF": "topology.kubernetes.io/zone", "WARM_ENI_TARGET": "1"},
			AWSNodeImage: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.19.2-eksbuild.1",
		}
		if got.CreationTime.IsZero() {
			t.Error("node creation time not read")
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Fetch (-want +got):\n%s", diff)
		}
		// The previous path, client-go's typed clientset with the same ServiceAccount token.
		old, err := kube.LegacyFetch(ctx, legacyClient(t, srv, tokenA), realNode)
		if err != nil {
			t.Fatalf("client-go path with the chart's RBAC: %v", err)
		}
		if diff := cmp.Diff(old, got); diff != "" {
			t.Errorf("new client and client-go disagree (-client-go +new):\n%s", diff)
		}
	})

	t.Run("creates Events that kubectl describe node shows", func(t *testing.T) {
		ev := kube.NodeEvent{Node: realNode, Type: "Warning", Reason: "IPAllocationAtRisk", Message: "binding ceiling none -> subnet", Time: time.Now()}
		if err := api.CreateNodeEvent(ctx, ev); err != nil {
			t.Fatalf("CreateNodeEvent with the chart's Role: %v", err)
		}
		out, errOut, err := srv.Kubectl(t, "describe", "node", realNode)
		if err != nil {
			t.Fatalf("kubectl describe node: %v\n%s", err, errOut)
		}
		if !strings.Contains(out, "IPAllocationAtRisk") || !strings.Contains(out, "binding ceiling none -> subnet") {
			t.Errorf("kubectl describe node does not show the agent's Event:\n%s", out)
		}
	})

	t.Run("the chart grants nothing more", func(t *testing.T) {
		cs := legacyClient(t, srv, tokenA)
		// No watch: the agent polls.
		_, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + realNode})
		if !apierrors.IsForbidden(err) {
			t.Errorf("watch on pods: %v, want forbidden", err)
		}
		// Events only in default.
		ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: agentNS},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: agentNS, Name: "p"}, Reason: "R", Type: "Normal"}
		if _, err := cs.CoreV1().Events(agentNS).Create(ctx, ev, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("creating an Event in %s: %v, want forbidden", agentNS, err)
		}
		if _, err := cs.CoreV1().Events("default").Patch(ctx, "x", "application/merge-patch+json", []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("patching an Event in default: %v, want forbidden", err)
		}
		if _, err := cs.CoreV1().Secrets(agentNS).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("listing secrets: %v, want forbidden", err)
		}
	})

	t.Run("a token rotated mid-run keeps working", func(t *testing.T) {
		tokenB := boundToken(t, admin, "agent-token-b")
		writeToken(t, tokenFile, tokenB)
		if err := admin.CoreV1().Secrets(agentNS).Delete(ctx, "agent-token-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		testtools.WaitForNoError(t, eventuallyLimit, "the first token to be refused", func() error {
			code, _, err := srv.Get(ctx, "/api/v1/nodes/"+realNode, tokenA)
			if err != nil {
				return err
			}
			if code != http.StatusUnauthorized {
				return fmt.Errorf("GET with the revoked token: HTTP %d", code)
			}
			return nil
		})
		if _, err := client.Fetch(ctx); err != nil {
			t.Fatalf("Fetch after rotation: %v", err)
		}
		if err := api.CreateNodeEvent(ctx, kube.NodeEvent{Node: realNode, Type: "Normal", Reason: "IPCeilingChanged", Time: time.Now()}); err != nil {
			t.Fatalf("CreateNodeEvent after rotation: %v", err)
		}
	})

	t.Run("the agent: 403, API server stopped and slowed", func(t *testing.T) {
		testAgentAgainst(t, srv, tokenFile)
	})

	t.Run("without the bindings: errors name the missing RBAC rule", func(t *testing.T) {
		for _, b := range []struct{ kind, ns string }{{"clusterrolebinding", ""}, {"rolebinding", "default"}} {
			args := []string{"delete", b.kind, "ipamwatch-events"}
			if b.kind == "clusterrolebinding" {
				args[2] = "ipamwatch"
			}
			if b.ns != "" {
				args = append(args, "-n", b.ns)
			}
			if _, errOut, err := srv.Kubectl(t, args...); err != nil {
				t.Fatalf("kubectl %v: %v %s", args, err, errOut)
			}
		}
		testtools.WaitForNoError(t, eventuallyLimit, "the Node read to be forbidden", func() error {
			_, err := client.Fetch(ctx)
			if err == nil {
				return errors.New("Fetch still succeeds")
			}
			if !strings.Contains(err.Error(), `forbidden to get nodes`) {
				return fmt.Errorf("Fetch: %w", err)
			}
			if want := `the agent's ClusterRole needs verb "get" on resource "nodes"`; !strings.Contains(err.Error(), want) {
				t.Fatalf("403 error %q does not say %q", err, want)
			}
			return nil
		})
		if _, err := kube.LegacyFetch(ctx, legacyClient(t, srv, readToken(t, tokenFile)), realNode); !apierrors.IsForbidden(err) {
			t.Errorf("client-go path without the binding: %v, want forbidden too", err)
		}
		testtools.WaitForNoError(t, eventuallyLimit, "Events to be forbidden", func() error {
			err := api.CreateNodeEvent(ctx, kube.NodeEvent{Node: realNode, Type: "Normal", Reason: "IPCeilingChanged", Time: time.Now()})
			var apiErr *kube.APIError
			if err == nil {
				return errors.New("CreateNodeEvent still succeeds")
			}
			if !errors.As(err, &apiErr) || !apiErr.Forbidden() {
				return fmt.Errorf("CreateNodeEvent: %w", err)
			}
			if want := `a Role in namespace "default" bound to the agent's ServiceAccount needs verb "create" on resource "events"`; !strings.Contains(err.Error(), want) {
				t.Fatalf("403 error %q does not say %q", err, want)
			}
			return nil
		})
	})
}

// testAgentAgainst runs the real agent (HTTP server included) with only the Kubernetes source,
// through a proxy the test can stall or close, and checks what /metrics and /diagnosis say
// while RBAC and the API server fail under it.
func testAgentAgainst(t *testing.T, srv *kubetest.Server, tokenFile string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newProxy(t, strings.TrimPrefix(srv.URL, "https://"))
	listen := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	a, err := agent.New(agent.Config{
		ListenAddresses: []string{listen},
		NodeName:        realNode,
		DisableIMDS:     true,
		Kubernetes:      "on",
		KubeAPI:         &kube.Config{Host: "https://" + p.addr, CAFile: srv.CAFile, TokenFile: tokenFile, Timeout: 2 * time.Second},
		IntervalKube:    time.Second,
		SourceTimeout:   3 * time.Second,
		DiagnoseEvery:   200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent.Run: %v", err)
		}
	}()
	base := "http://" + listen
	testtools.WaitForNoError(t, eventuallyLimit, "the agent ready", func() error { _, err := get(base + "/readyz"); return err })
	// up scrapes once; from now on every scrape must answer, whatever the API server does.
	up := func() string {
		body, err := get(base + "/metrics")
		if err != nil {
			t.Fatalf("scrape: %v (the agent must keep serving)", err)
		}
		return sampleOf(body, `ipamwatch_source_up{source="kubernetes"}`)
	}
	waitUp := func(what, want string) {
		t.Helper()
		testtools.WaitForNoError(t, eventuallyLimit, what, func() error {
			if v := up(); v != want {
				return fmt.Errorf("ipamwatch_source_up{source=\"kubernetes\"} = %q, want %s", v, want)
			}
			return nil
		})
	}
	waitUp("the Kubernetes source up", "1")
	if body, _ := get(base + "/metrics"); sampleOf(body, `ipamwatch_pods{network="pod"}`) != "2" {
		t.Errorf("ipamwatch_pods{network=\"pod\"} = %q, want 2", sampleOf(body, `ipamwatch_pods{network="pod"}`))
	}

	// RBAC taken away: the source is down, /diagnosis says which rule, the agent serves on.
	if _, errOut, err := srv.Kubectl(t, "delete", "clusterrolebinding", "ipamwatch"); err != nil {
		t.Fatalf("kubectl delete clusterrolebinding: %v %s", err, errOut)
	}
	waitUp("the Kubernetes source down after the binding is removed", "0")
	diag := sourceError(t, base)
	if !strings.Contains(diag, `needs verb "get" on resource "nodes"`) {
		t.Errorf("/diagnosis kubernetes error %q does not name the missing rule", diag)
	}
	srv.Apply(t, chartRBAC(t))
	waitUp("the Kubernetes source back after the binding returns", "1")

	// The API server slowed to a stall, then gone: scrapes are not affected.
	for _, mode := range []string{"stall", "closed"} {
		p.set(t, mode)
		deadline := time.Now().Add(60 * time.Second)
		for n := 0; ; n++ {
			start := time.Now()
			v := up()
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("API server %s: a scrape took %s", mode, took)
			}
			if v == "0" {
				if !strings.Contains(sourceError(t, base), "kubernetes: get nodes") {
					t.Errorf("API server %s: /diagnosis error %q", mode, sourceError(t, base))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("API server %s: the source still reads up after %d scrapes", mode, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	p.set(t, "pass")
	waitUp("the Kubernetes source back with the API server", "1")
}

// chartRBAC renders the chart (Events on) and returns its ServiceAccount and RBAC objects.
func chartRBAC(t *testing.T) string {
	t.Helper()
	helm := testtools.Lookup(t, "helm")
	home := t.TempDir()
	cmd := exec.Command(helm, "template", "ipamwatch", filepath.Join("..", "..", "charts", "ipamwatch"),
		"--namespace", agentNS, "--kube-version", kubetest.KubeVersion, "--set", "agent.events=true")
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "c"), "HELM_CONFIG_HOME="+filepath.Join(home, "f"), "HELM_DATA_HOME="+filepath.Join(home, "d"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	keep := map[string]bool{"ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true}
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(string(out))))
	var docs []string
	kinds := map[string]int{}
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		if keep[meta.Kind] {
			docs = append(docs, string(doc))
			kinds[meta.Kind]++
		}
	}
	if diff := cmp.Diff(map[string]int{"ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1}, kinds); diff != "" {
		t.Fatalf("chart RBAC objects (-want +got):\n%s", diff)
	}
	return strings.Join(docs, "\n---\n")
}

// seedCluster creates the Node and pods of a small node: aws-node (host network), a running
// pod with a branch ENI, a pending one, a finished Job pod, and a pod on another node.
func seedCluster(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: realNode, Labels: map[string]string{
		"topology.kubernetes.io/zone": "eu-west-1b", "node.kubernetes.io/instance-type": "m5.large",
	}}}
	node, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Capacity = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("29"), kube.PodENIResource: resource.MustParse("9")}
	node.Status.Allocatable = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("29")}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eni := resource.MustParse("1")
	pods := []struct {
		pod    corev1.Pod
		status corev1.PodStatus
	}{
		{corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "aws-node-7xk2p", Namespace: awsNodeNS, Labels: map[string]string{"k8s-app": "aws-node"}},
			Spec: corev1.PodSpec{NodeName: realNode, HostNetwork: true, Containers: []corev1.Container{{
				Name: "aws-node", Image: "602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.19.2-eksbuild.1",
				Env: []corev1.EnvVar{
					{Name: "ENI_CONFIG_LABEL_DEF", Value: "topology.kubernetes.io/zone"},
					{Name: "WARM_ENI_TARGET", Value: "1"},
					{Name: "MY_NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				},
			}}},
		}, corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.1.10"}},
		{corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: realNode, Containers: []corev1.Container{{Name: "web", Image: "nginx",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{kube.PodENIResource: eni}, Limits: corev1.ResourceList{kube.PodENIResource: eni}}}}},
		}, corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.1.33"}},
		{corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-2", Namespace: "default"},
			Spec:       corev1.PodSpec{NodeName: realNode, Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
		}, corev1.PodStatus{Phase: corev1.PodPending}},
		{corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "job-done", Namespace: "default"},
			Spec:       corev1.PodSpec{NodeName: realNode, RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "job", Image: "busybox"}}},
		}, corev1.PodStatus{Phase: corev1.PodSucceeded}},
		{corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "default"},
			Spec:       corev1.PodSpec{NodeName: "ip-10-0-2-20.eu-west-1.compute.internal", Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
		}, corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.2.7"}},
	}
	for _, p := range pods {
		created, err := cs.CoreV1().Pods(p.pod.Namespace).Create(ctx, &p.pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating pod %s/%s: %v", p.pod.Namespace, p.pod.Name, err)
		}
		created.Status = p.status
		if _, err := cs.CoreV1().Pods(p.pod.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("pod status %s/%s: %v", p.pod.Namespace, p.pod.Name, err)
		}
	}
}

// boundToken creates Secret name and a one-hour token of the agent's ServiceAccount bound to
// it, as kubelet binds a projected token to its pod.
func boundToken(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	ctx := context.Background()
	sec, err := cs.CoreV1().Secrets(agentNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secs := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(agentNS).CreateToken(ctx, agentSA, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &secs,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: sec.Name, UID: sec.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	return tr.Status.Token
}

// writeToken replaces the token file the way kubelet does: a new file renamed over the old.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func legacyClient(t *testing.T, srv *kubetest.Server, token string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(srv.UserConfig(token))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// eventuallyLimit bounds each wait for the API server: RBAC and token changes reach its
// caches within seconds.
const eventuallyLimit = time.Minute

func get(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return string(b), err
}

func sampleOf(body, series string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// sourceError is the Kubernetes source's error as /diagnosis reports it.
func sourceError(t *testing.T, base string) string {
	t.Helper()
	body, err := get(base + "/diagnosis")
	if err != nil {
		t.Fatalf("/diagnosis: %v", err)
	}
	var d struct {
		Sources []struct {
			Name  string `json:"name"`
			Up    bool   `json:"up"`
			Error string `json:"error"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("/diagnosis: %v", err)
	}
	for _, s := range d.Sources {
		if s.Name == nodestate.SourceKube {
			return s.Error
		}
	}
	t.Fatalf("/diagnosis has no %s source: %s", nodestate.SourceKube, body)
	return ""
}

// proxy forwards TCP to the API server ("pass"), holds connections without forwarding a byte
// ("stall": an API server too slow to answer), or stops listening ("closed": an API server
// that is down), on one address.
type proxy struct {
	addr, target string

	mu    sync.Mutex
	mode  string
	l     net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{target: target, mode: "pass", conns: map[net.Conn]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(func() { p.set(t, "closed"); p.wg.Wait() })
	return p
}

func (p *proxy) serve(l net.Listener) {
	p.l = l
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			mode := p.mode
			p.conns[c] = true
			p.mu.Unlock()
			if mode == "stall" {
				continue // held open, never answered, until the mode changes
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

func (p *proxy) forward(c net.Conn) {
	defer p.drop(c)
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	defer p.drop(up)
	go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
	_, _ = io.Copy(c, up)
}

func (p *proxy) drop(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// set switches the mode; every open connection is cut, as a restarted or stalled server
// would leave them.
func (p *proxy) set(t *testing.T, mode string) {
	t.Helper()
	p.mu.Lock()
	p.mode = mode
	for c := range p.conns {
		_ = c.Close()
	}
	l := p.l
	p.mu.Unlock()
	switch {
	case mode == "closed" && l != nil:
		_ = l.Close()
		p.mu.Lock()
		p.l = nil
		p.mu.Unlock()
	case mode != "closed" && l == nil:
		nl, err := net.Listen("tcp", p.addr)
		if err != nil {
			t.Fatalf("listening again on %s: %v", p.addr, err)
		}
		p.serve(nl)
	}
}
