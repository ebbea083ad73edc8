package manifests_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// Prometheus Operator objects, reduced to the fields ipamwatch uses. Decoding is strict, so a
// misspelt or misplaced field fails here just as the CRD's structural schema would reject it.

// Field names follow github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1
// (v0.85.0: servicemonitor_types.go, podmonitor_types.go, types.go).

type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		NamespaceSelector *NamespaceSelector   `json:"namespaceSelector,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		Endpoints         []ScrapeEndpoint     `json:"endpoints"`
	} `json:"spec"`
}

type PodMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel            string               `json:"jobLabel,omitempty"`
		NamespaceSelector   *NamespaceSelector   `json:"namespaceSelector,omitempty"`
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []ScrapeEndpoint     `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// NamespaceSelector: without one, a monitor selects in its own namespace only.
type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

// selects reports whether a monitor in monitorNS with this selector looks into namespace ns.
func (s *NamespaceSelector) selects(monitorNS, ns string) bool {
	switch {
	case s == nil || (!s.Any && len(s.MatchNames) == 0):
		return ns == monitorNS
	case s.Any:
		return true
	}
	return slices.Contains(s.MatchNames, ns)
}

type ScrapeEndpoint struct {
	Port              string          `json:"port"`
	Path              string          `json:"path,omitempty"`
	Scheme            string          `json:"scheme,omitempty"`
	Interval          string          `json:"interval,omitempty"`
	ScrapeTimeout     string          `json:"scrapeTimeout,omitempty"`
	TLSConfig         *ScrapeTLS      `json:"tlsConfig,omitempty"`
	BasicAuth         *BasicAuth      `json:"basicAuth,omitempty"`
	Relabelings       []RelabelConfig `json:"relabelings,omitempty"`
	MetricRelabelings []RelabelConfig `json:"metricRelabelings,omitempty"`
}

type ScrapeTLS struct {
	ServerName         string             `json:"serverName,omitempty"`
	InsecureSkipVerify bool               `json:"insecureSkipVerify,omitempty"`
	CA                 *SecretOrConfigMap `json:"ca,omitempty"`
}

type SecretOrConfigMap struct {
	Secret    *corev1.SecretKeySelector    `json:"secret,omitempty"`
	ConfigMap *corev1.ConfigMapKeySelector `json:"configMap,omitempty"`
}

type BasicAuth struct {
	Username corev1.SecretKeySelector `json:"username"`
	Password corev1.SecretKeySelector `json:"password"`
}

type RelabelConfig struct {
	Action       string   `json:"action,omitempty"`
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    *string  `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Modulus      uint64   `json:"modulus,omitempty"`
	Replacement  *string  `json:"replacement,omitempty"`
}

type PrometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []RuleGroup `json:"groups"`
	} `json:"spec"`
}

type RuleGroup struct {
	Name        string            `json:"name"`
	Interval    string            `json:"interval,omitempty"`
	QueryOffset string            `json:"query_offset,omitempty"`
	Limit       int               `json:"limit,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Rules       []Rule            `json:"rules"`
}

type Rule struct {
	Record        string             `json:"record,omitempty"`
	Alert         string             `json:"alert,omitempty"`
	Expr          intstr.IntOrString `json:"expr"`
	For           string             `json:"for,omitempty"`
	KeepFiringFor string             `json:"keep_firing_for,omitempty"`
	Labels        map[string]string  `json:"labels,omitempty"`
	Annotations   map[string]string  `json:"annotations,omitempty"`
}

// object is one decoded document of a rendered set.
type object struct {
	Kind, Name, Namespace string
	Obj                   any // pointer to the typed object
	Meta                  *metav1.ObjectMeta
	// JSON is the document as rendered (not re-encoded from Obj, which would add nulls).
	JSON []byte
}

func (o object) String() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// newTyped maps apiVersion and kind to the type a document must decode into. Anything else is
// an error: the deployment has no business rendering kinds nobody reviewed.
func newTyped(apiVersion, kind string) (any, *metav1.ObjectMeta, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		o := &corev1.Namespace{}
		return o, &o.ObjectMeta, nil
	case "v1 ServiceAccount":
		o := &corev1.ServiceAccount{}
		return o, &o.ObjectMeta, nil
	case "v1 Service":
		o := &corev1.Service{}
		return o, &o.ObjectMeta, nil
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		return o, &o.ObjectMeta, nil
	case "v1 Secret":
		o := &corev1.Secret{}
		return o, &o.ObjectMeta, nil
	case "apps/v1 DaemonSet":
		o := &appsv1.DaemonSet{}
		return o, &o.ObjectMeta, nil
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		return o, &o.ObjectMeta, nil
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		o := &rbacv1.ClusterRole{}
		return o, &o.ObjectMeta, nil
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		o := &rbacv1.ClusterRoleBinding{}
		return o, &o.ObjectMeta, nil
	case "rbac.authorization.k8s.io/v1 Role":
		o := &rbacv1.Role{}
		return o, &o.ObjectMeta, nil
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		o := &rbacv1.RoleBinding{}
		return o, &o.ObjectMeta, nil
	case "networking.k8s.io/v1 NetworkPolicy":
		o := &networkingv1.NetworkPolicy{}
		return o, &o.ObjectMeta, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o := &ServiceMonitor{}
		return o, &o.ObjectMeta, nil
	case "monitoring.coreos.com/v1 PodMonitor":
		o := &PodMonitor{}
		return o, &o.ObjectMeta, nil
	case "monitoring.coreos.com/v1 PrometheusRule":
		o := &PrometheusRule{}
		return o, &o.ObjectMeta, nil
	}
	return nil, nil, fmt.Errorf("unexpected kind %q (apiVersion %q)", kind, apiVersion)
}

// decodeStrict decodes one YAML document into its Kubernetes type; unknown or duplicate fields fail.
func decodeStrict(doc []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return object{}, fmt.Errorf("reading apiVersion/kind: %w", err)
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return object{}, errors.New("document without apiVersion or kind")
	}
	typed, meta, err := newTyped(tm.APIVersion, tm.Kind)
	if err != nil {
		return object{}, err
	}
	if err := yaml.UnmarshalStrict(doc, typed); err != nil {
		return object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return object{}, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return object{Kind: tm.Kind, Name: meta.Name, Namespace: meta.Namespace, Obj: typed, Meta: meta, JSON: j}, nil
}

// decodeAll splits a multi-document YAML stream and decodes every non-empty document strictly.
func decodeAll(stream []byte) ([]object, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var out []object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("splitting document %d: %w", i, err)
		}
		if isBlankYAML(doc) {
			continue
		}
		o, err := decodeStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, o)
	}
}

func isBlankYAML(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}

// repoRoot is the module root: the tests run in manifests/.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from the test directory: %v", err)
	}
	return root
}

func run(t testing.TB, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// kustomizeBuild renders dir with the standalone kustomize, or kubectl's built-in one.
func kustomizeBuild(t testing.TB, dir string) []byte {
	t.Helper()
	if p, err := exec.LookPath("kustomize"); err == nil {
		return run(t, nil, p, "build", dir)
	}
	kubectl := testtools.Lookup(t, "kubectl")
	return run(t, nil, kubectl, "kustomize", dir)
}

// testKubeVersion is the Kubernetes version `helm template` renders for. Without a cluster Helm
// assumes the version it was built against, and a `go install`ed helm reports v1.20.0, below the
// chart's kubeVersion.
const testKubeVersion = "v1.34.0"

// helmTemplate renders chart as release ipamwatch in namespace ipamwatch.
func helmTemplate(t testing.TB, chart string, valuesFiles ...string) []byte {
	t.Helper()
	return helmTemplateAs(t, chart, "ipamwatch", "ipamwatch", valuesFiles...)
}

// helmTemplateAs renders chart with the given release name, namespace and values files, with
// Helm's state in a temp dir.
func helmTemplateAs(t testing.TB, chart, release, namespace string, valuesFiles ...string) []byte {
	t.Helper()
	out, err := helmTemplateErr(t, chart, release, namespace, valuesFiles...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// helmTemplateErr is helmTemplateAs returning the failure (with Helm's stderr) instead.
func helmTemplateErr(t testing.TB, chart, release, namespace string, valuesFiles ...string) ([]byte, error) {
	t.Helper()
	var extra []string
	for _, f := range valuesFiles {
		extra = append(extra, "--values", f)
	}
	return helmTemplateArgs(t, chart, release, namespace, extra...)
}

// helmTemplateArgs runs `helm template` with more arguments (--values, --set, ...).
func helmTemplateArgs(t testing.TB, chart, release, namespace string, extra ...string) ([]byte, error) {
	t.Helper()
	helm := testtools.Lookup(t, "helm")
	home := t.TempDir()
	args := append([]string{"template", release, chart, "--namespace", namespace, "--kube-version", testKubeVersion}, extra...)
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// valuesFile writes a values file for one test and returns its path. Not under t.TempDir(),
// whose name follows the test's: Helm splits --values at commas.
func valuesFile(t testing.TB, yamlText string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipamwatch-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(p, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
