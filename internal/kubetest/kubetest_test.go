package kubetest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kube is the server the tests of this package share (see Shared).
var kube Shared

func TestMain(m *testing.M) { os.Exit(kube.Run(m)) }

// TestVersionsAgree: the versions the harness looks up are the ones the wrapper modules pin and
// scripts/install-tools.sh builds, and every staging module is pinned to the matching v0 tag.
func TestVersionsAgree(t *testing.T) {
	t.Parallel()
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	kubeMod := read("../../e2e/kube/go.mod")
	if !regexp.MustCompile(`(?m)^require k8s\.io/kubernetes ` + regexp.QuoteMeta(KubeVersion) + `$`).MatchString(kubeMod) {
		t.Errorf("e2e/kube/go.mod does not require k8s.io/kubernetes %s", KubeVersion)
	}
	staging := "v0" + strings.TrimPrefix(KubeVersion, "v1")
	replaces := regexp.MustCompile(`(?m)^\s+(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$`).FindAllStringSubmatch(kubeMod, -1)
	if len(replaces) < 30 {
		t.Errorf("e2e/kube/go.mod has %d staging replace lines; k8s.io/kubernetes %s lists 33", len(replaces), KubeVersion)
	}
	for _, r := range replaces {
		if r[1] != r[2] || r[3] != staging {
			t.Errorf("e2e/kube/go.mod: %s => %s %s, want %s => %s %s", r[1], r[2], r[3], r[1], r[1], staging)
		}
	}
	opMod := read("../../e2e/promoperator/go.mod")
	if !strings.Contains(opMod, "\nrequire "+OperatorModule+" "+OperatorVersion+"\n") {
		t.Errorf("e2e/promoperator/go.mod does not require %s %s", OperatorModule, OperatorVersion)
	}
	script := read("../../scripts/install-tools.sh")
	for _, want := range []string{"KUBE_VERSION=" + KubeVersion + "\n", "OPERATOR_VERSION=" + OperatorVersion + "\n"} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/install-tools.sh does not set %q", strings.TrimSpace(want))
		}
	}
}

// TestServerStarts: the API server answers as v1.37.2, is ready, and its authentication is
// real: the admin token is accepted, a wrong token gets 401, no token is the anonymous user.
func TestServerStarts(t *testing.T) {
	t.Parallel()
	srv := kube.Get(t)
	t.Logf("shared server %s ready after %s", srv.URL, srv.StartupTime())
	ctx := context.Background()

	code, body, err := srv.Get(ctx, "/version", srv.AdminToken)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /version: %d %v %s", code, err, body)
	}
	var v struct{ GitVersion string }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != KubeVersion {
		t.Errorf("server version %q, want %q (install-tools.sh stamps it with -ldflags)", v.GitVersion, KubeVersion)
	}
	if code, body, _ := srv.Get(ctx, "/readyz", srv.AdminToken); code != http.StatusOK {
		t.Errorf("GET /readyz: %d %s", code, body)
	}
	if code, _, _ := srv.Get(ctx, "/api/v1/namespaces", "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("a wrong token got %d, want 401", code)
	}
	if code, body, _ := srv.Get(ctx, "/api/v1/namespaces", ""); code != http.StatusForbidden ||
		!strings.Contains(string(body), `User \"system:anonymous\"`) {
		t.Errorf("no token: %d %s, want 403 for system:anonymous", code, body)
	}
	if code, _, _ := srv.Get(ctx, "/api/v1/namespaces", srv.AdminToken); code != http.StatusOK {
		t.Errorf("the admin token got %d, want 200", code)
	}
}

// TestKubectl: the cached kubectl is v1.37.2, applies manifests and reads them back, and
// fails (non-zero exit, NotFound) for what does not exist.
func TestKubectl(t *testing.T) {
	t.Parallel()
	srv := kube.Get(t)

	out, stderr, err := srv.Kubectl(t, "version", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl version: %v\n%s", err, stderr)
	}
	var v struct{ ClientVersion, ServerVersion struct{ GitVersion string } }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("kubectl version -o json: %v\n%s", err, out)
	}
	if v.ClientVersion.GitVersion != KubeVersion || v.ServerVersion.GitVersion != KubeVersion {
		t.Errorf("kubectl version: client %q server %q, want %s for both", v.ClientVersion.GitVersion, v.ServerVersion.GitVersion, KubeVersion)
	}

	ns := "kubectl-" + dnsLabel(time.Now().Format("150405.000000"), 20)
	applied := srv.Apply(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: `+ns+`}
data: {WARM_IP_TARGET: "5"}
---
apiVersion: v1
kind: Namespace
metadata: {name: `+ns+`}
`)
	if !strings.Contains(applied, "configmap/settings created") || !strings.Contains(applied, "namespace/"+ns+" created") {
		t.Errorf("kubectl apply output:\n%s", applied)
	}
	out, stderr, err = srv.Kubectl(t, "-n", ns, "get", "configmap", "settings", "-o", "jsonpath={.data.WARM_IP_TARGET}")
	if err != nil || out != "5" {
		t.Errorf("kubectl get configmap: %q %v %s", out, err, stderr)
	}
	// Namespaces created by Apply (or kubectl) get their default ServiceAccount too.
	if _, stderr, err := srv.Kubectl(t, "-n", ns, "get", "serviceaccount", "default"); err != nil {
		t.Errorf("no default ServiceAccount in %s: %v %s", ns, err, stderr)
	}
	_, stderr, err = srv.Kubectl(t, "-n", ns, "get", "configmap", "absent")
	if err == nil || !strings.Contains(stderr, `configmaps "absent" not found`) {
		t.Errorf("kubectl get of a missing object: err %v, stderr %q; want a failure saying not found", err, stderr)
	}
}

// TestServiceAccountTokenRBAC: a token from the TokenRequest API authenticates as its
// ServiceAccount, which RBAC denies (a real 403) until a Role grants it, and then only what the
// Role grants. kubectl with the token sees the same.
func TestServiceAccountTokenRBAC(t *testing.T) {
	t.Parallel()
	srv := kube.Get(t)
	ctx := context.Background()
	ns := srv.NewNamespace(t)
	srv.CreateServiceAccount(t, ns, "reader")
	token := srv.ServiceAccountToken(t, ns, "reader", 10*time.Minute)
	user := "system:serviceaccount:" + ns + ":reader"
	podsPath := "/api/v1/namespaces/" + ns + "/pods"

	code, body, err := srv.Get(ctx, podsPath, token)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusForbidden || !strings.Contains(string(body), `User \"`+user+`\" cannot list resource \"pods\"`) {
		t.Fatalf("before the RoleBinding: %d %s; want 403 naming %s", code, body, user)
	}
	_, stderr, err := srv.Kubectl(t, "--token", token, "-n", ns, "get", "pods")
	if err == nil || !strings.Contains(stderr, "Forbidden") {
		t.Errorf("kubectl with the token before the RoleBinding: err %v, stderr %q; want Forbidden", err, stderr)
	}

	c := srv.Client()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
	}
	if _, err := c.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
	}
	if _, err := c.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The RBAC authorizer reads Roles from an informer: allow it a moment to see the binding.
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err = srv.Get(ctx, podsPath, token)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the RoleBinding: %d %v %s; want 200", code, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, stderr, err := srv.Kubectl(t, "--token", token, "-n", ns, "get", "pods", "-o", "name"); err != nil {
		t.Errorf("kubectl with the token after the RoleBinding: %v %s %s", err, out, stderr)
	}
	// Only what the Role grants: not Secrets, not another namespace.
	for _, path := range []string{"/api/v1/namespaces/" + ns + "/secrets", "/api/v1/namespaces/default/pods"} {
		if code, body, _ := srv.Get(ctx, path, token); code != http.StatusForbidden {
			t.Errorf("GET %s with the token: %d %s, want 403", path, code, body)
		}
	}
	// The client-go path a program in the pod would take.
	cs, err := kubernetes.NewForConfig(srv.UserConfig(token))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("client-go with the token: %v", err)
	}
}

// TestKubectlDebugNode: `kubectl debug node/N --image=busybox -- true` creates its Pod, bound
// to the node, with the command given. Nothing runs it (no kubelet); the API accepted it. The
// same command fails when the namespace has no default ServiceAccount, which shows that
// admission is real and that the harness's ServiceAccounts are what make it pass.
func TestKubectlDebugNode(t *testing.T) {
	t.Parallel()
	srv := kube.Get(t)
	ctx := context.Background()
	ns := srv.NewNamespace(t)
	node := "ip-10-0-1-23." + ns + ".compute.internal" // cluster-scoped: unique per test
	srv.Apply(t, `
apiVersion: v1
kind: Node
metadata:
  name: `+node+`
  labels: {kubernetes.io/hostname: `+node+`, node.kubernetes.io/instance-type: m5.large}
`)
	out, stderr, err := srv.Kubectl(t, "-n", ns, "debug", "node/"+node, "--image=busybox", "--", "true")
	if err != nil {
		t.Fatalf("kubectl debug node: %v\n%s%s", err, out, stderr)
	}
	pods, err := srv.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("%d pods in %s after kubectl debug, want 1 (output %q)", len(pods.Items), ns, out)
	}
	p := pods.Items[0]
	if p.Spec.NodeName != node {
		t.Errorf("debug pod bound to %q, want %q", p.Spec.NodeName, node)
	}
	if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Image != "busybox" ||
		strings.Join(p.Spec.Containers[0].Command, " ")+strings.Join(p.Spec.Containers[0].Args, " ") != "true" {
		t.Errorf("debug pod containers: %+v", p.Spec.Containers)
	}
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("debug pod phase %q, want Pending (there is no kubelet)", p.Status.Phase)
	}
	if !strings.Contains(out+stderr, p.Name) {
		t.Errorf("kubectl debug did not name its pod %s: %q %q", p.Name, out, stderr)
	}

	if err := srv.Client().CoreV1().ServiceAccounts(ns).Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = srv.Kubectl(t, "-n", ns, "debug", "node/"+node, "--image=busybox", "--", "true")
	if err == nil || !strings.Contains(stderr, `serviceaccount "default" not found`) {
		t.Errorf("kubectl debug without the default ServiceAccount: err %v, stderr %q; want the admission refusal", err, stderr)
	}
}

// TestStartOwnServer: Start gives a test a server of its own, independent of the shared one,
// and stops it (its port closes) when the test ends.
func TestStartOwnServer(t *testing.T) {
	t.Parallel()
	var url string
	t.Run("own", func(t *testing.T) {
		srv := Start(t)
		url = srv.URL
		t.Logf("own server %s ready after %s", srv.URL, srv.StartupTime())
		if shared := kube.Get(t); shared.URL == srv.URL {
			t.Fatalf("Start returned the shared server %s", srv.URL)
		}
		if _, stderr, err := srv.Kubectl(t, "get", "namespace", "kube-system"); err != nil {
			t.Fatalf("kubectl against the own server: %v %s", err, stderr)
		}
	})
	if url == "" {
		return // skipped or failed above
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "https://"), 2*time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after its test ended", url)
	}
}
