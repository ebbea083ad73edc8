package demo

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamwatch/ipamwatch/collectors/kube"
)

// NodeName is the simulated node's Kubernetes name.
const NodeName = "ip-10-20-33-17.us-west-2.compute.internal"

// Node is a running simulated node: where its endpoints and logs are.
type Node struct {
	Spec          Spec
	IPAMDAddress  string
	CNIMetricsURL string
	IMDSEndpoint  string
	// SubnetsURL serves what the cluster-level subnet exporter would say about the node's subnets.
	SubnetsURL string
	IPAMDLog   string
	PluginLog  string
	// KubeAPI reaches the node's simulated Kubernetes API server (TLS, a bearer token).
	KubeAPI  kube.Config
	NodeName string

	kube    *kubeAPI
	sim     *sim
	servers []*http.Server
	tickLen time.Duration
	noise   float64
	wg      sync.WaitGroup
	stop    context.CancelFunc
}

// Options tune the simulation.
type Options struct {
	// Tick is how often the simulation steps (default 1 s).
	Tick time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Manual leaves stepping to the caller (Node.Step), for deterministic tests.
	Manual bool
}

// Start builds the simulated node, serves its endpoints on 127.0.0.1 ephemeral ports, writes
// its logs under dir, and evolves it until ctx is done or Close is called.
func Start(ctx context.Context, spec Spec, dir string, opts Options) (*Node, error) {
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	n := &Node{Spec: spec, NodeName: NodeName,
		IPAMDLog: filepath.Join(dir, "ipamd.log"), PluginLog: filepath.Join(dir, "plugin.log")}
	lw, err := newLogWriter(n.IPAMDLog, n.PluginLog, opts.Now)
	if err != nil {
		return nil, fmt.Errorf("demo logs: %w", err)
	}
	n.sim = newSim(spec, opts.Now(), lw)
	n.sim.step(opts.Now())
	lw.flush()

	serve := func(h http.Handler, tlsCfg *tls.Config) (string, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		scheme := "http"
		if tlsCfg != nil {
			l, scheme = tls.NewListener(l, tlsCfg), "https"
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		n.servers = append(n.servers, srv)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				lw.ipamd("error", "demo server: "+err.Error())
			}
		}()
		return scheme + "://" + l.Addr().String(), nil
	}
	var addrs [4]string
	for i, h := range []http.Handler{n.sim.ipamdHandler(), textHandler(n.sim.metricsText), n.sim.imdsHandler(), textHandler(n.sim.subnetsText)} {
		if addrs[i], err = serve(h, nil); err != nil {
			n.Close()
			return nil, fmt.Errorf("demo server: %w", err)
		}
	}
	n.IPAMDAddress, n.CNIMetricsURL, n.IMDSEndpoint, n.SubnetsURL = addrs[0], addrs[1]+"/metrics", addrs[2], addrs[3]+"/metrics"

	if err := n.startKube(dir, serve); err != nil {
		n.Close()
		return nil, fmt.Errorf("demo kubernetes: %w", err)
	}

	ctx, n.stop = context.WithCancel(ctx)
	n.tickLen = opts.Tick
	if opts.Manual {
		return n, nil
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(opts.Tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n.Step(ctx, opts.Now())
		}
	}()
	return n, nil
}

// Step advances the simulation to now: workload, allocation, logs, and the Kubernetes view.
// With Options.Manual the caller drives it (deterministic tests); otherwise a ticker does.
func (n *Node) Step(ctx context.Context, now time.Time) {
	n.sim.step(now)
	n.noise += float64(n.Spec.NoiseLinesPerSecond) * n.tickLen.Seconds()
	n.sim.mu.Lock()
	for ; n.noise >= 1; n.noise-- {
		n.sim.logs.ipamd("debug", "Reconcile existing ENI "+n.sim.enis[int(n.noise)%len(n.sim.enis)].id+" IP pool")
	}
	n.sim.mu.Unlock()
	n.sim.logs.flush()
	n.syncPods()
}

// Close stops the simulation and its servers.
func (n *Node) Close() {
	if n.stop != nil {
		n.stop()
	}
	for _, s := range n.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
	}
	n.wg.Wait()
	n.sim.logs.close()
}

// startKube serves the simulated API server and seeds it: the Node, aws-node and
// kube-proxy, then the workload.
func (n *Node) startKube(dir string, serve func(http.Handler, *tls.Config) (string, error)) error {
	k, err := newKubeAPI()
	if err != nil {
		return err
	}
	n.kube = k
	caFile, tokenFile := filepath.Join(dir, "kube-ca.crt"), filepath.Join(dir, "kube-token")
	tlsCfg, err := selfSignedTLS(caFile)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tokenFile, []byte(k.token+"\n"), 0o600); err != nil {
		return err
	}
	url, err := serve(k, tlsCfg)
	if err != nil {
		return err
	}
	n.KubeAPI = kube.Config{Host: url, CAFile: caFile, TokenFile: tokenFile}

	spec := n.Spec
	labels := map[string]string{
		"kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "us-west-2a",
		"node.kubernetes.io/instance-type": spec.InstanceType, "eks.amazonaws.com/nodegroup": "demo",
	}
	if spec.PodSubnet != nil {
		labels["k8s.amazonaws.com/eniConfig"] = "us-west-2a"
	}
	capacity := corev1.ResourceList{
		corev1.ResourcePods: *resource.NewQuantity(int64(spec.KubeletMaxPods), resource.DecimalSI),
		corev1.ResourceCPU:  *resource.NewQuantity(int64(spec.VCPUs), resource.DecimalSI),
	}
	if spec.BranchCapacity > 0 {
		capacity["vpc.amazonaws.com/pod-eni"] = *resource.NewQuantity(int64(spec.BranchCapacity), resource.DecimalSI)
	}
	k.setNode(corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.NodeName, Labels: labels, CreationTimestamp: metav1.NewTime(time.Now().Add(-36 * time.Hour))},
		Spec:       corev1.NodeSpec{ProviderID: "aws:///us-west-2a/i-0d3c5e7a9b1f24680"},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	})
	var env []corev1.EnvVar
	for _, key := range sortedEnvKeys(spec.Env) {
		env = append(env, corev1.EnvVar{Name: key, Value: spec.Env[key]})
	}
	env = append(env, corev1.EnvVar{Name: "MY_NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}})
	k.putPod(corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "aws-node-7xk2p", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "aws-node"}},
		Spec: corev1.PodSpec{NodeName: n.NodeName, HostNetwork: true, Containers: []corev1.Container{
			{Name: "aws-node", Image: "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:" + spec.CNIVersion + "-eksbuild.1", Env: env},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.20.33.17"},
	})
	for i := 1; i < spec.HostNetworkPods; i++ { // aws-node is one of them
		k.putPod(corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-" + strconv.Itoa(i), Namespace: "kube-system"},
			Spec:       corev1.PodSpec{NodeName: n.NodeName, HostNetwork: true, Containers: []corev1.Container{{Name: "kube-proxy", Image: "kube-proxy"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.20.33.17"},
		})
	}
	n.syncPods()
	return nil
}

// syncPods mirrors the simulated workload pods into the simulated API server.
func (n *Node) syncPods() {
	want := n.sim.podViews()
	have := n.kube.podsIn("shop")
	seen := map[string]bool{}
	for _, pv := range want {
		seen[pv.name] = true
		if cur, ok := have[pv.name]; ok && cur.Status.PodIP == pv.ip {
			continue
		}
		p := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: pv.name, Namespace: pv.namespace, CreationTimestamp: metav1.NewTime(pv.created)},
			Spec:       corev1.PodSpec{NodeName: n.NodeName, Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodPending, PodIP: pv.ip},
		}
		if pv.ip != "" {
			p.Status.Phase = corev1.PodRunning
		}
		if pv.branch {
			q := *resource.NewQuantity(1, resource.DecimalSI)
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"vpc.amazonaws.com/pod-eni": q},
				Limits:   corev1.ResourceList{"vpc.amazonaws.com/pod-eni": q},
			}
		}
		n.kube.putPod(p)
	}
	for name := range have {
		if !seen[name] {
			n.kube.deletePod("shop", name)
		}
	}
}

func sortedEnvKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteBundle writes the simulated node's current state as an EKS log-collector bundle
// directory (the layout eks-log-collector.sh produces), for `diagnose --bundle` tests and
// examples.
func (n *Node) WriteBundle(dir string) error {
	n.sim.logs.flush()
	s := n.sim
	files := map[string][]byte{
		"ipamd/enis.json":                      s.enisJSON(),
		"ipamd/metrics.json":                   s.metricsText(),
		"ipamd/pods.json":                      []byte(`{"AvailableCommands":["/v1/enis","/v1/eni-configs","/v1/ipamd-env-settings","/v1/networkutils-env-settings"]}`),
		"ipamd/eni-configs.json":               s.eniConfigJSON(),
		"ipamd/ipamd-env-settings.json":        s.ipamdEnvJSON(),
		"ipamd/networkutils-env-settings.json": networkUtilsEnvJSON(),
		"kubelet/kubelet-config.json":          []byte(fmt.Sprintf(`{"kind":"KubeletConfiguration","apiVersion":"kubelet.config.k8s.io/v1beta1","maxPods":%d,"clusterDNS":["172.20.0.10"]}`, n.Spec.KubeletMaxPods)),
		"system/instance-id.txt":               []byte("i-0d3c5e7a9b1f24680\n"),
		"system/region.txt":                    []byte("us-west-2\n"),
		"system/availability-zone.txt":         []byte("us-west-2a\n"),
	}
	var env []string
	for _, k := range sortedEnvKeys(n.Spec.Env) {
		env = append(env, k+"="+n.Spec.Env[k])
	}
	cni, err := json.MarshalIndent(map[string]any{
		"ID":        "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
		"Image":     "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:" + n.Spec.CNIVersion + "-eksbuild.1",
		"CreatedAt": "2026-11-24T08:00:00.000000000Z",
		"Spec":      map[string]any{"ociVersion": "1.1.0", "process": map[string]any{"env": env, "cwd": "/app"}},
	}, "", "    ")
	if err != nil {
		return err
	}
	files["cni/cni-configuration-variables-containerd.json"] = cni
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	logDir := filepath.Join(dir, "var_log", "aws-routed-eni")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	for _, src := range []string{n.IPAMDLog, n.PluginLog} {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(logDir, filepath.Base(src)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
