package commandtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/kubetest"
	"github.com/ipamwatch/ipamwatch/internal/shellcheck"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// wrappers come before every script. They make it fail on the first failing command (the
// scripts as printed go on after one; a test must not), send aws to the fake, and give
// ipamwatch's EC2 lookups the fake's endpoint. kubectl is the real one on PATH.
const wrappers = `set -euo pipefail
trap 'echo "commandtest: exit status $? from: $BASH_COMMAND" >&2' ERR
` + awsFunc + `ipamwatch() {
  case " $* " in
  *" subnets "*|*" --instance-type "*|*" --all "*) "$COMMANDTEST_IPAMWATCH" "$@" --ec2-endpoint "$COMMANDTEST_AWS_ENDPOINT" ;;
  *) "$COMMANDTEST_IPAMWATCH" "$@" ;;
  esac
}
`

// scriptRig is everything a script runs against.
type scriptRig struct {
	w       world
	kube    *kubetest.Server
	kubelet *kubelet
	env     []string
	demoMu  sync.Mutex
	demos   map[string]*demoNode // by demo scenario
	// cluster is held exclusively by a script that may change the cluster (it leaves it reset)
	// and shared by scripts that only read it.
	cluster sync.RWMutex
	// kubeletMu is held by a script whose commands reach the kubelet stand-in (debug, logs,
	// port-forward, ...): the stand-in has one target demo node and records requests without
	// knowing whose they are, and port-forward binds the fixed local port 9713.
	kubeletMu sync.Mutex
	dir       string
	bin       string   // ipamwatch
	applied   *applied // clusterYAML's objects, for reset
	// root is the test that owns the rig: demo nodes and agents live until it ends, not
	// only for the subtest that started them.
	root *testing.T
	// noPrometheus is an address where nothing listens, for scripts run without a Prometheus
	// (and not a Prometheus another program on the machine may run on :9090).
	noPrometheus string
}

func newRig(t *testing.T) *scriptRig {
	t.Helper()
	awsEnvironment := awsEnv(t)
	w := demoWorld(t)
	srv := kubetest.Start(t)
	kl := startKubelet(t, w.Node, srv.Client())
	w.loadCluster(t, srv, kl.port())
	r := &scriptRig{w: w, kube: srv, kubelet: kl, applied: trackApplied(t, srv, w.render(t, clusterYAML)), demos: map[string]*demoNode{}, dir: t.TempDir(), root: t,
		noPrometheus: fmt.Sprintf("http://127.0.0.1:%d", testtools.FreePort(t))}
	bin := buildIpamwatch(t, r.dir)
	r.bin = bin
	env := awsEnvironment
	for _, kv := range srv.Env() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "KUBECACHEDIR=") || strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	env = append(env, "COMMANDTEST_IPAMWATCH="+bin)
	r.env = env
	healthy := r.demo(t, "healthy")
	log, err := os.ReadFile(healthy.ipamdLog)
	if err != nil {
		t.Fatal(err)
	}
	kl.setLog("kube-system", awsNodePod, "aws-node", string(log))
	kl.setLog("ipamwatch", ipamwatchPod, "ipamwatch", agentLog)
	kl.setLog("ipamwatch", ipamwatchPod, "ipamwatch#previous", agentPreviousLog)
	kl.setLog("ipamwatch", subnetsPod, "subnets", subnetsLog)
	return r
}

// The ipamwatch pod's log lines (the agent's slog JSON), now and before its last restart.
const (
	agentLog         = `{"time":"2026-11-26T02:14:05Z","level":"INFO","msg":"serving","address":"0.0.0.0:9713"}` + "\n"
	subnetsLog       = `{"time":"2026-11-26T02:14:05Z","level":"INFO","msg":"became leader","lease":"ipamwatch/ipamwatch-subnets"}` + "\n"
	agentPreviousLog = `{"time":"2026-11-26T02:09:41Z","level":"ERROR","msg":"ipamd source failing","source":"ipamd","err":"dial tcp 127.0.0.1:61679: connect: connection refused"}` + "\n"
)

// buildIpamwatch builds the CLI from this module.
func buildIpamwatch(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "ipamwatch")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ipamwatch")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ipamwatch: %v\n%s", err, out)
	}
	return bin
}

type demoNode struct {
	nodeEndpoints
	ipamdLog string
}

// demo starts (once) a demo node of the scenario, stepped 60 simulated seconds so that its
// failure has shown, and returns its endpoints.
func (r *scriptRig) demo(_ *testing.T, scenario string) *demoNode {
	t := r.root
	t.Helper()
	r.demoMu.Lock()
	defer r.demoMu.Unlock()
	if d, ok := r.demos[scenario]; ok {
		return d
	}
	spec, err := demo.Lookup(scenario)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 26, 2, 14, 0, 0, time.UTC)
	dir := filepath.Join(r.dir, "demo-"+scenario)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := demo.Start(context.Background(), spec, dir, demo.Options{Manual: true, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatalf("demo %s: %v", scenario, err)
	}
	t.Cleanup(n.Close)
	for range 60 {
		clock = clock.Add(time.Second)
		n.Step(context.Background(), clock)
	}
	root := filepath.Join(dir, "host")
	logs := filepath.Join(root, "var", "log", "aws-routed-eni")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{n.IPAMDLog, n.PluginLog} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(logs, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := &demoNode{nodeEndpoints{metrics: strings.TrimSuffix(n.CNIMetricsURL, "/metrics"), ipamd: n.IPAMDAddress, imds: n.IMDSEndpoint,
		hostRoot: root, agent: r.startAgent(scenario)}, n.IPAMDLog}
	r.demos[scenario] = d
	return d
}

// startAgent runs `ipamwatch demo` (the real agent on a demo node of the scenario) on a free
// port, stopped by PID when the test ends, and returns its address.
func (r *scriptRig) startAgent(scenario string) string {
	t := r.root
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	cmd := exec.Command(r.bin, "demo", "--scenario", scenario, "--web.listen-address", addr, "--report-after", "0", "--log.level", "error")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	// Ends with the test binary even if it dies before its cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("ipamwatch demo --scenario %s: %v", scenario, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return addr
}

// waitFinding waits until the agent's /diagnosis reports cause (the demo needs some seconds
// of simulated failures first); false if it does not within 90 s.
func waitFinding(t *testing.T, agent string, cause diagnosis.Cause) bool {
	t.Helper()
	return waitFindingFor(t, agent, cause, 90*time.Second)
}

// waitFindingFor is waitFinding with a deadline (0: ask once).
func waitFindingFor(t *testing.T, agent string, cause diagnosis.Cause, wait time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(wait)
	var last string
	for first := true; first || time.Now().Before(deadline); first = false {
		resp, err := http.Get("http://" + agent + "/diagnosis")
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			last = string(b)
			if strings.Contains(strings.Join(strings.Fields(last), ""), `"cause":"`+string(cause)+`"`) {
				return true
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return false
}

// freeCIDR is the /28 a person picks for a prefix reservation in the subnet a script works on:
// the world's free one in the world's node subnet, else the last /28 of the scenario's subnet
// (what a runbook finds from the agent of that scenario).
func freeCIDR(w world, scenario string) string {
	spec, err := demo.Lookup(scenario)
	if err != nil || spec.NodeSubnet.ID == "" || spec.NodeSubnet.ID == w.NodeSubnet {
		return w.FreeCIDR
	}
	p, err := netip.ParsePrefix(spec.NodeSubnet.CIDR)
	if err != nil {
		return w.FreeCIDR
	}
	last := p.Masked().Addr().As4()
	size := uint32(1) << (32 - p.Bits())
	base := uint32(last[0])<<24 | uint32(last[1])<<16 | uint32(last[2])<<8 | uint32(last[3])
	a := base + size - 16
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}).String() + "/28"
}

// scenarioFor is the demo scenario whose node shows cause (healthy when none does).
func scenarioFor(c diagnosis.Cause) string {
	for _, s := range demo.Scenarios() {
		if slices.Contains(s.Expect, string(c)) {
			return s.Name
		}
	}
	return "healthy"
}

// runResult is what one script did.
type runResult struct {
	stdout, stderr string
	err            error
	debugs         []debugRun
	kubeletCalls   []string
	// aws is the fake the script's aws commands reached (each run has its own, loaded with
	// the world).
	aws *fakeec2.Server
}

// readOnlyKubectl are the kubectl subcommands that change nothing the world's scripts look
// at (debug adds its own pod only).
var readOnlyKubectl = map[string]bool{"get": true, "describe": true, "logs": true, "auth": true, "port-forward": true,
	"debug": true, "top": true, "explain": true, "version": true, "api-resources": true, "events": true, "wait": true}

// kubeletKubectl are the kubectl subcommands the API server hands over to the kubelet.
var kubeletKubectl = []string{"debug", "logs", "port-forward", "exec", "attach", "cp"}

// hold takes the locks a script needs around its run and checks, and returns their release.
// A script with a kubectl subcommand that may change the cluster gets it to itself and
// leaves it as the world has it (reset); scripts that only read share it.
func (r *scriptRig) hold(t *testing.T, s script) (release func()) {
	t.Helper()
	changes := false
	for sub := range kubectlSubcommands(s.Text) {
		if !readOnlyKubectl[sub] {
			changes = true
		}
	}
	if !changes {
		r.cluster.RLock()
		return r.cluster.RUnlock
	}
	r.cluster.Lock()
	return func() {
		defer r.cluster.Unlock()
		r.reset(t)
	}
}

// run runs a script whole with bash in the world, the debug pods' host network reaching the
// demo node of scenario.
func (r *scriptRig) run(t *testing.T, s script, scenario string) runResult {
	t.Helper()
	return r.runWith(t, s, scenario, r.noPrometheus, true, r.w.FreeCIDR)
}

// runWith is run with Prometheus at prom; setNode gives a runbook block NODE and SUBNET as a
// person would set them (otherwise the block finds them from the firing alert).
// cidr is what the person sets CIDR to (a free /28 of the subnet the script works on).
func (r *scriptRig) runWith(t *testing.T, s script, scenario, prom string, setNode bool, cidr string) (res runResult) {
	t.Helper()
	target := &r.demo(t, scenario).nodeEndpoints
	subs := kubectlSubcommands(s.Text)
	if slices.ContainsFunc(kubeletKubectl, func(sub string) bool { return subs[sub] > 0 }) {
		r.kubeletMu.Lock()
		defer r.kubeletMu.Unlock()
		r.kubelet.setTarget(target)
		r.kubelet.takeDebugs()
		r.kubelet.takeRequests()
		defer func() {
			res.debugs, res.kubeletCalls = r.kubelet.takeDebugs(), r.kubelet.takeRequests()
		}()
	}
	res.aws = fakeec2.New(t) // fixes change the fake: every script starts from the world
	r.w.loadAWS(res.aws)
	env := append(slices.Clone(r.env), "COMMANDTEST_AWS_ENDPOINT="+res.aws.URL, "CLUSTER="+r.w.Cluster, "CIDR="+cidr, "PROMETHEUS="+prom)
	for _, k := range sortedKeys(r.w.personVars()) {
		env = append(env, k+"="+r.w.personVars()[k]) // what the person types where a fix block asks
	}
	if s.Situation == "runbook" && setNode {
		// The alert did not fire here: the person sets the node (and a subnet alert's subnet)
		// from the alert's labels, as the runbooks' stop lines ask.
		env = append(env, "NODE="+r.w.Node, "SUBNET="+r.w.NodeSubnet)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	res.stdout, res.stderr, res.err = bash(ctx, wrappers+s.Text, env)
	if testing.Verbose() {
		t.Logf("script:\n%s\nstdout:\n%s\nstderr:\n%s", s.Text, res.stdout, res.stderr)
	}
	return res
}

// kubectlSubcommands counts the kubectl commands of a script by subcommand (comments and
// quoted text do not count).
func kubectlSubcommands(script string) map[string]int {
	out := map[string]int{}
	cmds, err := shellcheck.Commands(script)
	if err != nil {
		return out
	}
	for _, words := range cmds {
		if words[0] != "kubectl" {
			continue
		}
		for i := 1; i < len(words); i++ {
			w := words[i]
			if w == "-n" || w == "--namespace" || w == "--context" || w == "--kubeconfig" {
				i++
				continue
			}
			if !strings.HasPrefix(w, "-") {
				out[w]++
				break
			}
		}
	}
	return out
}

var imageRe = regexp.MustCompile(`--image[= ](\S+)`)

// checkCommon checks what holds for every script: it exits 0, prints something and no None
// or null (an empty --query or JSONPath answer), every node debugging pod was bound to the
// node with the host's network and the script's image, and its command succeeded and printed
// something.
func checkCommon(t *testing.T, w world, s script, res runResult) {
	t.Helper()
	checkRun(t, w, s, res, false)
}

// checkRun is checkCommon; allowEmpty accepts a script that prints nothing (a filter for a
// finding the world's node does not have).
func checkRun(t *testing.T, w world, s script, res runResult, allowEmpty bool) {
	t.Helper()
	if res.err != nil {
		t.Errorf("%s: %v\nstderr:\n%s\nstdout:\n%s\nscript:\n%s", s.Name, res.err, res.stderr, res.stdout, s.Text)
		return
	}
	kubectlCmds := kubectlSubcommands(s.Text)
	if kubectlCmds["port-forward"] > 0 && !slices.ContainsFunc(res.kubeletCalls, func(c string) bool {
		return strings.Contains(c, " /portForward/")
	}) {
		t.Errorf("%s: kubectl port-forward never reached the kubelet; the kubelet saw %q", s.Name, res.kubeletCalls)
	}
	if noneRe.MatchString(res.stdout) || (!allowEmpty && strings.TrimSpace(res.stdout) == "") {
		t.Errorf("%s: printed nothing or None/null:\n%s\nscript:\n%s", s.Name, res.stdout, s.Text)
	}
	debugs := kubectlCmds["debug"]
	if len(res.debugs) != debugs {
		t.Errorf("%s: %d node debugging pods ran, the script has %d kubectl debug commands", s.Name, len(res.debugs), debugs)
	}
	images := imageRe.FindAllStringSubmatch(s.Text, -1)
	for i, d := range res.debugs {
		p := d.Pod
		if p.Spec.NodeName != w.Node || !p.Spec.HostNetwork || !p.Spec.HostPID || len(p.Spec.Containers) != 1 {
			t.Errorf("%s: debug pod %s: node %q hostNetwork %v hostPID %v containers %d", s.Name, p.Name, p.Spec.NodeName,
				p.Spec.HostNetwork, p.Spec.HostPID, len(p.Spec.Containers))
			continue
		}
		if i < len(images) && p.Spec.Containers[0].Image != strings.Trim(images[i][1], `'"`) {
			t.Errorf("%s: debug pod image %q, the script asks for %s", s.Name, p.Spec.Containers[0].Image, images[i][1])
		}
		if d.ExitCode != 0 || strings.TrimSpace(d.Output) == "" {
			t.Errorf("%s: the debug pod's command %q exited %d on the node's host network, printing:\n%s", s.Name,
				p.Spec.Containers[0].Command, d.ExitCode, d.Output)
		}
		if !strings.Contains(res.stdout, strings.TrimSpace(d.Output)) {
			t.Errorf("%s: kubectl debug did not print the debug pod's output %q:\n%s", s.Name, d.Output, res.stdout)
		}
	}
	if kubectlCmds["logs"] > 0 && !slices.ContainsFunc(res.kubeletCalls, func(c string) bool {
		return strings.HasPrefix(c, "GET /containerLogs/")
	}) {
		t.Errorf("%s: kubectl logs never reached the kubelet; the kubelet saw %q", s.Name, res.kubeletCalls)
	}
}

// TestScriptsRun runs every confirm script (in the live, bundle and runbook situations), every
// fix block and every runbook block, whole, with bash, against the real API server, the fake
// AWS and the ipamwatch binary. Confirms must print the world's facts (confirmWants); fixes
// must change what they say they change (fixEffects). Scripts run scriptWorkers at a time:
// one that may change the cluster has it to itself and leaves it reset (hold), one that
// reaches the kubelet stand-in has that to itself (runWith), and each has its own fake AWS.
func TestScriptsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver and runs ~100 scripts")
	}
	t.Parallel() // alongside TestAWSCommandsRun
	r := newRig(t)
	w := r.w
	all := adviceScripts(w)
	// The runbooks' Prometheus servers start ahead (a few at a time) so that their start-up and
	// the wait for their alert overlap the scripts that run before them.
	books := r.runbookGroups(t)
	books.launchAhead(0)
	// Confirms and runbooks mostly read the cluster and share it; fixes have it to
	// themselves. Runbook groups go among the confirms, so that the runbooks' port-forwards
	// (one at a time, each with its `sleep 2`) overlap the confirms, and fixes come last.
	var confirms, groups, items []scriptItem
	for _, s := range all {
		if s.Kind != "confirm" {
			continue
		}
		confirms = append(confirms, scriptItem{s.Name, func(t *testing.T) {
			defer r.hold(t, s)()
			cause := causeOf(s)
			res := r.run(t, s, scenarioFor(cause))
			checkCommon(t, w, s, res)
			if res.err != nil {
				return
			}
			wants, ok := confirmWants[cause]
			if !ok {
				t.Fatalf("confirmWants has no entry for %s", cause)
			}
			for _, want := range wants(w) {
				if !containsAnswer(res.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, res.stdout)
				}
			}
		}})
	}
	items = append(items, scriptItem{"unauthorized confirm finds each role", func(t *testing.T) { r.roleFinders(t, all) }})
	items = append(items, scriptItem{"IpamwatchAgentDown confirm when the agent never restarted", r.agentNeverRestarted})
	for _, s := range all {
		if s.Kind != "fix" {
			continue
		}
		items = append(items, scriptItem{s.Name, func(t *testing.T) {
			defer r.hold(t, s)()
			cause := causeOf(s)
			res := r.run(t, s, scenarioFor(cause))
			if res.err != nil {
				t.Fatalf("%v\nstderr:\n%s\nstdout:\n%s\nscript:\n%s", res.err, res.stderr, res.stdout, s.Text)
			}
			effect, ok := fixEffects[cause]
			if !ok {
				t.Fatalf("fixEffects has no entry for %s", cause)
			}
			if err := effect(t, r, res.aws); err != nil {
				t.Errorf("ran but did not take effect: %v\nstdout:\n%s", err, res.stdout)
			}
		}})
	}
	for i, g := range books.groups {
		groups = append(groups, scriptItem{g.alert, func(t *testing.T) {
			books.launchAhead(i)
			run := books.run(i)
			defer run.stop()
			prom := run.result()
			if !prom.fired {
				t.Logf("%s does not fire on demo scenario %s here: blocks get NODE set, as when a person looks at a node of their choice", g.alert, g.scenario)
			}
			for _, s := range g.blocks {
				t.Run(s.Name, func(t *testing.T) { r.runbookBlock(t, s, g.scenario, prom) })
			}
		}})
	}
	runItems(t, append(interleave(confirms, groups), items...), scriptWorkers)
}

// interleave returns the items of a and b in their order, spread evenly among each other.
func interleave(a, b []scriptItem) []scriptItem {
	out := make([]scriptItem, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// Take from b while it is behind a in proportion.
		if j < len(b) && (i == len(a) || j*len(a) <= i*len(b)) {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	return out
}

// scriptItem is one subtest of TestScriptsRun.
type scriptItem struct {
	name string
	f    func(t *testing.T)
}

// scriptWorkers bounds the subtests of TestScriptsRun that run at once. Most of a script's time
// is spent waiting (for the API server, a debug pod, a port-forward's `sleep 2`), and scripts
// that need the cluster or the kubelet stand-in to themselves take a lock (hold, runWith).
const scriptWorkers = 4

// runItems runs the items as subtests of t, in order, at most workers at once (t.Run may be
// called from several goroutines; go test's -parallel stays what it is for other tests).
func runItems(t *testing.T, items []scriptItem, workers int) {
	next := make(chan scriptItem)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				t.Run(it.name, it.f)
			}
		}()
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}

// runbookGroup is one runbook's blocks and the demo scenario whose agent its Prometheus scrapes.
type runbookGroup struct {
	alert, scenario string
	blocks          []script
}

// runbooks are the runbook groups in the order they run, and their Prometheus servers,
// started at most promAhead groups ahead of the one running.
type runbooks struct {
	r      *scriptRig
	groups []runbookGroup
	mu     sync.Mutex
	runs   []*promRun
}

func (b *runbooks) run(i int) *promRun {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runs[i]
}

// promAhead bounds the Prometheus servers alive at once (each scrapes and evaluates every
// second): enough that the next runbooks' alerts have fired by the time they run.
const promAhead = 4

func (r *scriptRig) runbookGroups(t *testing.T) *runbooks {
	t.Helper()
	b := &runbooks{r: r}
	index := map[string]int{}
	for _, s := range runbookScripts(t) {
		a := alertOf(s)
		i, ok := index[a]
		if !ok {
			i = len(b.groups)
			index[a] = i
			b.groups = append(b.groups, runbookGroup{alert: a, scenario: scenarioFor(s.Cause)})
		}
		b.groups[i].blocks = append(b.groups[i].blocks, s)
	}
	b.runs = make([]*promRun, len(b.groups))
	return b
}

// launchAhead starts the Prometheus servers of groups i to i+promAhead that are not running yet.
func (b *runbooks) launchAhead(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for j := i; j < min(i+promAhead+1, len(b.groups)); j++ {
		if b.runs[j] != nil {
			continue
		}
		g := b.groups[j]
		d := b.r.demo(b.r.root, g.scenario)
		// The healthy scenario raises no failure alert: no need to wait for one.
		b.runs[j] = b.r.launchPrometheus(d.agent, g.alert, g.scenario != "healthy")
	}
}

// runbookBlock runs one runbook block: the node comes from the firing alert in Prometheus
// (NODE unset) when it fired, else from NODE as a person would set it.
func (r *scriptRig) runbookBlock(t *testing.T, s script, scenario string, prom prometheus) {
	shows := scenario != "healthy"
	if strings.Contains(s.Text, "/diagnosis") && shows && !waitFinding(t, r.demo(t, scenario).agent, s.Cause) {
		t.Logf("demo scenario %s lists %s among its expected findings, but its agent does not report it: the finding filter may print nothing", scenario, s.Cause)
		shows = false
	}
	defer r.hold(t, s)()
	res := r.runWith(t, s, scenario, prom.url, !prom.fired, freeCIDR(r.w, scenario))
	if res.err != nil && !prom.fired {
		t.Skipf("%s did not fire in this test's Prometheus (its demo scenario %s does not raise it), and the block needs it: %s",
			alertOf(s), scenario, strings.TrimSpace(res.stderr[max(0, strings.LastIndex(res.stderr, "commandtest: exit status")):]))
	}
	// A cause no demo scenario shows (the healthy agent has no such finding) leaves the
	// finding filter empty: the port-forward and curl still have to work. A fix may have
	// nothing to change (kubectl set env of the value the world has).
	checkRun(t, r.w, s, res, (strings.Contains(s.Text, "/diagnosis") && !shows) || s.Section == "Fix")
	if res.err == nil && strings.Contains(s.Text, "/diagnosis") && s.Cause != "" && shows &&
		!strings.Contains(res.stdout, `"cause": "`+string(s.Cause)+`"`) {
		// The demo's workload moves: a finding can clear for a while. Only a finding the
		// agent holds right now must have come through.
		if waitFindingFor(t, r.demo(t, scenario).agent, s.Cause, 0) {
			t.Errorf("the agent's finding %s did not come through the port-forward:\n%s", s.Cause, res.stdout)
		} else {
			t.Logf("the demo agent's %s finding cleared meanwhile; the filter printed nothing", s.Cause)
		}
	}
}

// causeOf is the cause of an advice script ("advice/eni_limit.md confirm (live)").
func causeOf(s script) diagnosis.Cause {
	return diagnosis.Cause(strings.TrimSuffix(strings.TrimPrefix(strings.Fields(s.Name)[0], "advice/"), ".md"))
}

// confirmWants are the facts of the world each cause's confirm script must print.
var confirmWants = map[diagnosis.Cause]func(w world) []string{
	"aws_node_rbac_denied": func(w world) []string { return []string{"yes\nyes\nyes\nyes\n", "aws-node kube-system/aws-node"} },
	"branch_eni_exhausted": func(w world) []string { return []string{"9\n", "shop/" + branchPod, "FailedCreatePodSandBox"} },
	"custom_networking_not_applied": func(w world) []string {
		return []string{w.PodSubnet + "\n", w.eni(0) + "\t" + w.NodeSubnet + "\t0"}
	},
	"ec2_throttled": func(w world) []string {
		return []string{"RequestLimitExceeded", w.envLine("WARM_IP_TARGET"), w.envLine("CLUSTER_NAME")}
	},
	"eni_limit": func(w world) []string {
		return []string{"29\n", `"IPv4PerENI": 10`, "2\n", "awscni_eni_max "}
	},
	"eni_quota":     func(w world) []string { return []string{"5000.0\n", "3\n", availableENI} },
	"imds_failure":  func(w world) []string { return []string{`"HttpEndpoint": "enabled"`, "02:"} },
	"ip_pool_empty": func(w world) []string { return []string{`"ENIs"`, "FailedCreatePodSandBox"} },
	"ipamd_unreachable": func(w world) []string {
		return []string{awsNodePod, w.envLine("WARM_PREFIX_TARGET")}
	},
	"ipv6_mode":                     func(w world) []string { return []string{"29\n", "false\n"} },
	"max_pods_exceeds_ip_capacity":  func(w world) []string { return []string{"29\n", "max-pods", "awscni_ip_max "} },
	"max_pods_not_raised":           func(w world) []string { return []string{"29\n", "true\n", "max-pods"} },
	"prefix_delegation_unsupported": func(w world) []string { return []string{"nitro\n", "max-pods"} },
	"prefix_fragmented": func(w world) []string {
		return []string{w.NodeCIDR + "\t3980\n", "scr-0demo000000000001", w.NodeSubnet}
	},
	"subnet_exhausted": func(w world) []string { return []string{w.NodeCIDR + "\t3980\n", availableENI + "\t10.20.35.9\n"} },
	"unauthorized": func(w world) []string {
		return []string{"aws-node uses " + w.roleARN(w.IRSARole) + "\n", "eks-demo-readonly\n", "deny-eni-writes\n", w.Boundary + "\n",
			"ec2:AssignPrivateIpAddresses\texplicitDeny\n"}
	},
	"warm_pool_capped": func(w world) []string {
		return []string{w.envLine("MINIMUM_IP_TARGET") + w.envLine("WARM_IP_TARGET"), "awscni_total_ip_addresses "}
	},
	"warm_pool_hoarding": func(w world) []string {
		return []string{"awscni_assigned_ip_addresses ", w.envLine("WARM_PREFIX_TARGET")}
	},
	"warm_target_conflict": func(w world) []string {
		return []string{w.envLine("WARM_PREFIX_TARGET"), w.envLine("WARM_IP_TARGET"), w.envLine("MINIMUM_IP_TARGET")}
	},
	// The pod, its restarts (none: no --previous log is asked for) and its log through the kubelet.
	"aws_node_not_ready": func(w world) []string {
		return []string{awsNodePod + " ", "Restart Count:  0\n", `"msg":`}
	},
	// The zone and the ENIConfig name the node is labelled with, the ENIConfigs, RBAC, and the
	// zone of the ENIConfig's subnet.
	"custom_networking_misconfigured": func(w world) []string {
		return []string{w.AZ + " " + w.ENIConfig + " \n", w.PodSubnet + "\n", "yes\n", w.AZ + "\n"}
	},
	"subnet_discovery_excluded": func(w world) []string {
		return []string{w.NodeSubnet + "\t3980\tuntagged\tno cluster tag\n", w.PodSubnet + "\t8187\tuntagged\tno cluster tag\n"}
	},
	"ip_cooldown_starvation": func(w world) []string { return []string{`"ENIs"`, w.envLine("WARM_IP_TARGET")} },
	"leaked_enis": func(w world) []string {
		return []string{availableENI + "\taws-K8S-" + goneInstanceID + "\t" + goneInstanceID + "\n"}
	},
	"cni_unknown_instance_type": func(w world) []string {
		return []string{"amazon-k8s-cni:" + w.CNIVersion + "-eksbuild.1\n", w.InstanceType + "\n"}
	},
}

// fixEffects check that a fix block changed what it says it changes.
var fixEffects = map[diagnosis.Cause]func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error{
	"custom_networking_not_applied": func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error {
		ctx := t.Context()
		node, err := r.kube.Client().CoreV1().Nodes().Get(ctx, r.w.Node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !node.Spec.Unschedulable {
			return fmt.Errorf("node %s is still schedulable", r.w.Node)
		}
		pods, err := r.kube.Client().CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(pods.Items) != 0 {
			return fmt.Errorf("drain left %d workload pods on the node", len(pods.Items))
		}
		return nil
	},
	"imds_failure": func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error {
		pods, err := r.kube.Client().CoreV1().Pods("kube-system").List(t.Context(), metav1.ListOptions{LabelSelector: "k8s-app=aws-node"})
		if err != nil {
			return err
		}
		if len(pods.Items) != 0 {
			return fmt.Errorf("aws-node pod %s was not deleted", pods.Items[0].Name)
		}
		return requestSeen(aws, "ModifyInstanceMetadataOptions", "HttpEndpoint", "enabled")
	},
	"warm_pool_capped":       envEffect("WARM_IP_TARGET", "2"),
	"warm_pool_hoarding":     envEffect("WARM_IP_TARGET", "5", "MINIMUM_IP_TARGET", "10"),
	"warm_target_conflict":   envEffect("WARM_PREFIX_TARGET", "1"),
	"ip_cooldown_starvation": envEffect("WARM_IP_TARGET", "10"),
	"aws_node_not_ready": func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error {
		_, err := r.kube.Client().CoreV1().Pods("kube-system").Get(t.Context(), awsNodePod, metav1.GetOptions{})
		if err == nil {
			return fmt.Errorf("aws-node pod %s was not deleted", awsNodePod)
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	},
	"subnet_discovery_excluded": func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error {
		return awsEffects["create-tags"](r.w, aws)
	},
	"leaked_enis": func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error {
		return awsEffects["delete-network-interface"](r.w, aws)
	},
	"cni_unknown_instance_type": func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error {
		aws.Lock()
		defer aws.Unlock()
		for _, a := range aws.Addons {
			if a.Name == "vpc-cni" && a.Version == r.w.AddonVersion && len(a.Updates) > 0 &&
				a.Updates[len(a.Updates)-1]["resolveConflicts"] == "PRESERVE" {
				return nil
			}
		}
		return fmt.Errorf("the vpc-cni add-on was not updated to %s with resolveConflicts PRESERVE", r.w.AddonVersion)
	},
	"aws_node_rbac_denied": func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error {
		aws.Lock()
		defer aws.Unlock()
		for _, a := range aws.Addons {
			if a.Name == "vpc-cni" && len(a.Updates) > 0 && a.Updates[len(a.Updates)-1]["resolveConflicts"] == "OVERWRITE" {
				return nil
			}
		}
		return fmt.Errorf("the vpc-cni add-on got no update with resolveConflicts OVERWRITE")
	},
	"prefix_fragmented": func(t *testing.T, r *scriptRig, aws *fakeec2.Server) error {
		aws.Lock()
		defer aws.Unlock()
		for _, res := range aws.Reservations {
			if res.CIDR == r.w.FreeCIDR && res.Type == "prefix" && res.SubnetID == r.w.NodeSubnet {
				return nil
			}
		}
		return fmt.Errorf("no prefix reservation of %s in %s", r.w.FreeCIDR, r.w.NodeSubnet)
	},
}

func envEffect(kv ...string) func(t *testing.T, r *scriptRig, _ *fakeec2.Server) error {
	return func(t *testing.T, r *scriptRig, _ *fakeec2.Server) error {
		ds, err := r.kube.Client().AppsV1().DaemonSets("kube-system").Get(t.Context(), "aws-node", metav1.GetOptions{})
		if err != nil {
			return err
		}
		have := map[string]string{}
		for _, c := range ds.Spec.Template.Spec.Containers {
			if c.Name == "aws-node" {
				for _, e := range c.Env {
					have[e.Name] = e.Value
				}
			}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if have[kv[i]] != kv[i+1] {
				return fmt.Errorf("aws-node env %s=%q, want %q", kv[i], have[kv[i]], kv[i+1])
			}
		}
		return nil
	}
}

// requestSeen reports whether the fake got action with form value key=value.
func requestSeen(srv *fakeec2.Server, action, key, value string) error {
	for _, req := range srv.Requests() {
		if req.Get("Action") == action && req.Get(key) == value {
			return nil
		}
	}
	return fmt.Errorf("the fake got no %s with %s=%s", action, key, value)
}

// roleFinders runs the unauthorized confirm script (live) as the role aws-node uses moves from
// IRSA to EKS Pod Identity to the node's instance role, and checks that the script finds each.
func (r *scriptRig) roleFinders(t *testing.T, all []script) {
	t.Helper()
	i := slices.IndexFunc(all, func(s script) bool { return s.Name == "advice/unauthorized.md confirm (live)" })
	if i < 0 {
		t.Fatal("no unauthorized confirm script")
	}
	// It changes aws-node's ServiceAccount and env: the cluster is its own until it is reset.
	r.cluster.Lock()
	defer func() {
		defer r.cluster.Unlock()
		r.reset(t)
	}()
	kubectl := func(args ...string) {
		t.Helper()
		if out, errs, err := r.kube.Kubectl(t, args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
		}
	}
	w := r.w
	for _, step := range []struct {
		name   string
		change []string
		role   string
	}{
		{"EKS Pod Identity (no IRSA annotation)", []string{"-n", "kube-system", "annotate", "serviceaccount", "aws-node", "eks.amazonaws.com/role-arn-"}, w.PodIdentityRole},
		{"instance role (no IRSA, no cluster name to look up Pod Identity)", []string{"-n", "kube-system", "set", "env", "daemonset/aws-node", "-c", "aws-node", "CLUSTER_NAME-"}, w.NodeRole},
	} {
		kubectl(step.change...)
		res := r.run(t, all[i], "healthy")
		checkCommon(t, w, all[i], res)
		if want := "aws-node uses " + w.roleARN(step.role) + "\n"; !strings.Contains(res.stdout, want) {
			t.Errorf("%s: %s: output lacks %q:\n%s", all[i].Name, step.name, want, res.stdout)
		}
	}
	kubectl("-n", "kube-system", "annotate", "serviceaccount", "aws-node", "eks.amazonaws.com/role-arn="+w.roleARN(w.IRSARole))
	kubectl("-n", "kube-system", "set", "env", "daemonset/aws-node", "-c", "aws-node", "CLUSTER_NAME="+w.Cluster)
}

// agentNeverRestarted runs the IpamwatchAgentDown confirm block while the ipamwatch pod's
// container has never restarted: kubectl refuses `logs --previous` then (the kubelet has no
// previous container), so the block must read the current log instead and still exit 0.
func (r *scriptRig) agentNeverRestarted(t *testing.T) {
	blocks := runbookScripts(t)
	i := slices.IndexFunc(blocks, func(s script) bool {
		return alertOf(s) == "IpamwatchAgentDown" && strings.Contains(s.Text, "--previous")
	})
	if i < 0 {
		t.Fatal("no IpamwatchAgentDown block reads the previous log")
	}
	s := blocks[i]
	r.cluster.Lock()
	defer r.cluster.Unlock()
	pods := r.kube.Client().CoreV1().Pods("ipamwatch")
	pod, err := pods.Get(t.Context(), ipamwatchPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saved := pod.Status.DeepCopy()
	for i := range pod.Status.ContainerStatuses {
		pod.Status.ContainerStatuses[i].RestartCount = 0
		pod.Status.ContainerStatuses[i].LastTerminationState = corev1.ContainerState{}
	}
	if _, err := pods.UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		p, err := pods.Get(context.Background(), ipamwatchPod, metav1.GetOptions{})
		if err == nil {
			p.Status = *saved
			_, err = pods.UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Errorf("restoring the ipamwatch pod's status: %v", err)
		}
	}()
	res := r.runWith(t, s, "healthy", r.noPrometheus, true, r.w.FreeCIDR)
	checkRun(t, r.w, s, res, false)
	for _, c := range res.kubeletCalls {
		if strings.Contains(c, "previous=true") {
			t.Errorf("%s asked for the previous log of a container that never restarted: %s", s.Name, c)
		}
	}
	if !strings.Contains(res.stdout, strings.TrimSpace(agentLog)) {
		t.Errorf("%s did not print the agent's current log:\n%s", s.Name, res.stdout)
	}
}
