package kubetest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OperatorModule is the module that holds prometheus-operator's CRDs (example/prometheus-operator-crd).
const OperatorModule = "github.com/prometheus-operator/prometheus-operator"

const (
	operatorReadyTimeout = 2 * time.Minute
	configTimeout        = 90 * time.Second
	// configCap bounds a decompressed generated configuration.
	configCap = 64 << 20
)

// Operator is a prometheus-operator process reconciling the server's monitoring.coreos.com
// objects. It writes what it generates (the config Secret prometheus-<name>, StatefulSets,
// Services) to the API server; with no kubelet nothing of it runs.
type Operator struct {
	srv  *Server
	proc *process
	// URL serves the operator's /metrics and /healthz.
	URL string
	// LogPath is the operator's log (logfmt), quoted on failure.
	LogPath string
}

// StartOperator installs the operator's CRDs on srv (once per server), starts
// prometheus-operator v0.85.0 against it with the admin kubeconfig, waits until its Prometheus
// controller is ready, and stops it (by PID) when the test ends. With namespaces it watches
// only those (--namespaces), which keeps operators of tests on a shared server apart;
// without, it watches all.
func StartOperator(t testing.TB, srv *Server, namespaces ...string) *Operator {
	t.Helper()
	bin := testtools.LookupBin(t, BinaryName("prometheus-operator"))
	srv.InstallOperatorCRDs(t)

	dir := t.TempDir()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	o := &Operator{
		srv:     srv,
		URL:     "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		LogPath: filepath.Join(dir, "prometheus-operator.log"),
	}
	args := []string{
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(ports[0]),
		"--log-format=logfmt",
		"--log-level=debug",
	}
	if len(namespaces) > 0 {
		args = append(args, "--namespaces="+strings.Join(namespaces, ","))
	}
	// The operator has no --kubeconfig flag: it reads KUBECONFIG (pkg/k8sutil).
	env := append(minimalEnv(), "KUBECONFIG="+srv.Kubeconfig)
	o.proc, err = startProcess("prometheus-operator", o.LogPath, env, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.proc.stop(stopGrace)
		if t.Failed() {
			t.Logf("prometheus-operator log (last lines of %s):\n%s", o.LogPath, o.proc.logTail(60))
		}
	})
	plain := &http.Client{Timeout: 5 * time.Second}
	// /healthz answers as soon as the web server runs; prometheus_operator_ready turns 1 once
	// the Prometheus controller's informers have synced, after which it reconciles.
	if err := o.proc.waitReady(operatorReadyTimeout, 200*time.Millisecond, func() error {
		return checkOK(plain, o.URL+"/metrics", "", `prometheus_operator_ready{controller="prometheus"} 1`)
	}); err != nil {
		t.Fatal(err)
	}
	return o
}

// OperatorCRDDir returns the directory of prometheus-operator v0.85.0's CRDs in the module
// cache, downloading the module through the Go module proxy if it is not there
// (scripts/install-tools.sh puts it there when it builds the operator).
func OperatorCRDDir(t testing.TB) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		missingTool(t, "the go command (to find prometheus-operator's CRDs) is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "mod", "download", "-json", OperatorModule+"@"+OperatorVersion)
	cmd.Dir = t.TempDir() // outside any module: nothing reads or changes a go.mod
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		missingTool(t, "go mod download %s@%s: %v\n%s%s", OperatorModule, OperatorVersion, err, out, stderr.String())
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		missingTool(t, "go mod download %s@%s: no directory (%v %s)", OperatorModule, OperatorVersion, err, info.Error)
	}
	dir := filepath.Join(info.Dir, "example", "prometheus-operator-crd")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("prometheus-operator's CRDs: %v", err)
	}
	return dir
}

// InstallOperatorCRDs applies prometheus-operator's CRDs to the server (once) and waits until
// they are Established. Server-side apply: the Prometheus CRD is larger than the 256 KiB a
// client-side apply can keep in its last-applied annotation.
func (s *Server) InstallOperatorCRDs(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crdsInstalled {
		return
	}
	dir := OperatorCRDDir(t)
	if stdout, stderr, err := s.Kubectl(t, "apply", "--server-side", "-f", dir); err != nil {
		t.Fatalf("applying prometheus-operator CRDs from %s: %v\n%s%s", dir, err, stdout, stderr)
	}
	if stdout, stderr, err := s.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "-f", dir); err != nil {
		t.Fatalf("waiting for prometheus-operator CRDs: %v\n%s%s", err, stdout, stderr)
	}
	s.crdsInstalled = true
}

// PrometheusConfig returns the Prometheus configuration the operator generated for the
// Prometheus object ns/name: the gunzipped prometheus.yaml.gz of Secret prometheus-<name>.
// The operator rewrites the Secret as it picks up ServiceMonitors and PodMonitors, so it polls
// until until(config) is true (nil: the first configuration seen) and fails the test after
// 90 s with the last configuration and the operator's log.
func (o *Operator) PrometheusConfig(t testing.TB, ns, name string, until func(config []byte) bool) []byte {
	t.Helper()
	secret := "prometheus-" + name
	deadline := time.Now().Add(configTimeout)
	var last []byte
	var lastErr error
	for {
		last, lastErr = o.readConfig(ns, secret)
		if lastErr == nil && (until == nil || until(last)) {
			return last
		}
		if ok, werr := o.proc.exited(); ok {
			t.Fatalf("prometheus-operator exited (%v); log:\n%s", werr, o.proc.logTail(60))
		}
		if time.Now().After(deadline) {
			t.Fatalf("Secret %s/%s: no matching configuration after %s (last error: %v)\nlast configuration:\n%s\noperator log:\n%s",
				ns, secret, configTimeout, lastErr, last, o.proc.logTail(60))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (o *Operator) readConfig(ns, secret string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sec, err := o.srv.client.CoreV1().Secrets(ns).Get(ctx, secret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("not written yet: %w", err)
	}
	if err != nil {
		return nil, err
	}
	gz, ok := sec.Data["prometheus.yaml.gz"]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s has no prometheus.yaml.gz", ns, secret)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("prometheus.yaml.gz: %w", err)
	}
	return readCapped(zr, configCap)
}

// LogTail returns the last n lines of the operator's log.
func (o *Operator) LogTail(n int) string { return o.proc.logTail(n) }

// missingTool skips the test locally, or fails it when IPAMWATCH_REQUIRE_TOOLS=1.
func missingTool(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if testtools.Required() {
		t.Fatalf("%s (IPAMWATCH_REQUIRE_TOOLS=1): run scripts/install-tools.sh", msg)
	}
	t.Skipf("%s; run scripts/install-tools.sh", msg)
}
