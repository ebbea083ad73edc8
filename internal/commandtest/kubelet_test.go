package commandtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// kubelet stands in for the node's kubelet where a command hands over to it, so that the
// commands that need one are checked up to that point and beyond where it is honest to:
//
//   - It serves the kubelet's HTTPS API on 127.0.0.1 (the node's InternalIP and
//     daemonEndpoints port say where): the API server proxies `kubectl logs` there, and the
//     stand-in answers /containerLogs for the pods it knows and records every request.
//   - It finishes the deletion of pods on the node (what a kubelet does once their containers
//     stopped), so `kubectl delete pod` and `kubectl drain` return as on a cluster.
//   - For a `kubectl debug node/...` pod it records the pod as the API server stored it, runs
//     the pod's command on this machine with curl's node-local addresses (ipamd's :61678 and
//     :61679, IMDS) mapped to a demo node's endpoints and /host/ (where node debugging pods
//     mount the node's root) to a directory holding the demo node's
//     /var/log/aws-routed-eni, and reports the container terminated
//     with the command's exit code; kubectl debug then prints the output through `kubectl
//     logs`, as it does for a container that ended before it could attach.
type kubelet struct {
	t      testing.TB
	node   string
	client kubernetes.Interface
	srv    *httptest.Server
	shims  string // directory with the curl that maps node-local addresses

	mu       sync.Mutex
	requests []string
	logs     map[string]string // "ns/pod/container" -> log text
	debugs   []debugRun
	target   *nodeEndpoints
}

// nodeEndpoints are where the node-local services of the debug pod's host network are, and
// the directory that stands for the node's root file system (mounted at /host in a node
// debugging pod).
type nodeEndpoints struct {
	metrics, ipamd, imds string // base URLs
	hostRoot             string
	// agent is host:port of a real ipamwatch agent (`ipamwatch demo`) on the same scenario:
	// what the ipamwatch pod's port 9713 answers with.
	agent string
}

// debugRun is one node debugging pod the stand-in saw and ran.
type debugRun struct {
	Pod      *corev1.Pod
	Output   string
	ExitCode int
}

func startKubelet(t testing.TB, node string, client kubernetes.Interface) *kubelet {
	t.Helper()
	k := &kubelet{t: t, node: node, client: client, logs: map[string]string{}, shims: t.TempDir()}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.srv.Close)
	if err := os.WriteFile(filepath.Join(k.shims, "curl"), []byte(curlShim), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.loop(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return k
}

// curlShim is curl as seen from the node's host network: the addresses ipamd and IMDS listen
// on there are rewritten to the demo node's; everything else passes through.
const curlShim = `#!/bin/sh
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  case $a in
  *localhost:61678*|*127.0.0.1:61678*) a=$(printf '%s' "$a" | sed -e "s#^\(http://\)\{0,1\}\(localhost\|127.0.0.1\):61678#$COMMANDTEST_METRICS#") ;;
  *localhost:61679*|*127.0.0.1:61679*) a=$(printf '%s' "$a" | sed -e "s#^\(http://\)\{0,1\}\(localhost\|127.0.0.1\):61679#$COMMANDTEST_IPAMD#") ;;
  *169.254.169.254*) a=$(printf '%s' "$a" | sed -e "s#^\(http://\)\{0,1\}169.254.169.254#$COMMANDTEST_IMDS#") ;;
  esac
  set -- "$@" "$a"
done
exec /usr/bin/curl "$@"
`

// port is the kubelet port the node advertises.
func (k *kubelet) port() int { return k.srv.Listener.Addr().(*net.TCPAddr).Port }

// setTarget says which demo node the debug pods' host network reaches.
func (k *kubelet) setTarget(e *nodeEndpoints) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.target = e
}

func (k *kubelet) setLog(ns, pod, container, text string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.logs[ns+"/"+pod+"/"+container] = text
}

// takeDebugs returns and forgets the debug pods run so far; takeRequests the kubelet API
// requests.
func (k *kubelet) takeDebugs() []debugRun {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := k.debugs
	k.debugs = nil
	return d
}

func (k *kubelet) takeRequests() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.requests
	k.requests = nil
	return r
}

func (k *kubelet) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.requests = append(k.requests, r.Method+" "+r.URL.RequestURI())
	k.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method == http.MethodGet && len(parts) == 4 && parts[0] == "containerLogs" {
		key := parts[1] + "/" + parts[2] + "/" + parts[3]
		if r.URL.Query().Get("previous") == "true" {
			// The container's instance before its last restart: there is none while the
			// pod's status says it never restarted (the kubelet then answers with this error).
			if !k.restarted(r.Context(), parts[1], parts[2], parts[3]) {
				http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", parts[3], parts[2]), http.StatusBadRequest)
				return
			}
			key += "#previous"
		}
		k.mu.Lock()
		text, ok := k.logs[key]
		k.mu.Unlock()
		if !ok {
			http.Error(w, fmt.Sprintf("container %q in pod %s/%s not found", parts[3], parts[1], parts[2]), http.StatusNotFound)
			return
		}
		if n, err := strconv.Atoi(r.URL.Query().Get("tailLines")); err == nil {
			lines := strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")
			if n < len(lines) {
				text = strings.Join(lines[len(lines)-n:], "") + "\n"
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(text))
		return
	}
	if len(parts) == 3 && parts[0] == "portForward" {
		k.portForward(w, r, parts[1], parts[2])
		return
	}
	http.Error(w, "the test's kubelet stand-in does not serve "+r.URL.Path, http.StatusNotImplemented)
}

// restarted reports whether the pod's status says the container restarted.
func (k *kubelet) restarted(ctx context.Context, ns, pod, container string) bool {
	p, err := k.client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == container {
			return cs.RestartCount > 0
		}
	}
	return false
}

// portForward speaks the kubelet's side of port forwarding (SPDY, protocol
// portforward.k8s.io): the API server opens a pair of streams per forwarded connection, an
// error stream and a data stream with the same requestID and the pod's port in the headers.
// Connections to the ipamwatch pod's port 9713 reach the demo agent of the current target;
// any other pod or port gets its error stream's message, as from a pod that does not listen.
func (k *kubelet) portForward(w http.ResponseWriter, r *http.Request, ns, pod string) {
	if _, err := httpstream.Handshake(r, w, []string{"portforward.k8s.io"}); err != nil {
		return // Handshake wrote the refusal
	}
	streams := make(chan httpstream.Stream, 8)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, _ <-chan struct{}) error {
		streams <- st
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	conn.SetIdleTimeout(5 * time.Minute)
	type pair struct{ data, errs httpstream.Stream }
	pairs := map[string]*pair{}
	for {
		select {
		case <-conn.CloseChan():
			return
		case st := <-streams:
			h := st.Headers()
			id := h.Get("requestID")
			p := pairs[id]
			if p == nil {
				p = &pair{}
				pairs[id] = p
			}
			switch h.Get("streamType") {
			case "data":
				p.data = st
			case "error":
				p.errs = st
			default:
				_ = st.Reset()
				continue
			}
			if p.data != nil && p.errs != nil {
				delete(pairs, id)
				go k.forward(ns, pod, h.Get("port"), p.data, p.errs)
			}
		}
	}
}

func (k *kubelet) forward(ns, pod, port string, data, errs httpstream.Stream) {
	defer errs.Close()
	defer data.Close()
	k.mu.Lock()
	target := k.target
	k.mu.Unlock()
	if ns != "ipamwatch" || pod != ipamwatchPod || port != "9713" || target == nil || target.agent == "" {
		_, _ = fmt.Fprintf(errs, "nothing listens on port %s of pod %s/%s in the test's world", port, ns, pod)
		return
	}
	c, err := net.DialTimeout("tcp", target.agent, 5*time.Second)
	if err != nil {
		_, _ = fmt.Fprintf(errs, "connecting to port %s of pod %s/%s: %v", port, ns, pod, err)
		return
	}
	defer c.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(c, data); done <- struct{}{} }()
	go func() { _, _ = io.Copy(data, c); done <- struct{}{} }()
	<-done
}

// loop polls the node's pods (a kubelet watches them; polling keeps the stand-in simple).
func (k *kubelet) loop(ctx context.Context) {
	seen := map[string]bool{}
	for ctx.Err() == nil {
		list, err := k.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + k.node})
		if err == nil {
			for i := range list.Items {
				p := &list.Items[i]
				switch {
				case p.DeletionTimestamp != nil:
					zero := int64(0)
					_ = k.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
						Preconditions: &metav1.Preconditions{UID: &p.UID}})
				case strings.HasPrefix(p.Name, "node-debugger-") && !seen[string(p.UID)]:
					seen[string(p.UID)] = true
					k.runDebug(ctx, p)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (k *kubelet) runDebug(ctx context.Context, p *corev1.Pod) {
	run := debugRun{Pod: p.DeepCopy(), ExitCode: -1}
	k.mu.Lock()
	target := k.target
	k.mu.Unlock()
	if len(p.Spec.Containers) == 1 && target != nil {
		c := p.Spec.Containers[0]
		var argv []string
		for _, a := range append(append([]string{}, c.Command...), c.Args...) {
			argv = append(argv, strings.ReplaceAll(a, "/host/", target.hostRoot+"/"))
		}
		if len(argv) > 0 && !strings.Contains(argv[0], "/") {
			// Resolve the program as the container's shell would, with the shims first
			// (exec.Command alone would look it up on the test's own PATH).
			if p := filepath.Join(k.shims, argv[0]); fileExists(p) {
				argv[0] = p
			}
		}
		if len(argv) > 0 {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
			cmd.Env = append(os.Environ(), "PATH="+k.shims+string(os.PathListSeparator)+os.Getenv("PATH"),
				"COMMANDTEST_METRICS="+target.metrics, "COMMANDTEST_IPAMD="+target.ipamd, "COMMANDTEST_IMDS="+target.imds)
			out, err := cmd.CombinedOutput()
			cancel()
			run.Output, run.ExitCode = string(out), 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				run.ExitCode = ee.ExitCode()
			} else if err != nil {
				run.Output += err.Error()
			}
		}
	}
	k.setLog(p.Namespace, p.Name, p.Spec.Containers[0].Name, run.Output)
	k.mu.Lock()
	k.debugs = append(k.debugs, run)
	k.mu.Unlock()
	now := metav1.Now()
	p.Status.Phase = corev1.PodSucceeded
	if run.ExitCode != 0 {
		p.Status.Phase = corev1.PodFailed
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(run.ExitCode), StartedAt: now, FinishedAt: now}}}}
	_, _ = k.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
}
