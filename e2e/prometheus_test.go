package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/alerts"
	"github.com/ipamwatch/ipamwatch/dashboards"
	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// expectedAlerts are the alerts each failing scenario must fire on its node: the alert of the
// scenario's finding cause plus the symptoms and ceilings the scenario also shows.
var expectedAlerts = map[string][]string{
	"subnet-exhausted":        {"IpamwatchSubnetExhausted", "IpamwatchPodIPAllocationFailing"},
	"prefix-fragmented":       {"IpamwatchPrefixFragmented"},
	"eni-limit":               {"IpamwatchENILimitPodsWaiting", "IpamwatchIPPoolNearCeiling", "IpamwatchMaxPodsAboveIPCapacity", "IpamwatchPodIPAllocationFailing"},
	"max-pods-not-raised":     {"IpamwatchMaxPodsNotRaised"},
	"max-pods-too-high":       {"IpamwatchMaxPodsAboveIPCapacity"},
	"custom-networking-stale": {"IpamwatchCustomNetworkingNotApplied"},
	"throttled":               {"IpamwatchEC2Throttled"},
	"branch-eni":              {"IpamwatchBranchENIBudgetLow"},
	"warm-conflict":           {"IpamwatchWarmTargetConflict"},
}

// mayAlsoFire are alerts a failing scenario may fire besides the expected ones, with the reason
// (symptoms of the same outage). Any other alert firing on a failing node fails the test, so a
// new false positive does not go unnoticed.
var mayAlsoFire = map[string]map[string]string{
	"branch-eni": {
		"IpamwatchMaxPodsAboveIPCapacity": "the trunk ENI carries no pod IPs: 18 pod IPs for max-pods 29",
	},
	"custom-networking-stale": {
		"IpamwatchMaxPodsAboveIPCapacity": "with custom networking the primary ENI carries no pod IPs: 18 pod IPs for max-pods 29",
	},
	"max-pods-too-high": {
		"IpamwatchIPPoolNearCeiling":      "36 pods want 27 pod IPs: the pool is full at the ENI ceiling",
		"IpamwatchENILimitPodsWaiting":    "all 3 ENIs of the m5.large are full and pods wait: the ENI limit binds",
		"IpamwatchPodIPAllocationFailing": "the pods beyond 27 wait for an IP",
	},
	"prefix-fragmented": {
		"IpamwatchPodIPAllocationFailing": "pods wait for the /28 prefix EC2 cannot delegate",
	},
	"throttled": {
		"IpamwatchPodIPAllocationFailing": "the pool cannot grow while pods scale up",
	},
}

// quietScenarios must fire no alert at all.
var quietScenarios = []string{"healthy", "ipv6", "subnet-hours-left"}

// skippedScenarios are not run, with the reason.
var skippedScenarios = map[string]string{
	"large": "a load scenario (480 pods, 180 log lines/s) for benchmarks, with no finding to alert on; too heavy for shared CI cores",
}

// subnetAlerts are the cluster-level alerts the fake EC2 layout must fire: scenario whose node
// subnet they concern -> alert.
var subnetAlerts = map[string]string{
	"subnet-exhausted":  "IpamwatchSubnetFreeAddressesLow",    // 6 of 256 addresses free
	"prefix-fragmented": "IpamwatchSubnetFreePrefixBlocksLow", // 140 free addresses, 2 whole /28s
}

// victimNode runs the healthy scenario and is stopped once scraped, for the agent-down alert.
const (
	victimNode  = "agent-down"
	victimAlert = "IpamwatchAgentDown"
)

// Bounds: generous, since CI shares two cores; the test never asserts how fast anything is.
const (
	alertBound = 3 * time.Minute
	pollEvery  = 2 * time.Second
)

func TestScenarioClassification(t *testing.T) {
	t.Parallel()
	// Every scenario is run (failing or quiet) or skipped with a reason, and every finding cause
	// a scenario expects that has an alert is among the alerts expected for it.
	causeAlert := map[string]string{}
	for _, a := range alerts.Build(e2eParams()).Alerts {
		if a.Cause != "" {
			causeAlert[string(a.Cause)] = a.Name
		}
	}
	known := map[string]bool{}
	for _, sc := range demo.Scenarios() {
		known[sc.Name] = true
		_, failing := expectedAlerts[sc.Name]
		quiet := slices.Contains(quietScenarios, sc.Name)
		_, skipped := skippedScenarios[sc.Name]
		if n := btoi(failing) + btoi(quiet) + btoi(skipped); n != 1 {
			t.Errorf("scenario %s: must be exactly one of failing, quiet or skipped in the e2e test (is in %d)", sc.Name, n)
		}
		if skipped {
			continue
		}
		for _, cause := range sc.Expect {
			if name, ok := causeAlert[cause]; ok && !slices.Contains(expectedAlerts[sc.Name], name) {
				t.Errorf("scenario %s expects cause %s, whose alert %s the e2e test does not expect", sc.Name, cause, name)
			}
		}
	}
	for name := range expectedAlerts {
		if !known[name] {
			t.Errorf("expectedAlerts names unknown scenario %s", name)
		}
	}
	for name := range subnetAlerts {
		if !known[name] {
			t.Errorf("subnetAlerts names unknown scenario %s", name)
		}
	}
	names := map[string]bool{}
	for _, a := range alerts.Build(e2eParams()).Alerts {
		names[a.Name] = true
	}
	check := func(sc, a string) {
		if !names[a] {
			t.Errorf("scenario %s: alert %s is not in the catalog", sc, a)
		}
	}
	check(victimNode, victimAlert)
	for sc, list := range expectedAlerts {
		for _, a := range list {
			check(sc, a)
		}
	}
	for sc, a := range subnetAlerts {
		check(sc, a)
	}
	for sc, m := range mayAlsoFire {
		if _, ok := expectedAlerts[sc]; !ok {
			t.Errorf("mayAlsoFire names %s, which is not a failing scenario", sc)
		}
		for a := range m {
			check(sc, a)
			if slices.Contains(expectedAlerts[sc], a) {
				t.Errorf("scenario %s: %s is both expected and in mayAlsoFire", sc, a)
			}
		}
	}
}

// TestPrometheusAlertmanager runs the demo scenarios under a real Prometheus evaluating the
// shipped rules and a real Alertmanager delivering to a webhook on loopback.
func TestPrometheusAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: runs a dozen processes for about two minutes")
	}
	promBin := testtools.Lookup(t, "prometheus")
	amBin := testtools.Lookup(t, "prometheus-alertmanager")
	dir := t.TempDir()
	bin := buildIpamwatch(t, dir)
	logDir := filepath.Join(dir, "logs")
	mkdir(t, logDir)

	// The webhook receiver and Alertmanager.
	hook := newWebhook()
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	amAddr := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	amData := filepath.Join(dir, "alertmanager")
	mkdir(t, amData)
	am := startProcess(t, "alertmanager", logDir, cleanEnv(), amBin,
		"--config.file="+writeAlertmanagerConfig(t, dir, hookSrv.URL+"/"),
		"--storage.path="+amData,
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=",
	)

	// The cluster-level subnet view against a fake EC2 that holds the demo's subnets.
	ec2 := fakeec2.New(t)
	subnetIDs := loadDemoSubnets(t, ec2)
	drainDemoSubnets(t.Context(), t, ec2)
	subnetsAddr := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	awsDir := t.TempDir()
	subnetsProc := startProcess(t, "subnets", logDir, cleanEnv(
		"AWS_ACCESS_KEY_ID=AKIDE2EFAKE", "AWS_SECRET_ACCESS_KEY=e2e-fake-secret", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(awsDir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(awsDir, "credentials"),
	), bin, "subnets",
		"--subnet-ids", strings.Join(subnetIDs, ","), "--region", "us-west-2", "--ec2-endpoint", ec2.URL,
		"--leader-elect=false", "--poll-interval", "30s", "--web.listen-address", subnetsAddr, "--log.format", "logfmt")

	// One demo process per scenario, plus the victim.
	var runs []string
	for _, sc := range demo.Scenarios() {
		if reason, ok := skippedScenarios[sc.Name]; ok {
			t.Logf("scenario %s not run: %s", sc.Name, reason)
			continue
		}
		runs = append(runs, sc.Name)
	}
	type demoRun struct {
		node, scenario string
		addr           string
		proc           *process
	}
	var demos []*demoRun
	var targets []target
	t0 := time.Now()
	for _, name := range append(runs, victimNode) {
		scenario := name
		if name == victimNode {
			scenario = "healthy"
		}
		d := &demoRun{node: name, scenario: scenario, addr: fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))}
		d.proc = startProcess(t, "demo-"+name, logDir, cleanEnv(), bin, "demo",
			"--scenario", scenario, "--web.listen-address", d.addr, "--duration", "8m", "--report-after", "0")
		demos = append(demos, d)
		targets = append(targets, target{addr: d.addr, node: name})
	}

	promAddr := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	promData := filepath.Join(dir, "prometheus")
	mkdir(t, promData)
	prom := startProcess(t, "prometheus", logDir, cleanEnv(), promBin,
		"--config.file="+writePrometheusConfig(t, dir, targets, subnetsAddr, amAddr),
		"--storage.tsdb.path="+promData,
		"--web.listen-address="+promAddr,
	)

	ctx, cancel := context.WithTimeout(context.Background(), alertBound+2*time.Minute)
	defer cancel()
	startCtx, startCancel := context.WithTimeout(ctx, time.Minute)
	for _, w := range []struct {
		p   *process
		url string
	}{
		{am, "http://" + amAddr + "/-/ready"},
		{prom, "http://" + promAddr + "/-/ready"},
		{subnetsProc, "http://" + subnetsAddr + "/metrics"},
	} {
		if err := waitHTTP(startCtx, w.p, w.url); err != nil {
			startCancel()
			t.Fatal(err)
		}
	}
	for _, d := range demos {
		if err := waitHTTP(startCtx, d.proc, "http://"+d.addr+"/metrics"); err != nil {
			startCancel()
			t.Fatal(err)
		}
	}
	startCancel()
	t.Logf("%d demo nodes, subnets view, Prometheus and Alertmanager up %s after start", len(demos), time.Since(t0).Round(100*time.Millisecond))

	pc := newAPIClient("http://" + promAddr)
	ac := newAPIClient("http://" + amAddr)

	// What must happen: every expected alert fires in Prometheus and reaches the webhook (or is
	// shown suppressed by a shipped inhibit rule), and the victim's agent-down alert does too.
	want := map[alertKey]bool{}
	// listed: a subnet or cluster alert must name these scenarios' nodes in its description.
	listed := map[alertKey][]string{}
	for sc, list := range expectedAlerts {
		for _, a := range list {
			k := scenarioKey(t, a, sc)
			want[k] = true
			if k.on != sc {
				listed[k] = append(listed[k], sc)
			}
		}
	}
	for sc, a := range subnetAlerts {
		want[scenarioKey(t, a, sc)] = true
	}
	victimKey := alertKey{victimAlert, victimNode}
	want[victimKey] = true
	inhibitions := inhibitionsToCheck(t, want)

	firstFiring := map[alertKey]time.Time{}
	activeAt := map[alertKey]time.Time{}
	var victimStopped time.Time
	var lastAlerts []promAlert
	var lastAM map[alertKey]amAlert
	promDesc := map[alertKey]string{} // the latest description Prometheus rendered per alert
	deadline := time.Now().Add(alertBound)
	for {
		pa, err := pc.alerts(ctx)
		if err != nil {
			t.Fatalf("reading Prometheus alerts: %v", err)
		}
		lastAlerts = pa
		now := time.Now()
		for _, a := range pa {
			k := keyOf(a.Labels)
			if d := a.Annotations["description"]; d != "" {
				promDesc[k] = d
			}
			if a.State == "firing" {
				if _, ok := firstFiring[k]; !ok {
					firstFiring[k], activeAt[k] = now, a.ActiveAt
				}
			}
		}
		ams, err := ac.amAlerts(ctx)
		if err != nil {
			t.Fatalf("reading Alertmanager alerts: %v", err)
		}
		lastAM = map[alertKey]amAlert{}
		for _, a := range ams {
			lastAM[keyOf(a.Labels)] = a
		}
		// Stop the victim once Prometheus has scraped it, so that its absence is a change.
		if victimStopped.IsZero() {
			r, err := pc.instant(ctx, fmt.Sprintf(`up{job=%q,node=%q} == 1`, e2eParams().Job, victimNode))
			if err != nil {
				t.Fatalf("querying the victim's up: %v", err)
			}
			if len(r.Result) > 0 {
				for _, d := range demos {
					if d.node == victimNode {
						if err := d.proc.stop(); err != nil {
							t.Fatalf("stopping the victim: %v", err)
						}
					}
				}
				victimStopped = time.Now()
				t.Logf("stopped node %s %s after start", victimNode, victimStopped.Sub(t0).Round(time.Second))
			}
		}
		missing := missingAlerts(want, firstFiring, hook, lastAM, inhibitions)
		for k, scs := range listed {
			for _, sc := range scs {
				if !listsNode(promDesc[k], sc) {
					missing = append(missing, fmt.Sprintf("%s: the description does not list node %s yet (%q)", k, sc, promDesc[k]))
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s, not every expected alert fired and was delivered:\n  %s", alertBound, strings.Join(missing, "\n  "))
			logAlerts(t, lastAlerts)
			break
		}
		for _, d := range demos {
			if ok, err := d.proc.exited(); ok && d.node != victimNode {
				t.Fatalf("demo %s exited early (%v):\n%s", d.node, err, d.proc.tail(2000))
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(pollEvery):
		}
	}

	// (a) report: per scenario what fired and when, relative to the start of the demo processes.
	delivered, problems, posts := hook.snapshot()
	for _, p := range problems {
		t.Errorf("webhook: %s", p)
	}
	t.Logf("webhook received %d posts, %d distinct firing alerts", posts, len(delivered))
	byOn := map[string][]alertKey{}
	for k := range firstFiring {
		byOn[k.on] = append(byOn[k.on], k)
	}
	var ons []string
	for on := range byOn {
		ons = append(ons, on)
	}
	sort.Strings(ons)
	for _, on := range ons {
		keys := byOn[on]
		sort.Slice(keys, func(i, j int) bool { return keys[i].alert < keys[j].alert })
		var parts []string
		for _, k := range keys {
			s := fmt.Sprintf("%s firing +%s (active +%s)", strings.TrimPrefix(k.alert, "Ipamwatch"),
				firstFiring[k].Sub(t0).Round(time.Second), activeAt[k].Sub(t0).Round(time.Second))
			if d, ok := delivered[k]; ok {
				s += fmt.Sprintf(" delivered +%s", d.Sub(t0).Round(time.Second))
			} else if a, ok := lastAM[k]; ok && a.Status.State == "suppressed" {
				s += " suppressed by inhibition"
			}
			if _, ok := mayAlsoFire[k.on][k.alert]; ok {
				s += " [allowed extra]"
			} else if !want[k] {
				s += " [UNEXPECTED]"
			}
			parts = append(parts, s)
		}
		t.Logf("%s: %s", on, strings.Join(parts, "; "))
		for _, k := range keys {
			if d := hook.description(k); d != "" && want[k] {
				t.Logf("  %s: %s", k.alert, d)
			}
		}
	}
	for k := range firstFiring {
		// A subnet or cluster alert stands for the nodes its description lists.
		ons := []string{k.on}
		if _, node := demoNode(k.on); !node {
			ons = nil
			for _, sc := range append(append([]string{}, runs...), victimNode) {
				if listsNode(promDesc[k], sc) {
					ons = append(ons, sc)
				}
			}
		}
		for _, on := range ons {
			if want[k] && (k.on == on || slices.Contains(listed[k], on) || !slices.Contains(quietScenarios, on)) {
				continue
			}
			if reason, ok := mayAlsoFire[on][k.alert]; ok {
				t.Logf("%s fired on %s besides the expected alerts: allowed, %s", k, on, reason)
				continue
			}
			t.Errorf("%s fired on %s, which is neither expected nor listed in mayAlsoFire (description %q)", k, on, promDesc[k])
		}
	}
	if t.Failed() {
		return
	}

	// (b) the quiet nodes fire nothing. Every alert above needed the same evaluations, so the
	// quiet nodes had as long to go wrong.
	pa, err := pc.alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range pa {
		node := a.Labels["node"]
		if node == "" {
			for _, q := range quietScenarios {
				if a.State == "firing" && listsNode(a.Annotations["description"], q) {
					t.Errorf("quiet node %s is listed by the firing alert %s: %s", q, a.Labels["alertname"], a.Annotations["description"])
				}
			}
			continue
		}
		if !slices.Contains(quietScenarios, node) {
			continue
		}
		if a.State == "firing" {
			t.Errorf("quiet node %s: alert %s is firing (labels %v, value %s)", node, a.Labels["alertname"], a.Labels, a.Value)
		} else {
			t.Logf("quiet node %s: alert %s is %s", node, a.Labels["alertname"], a.State)
		}
	}
	delivered, _, _ = hook.snapshot()
	for k := range delivered {
		if slices.Contains(quietScenarios, k.on) {
			t.Errorf("quiet node %s: %s was delivered to the webhook", k.on, k.alert)
		}
	}
	for _, on := range quietScenarios {
		if len(byOn[on]) == 0 {
			t.Logf("%s: no alert fired (as expected)", on)
		}
	}

	// (c) every dashboard query returns data. The forecast needs two polls of the subnet view
	// (--poll-interval 30s, its least allowed) that differ: wait for them on slow machines.
	testtools.WaitForNoError(t, 90*time.Second, "a subnet forecast from two polls of the subnet view", func() error {
		// As the panels ask: a range query (its steps on whole seconds) and an instant one.
		r, err := pc.rangeQuery(ctx, alerts.RecordExhaustion, 2*time.Minute, 10*time.Second)
		if err == nil && len(r.Result) > 0 {
			r, err = pc.instant(ctx, alerts.RecordExhaustion)
		}
		if err == nil && len(r.Result) == 0 {
			err = errors.New("no series yet")
		}
		return err
	})
	checkDashboardQueries(ctx, t, pc, append(runs, victimNode))
}

// inhibition is a shipped inhibit rule whose source and target both fire here.
type inhibition struct{ source, target alertKey }

var alertnameMatcher = regexp.MustCompile(`^alertname=~?"([A-Za-z0-9_|]+)"$`)

// inhibitionsToCheck returns the shipped inhibit rules this run exercises: whenever an expected
// source alert and an expected target alert stand for the same node or subnet (equal: [..,
// node] or [.., subnet_id]), or the target is the cluster's (equal: [cluster]), the target must
// end up suppressed while the source fires. The cluster label compares equal (no alert has it).
func inhibitionsToCheck(t *testing.T, want map[alertKey]bool) []inhibition {
	t.Helper()
	var ex struct {
		InhibitRules []struct {
			Source []string `json:"source_matchers"`
			Target []string `json:"target_matchers"`
			Equal  []string `json:"equal"`
		} `json:"inhibit_rules"`
	}
	if err := yaml.Unmarshal([]byte(alerts.AlertmanagerExample()), &ex); err != nil {
		t.Fatalf("parsing alerts.AlertmanagerExample: %v", err)
	}
	var out []inhibition
	for _, r := range ex.InhibitRules {
		if len(r.Source) != 1 || len(r.Target) != 1 {
			t.Logf("inhibit rule %v -> %v: not one alertname matcher each, not checked", r.Source, r.Target)
			continue
		}
		s, tg := alertnameMatcher.FindStringSubmatch(r.Source[0]), alertnameMatcher.FindStringSubmatch(r.Target[0])
		if s == nil || tg == nil {
			t.Logf("inhibit rule %v -> %v: matchers not on alertname, not checked", r.Source, r.Target)
			continue
		}
		perCluster := slices.Equal(r.Equal, []string{"cluster"})
		for k := range want {
			if !slices.Contains(strings.Split(s[1], "|"), k.alert) {
				continue
			}
			for _, target := range strings.Split(tg[1], "|") {
				tk := alertKey{target, k.on}
				if perCluster {
					tk.on = "cluster"
				}
				if want[tk] {
					out = append(out, inhibition{source: k, target: tk})
				}
			}
		}
	}
	return out
}

// scenarioKey is the key of the instance of alert a that a scenario's node fires: the node's
// own, its subnet's, or the cluster's.
func scenarioKey(t *testing.T, a, scenario string) alertKey {
	t.Helper()
	for _, al := range alerts.Build(e2eParams()).Alerts {
		if al.Name != a {
			continue
		}
		switch al.Per() {
		case "subnet":
			s, err := demo.Lookup(scenario)
			if err != nil {
				t.Fatal(err)
			}
			return alertKey{a, "subnet_id=" + s.NodeSubnet.ID}
		case "cluster":
			return alertKey{a, "cluster"}
		}
		return alertKey{a, scenario}
	}
	t.Fatalf("alert %s is not in the catalog", a)
	return alertKey{}
}

// demoNode reports whether an alert key's "on" is a node (not a subnet or the cluster).
func demoNode(on string) (string, bool) {
	return on, on != "cluster" && !strings.HasPrefix(on, "subnet_id=")
}

// listsNode reports whether a subnet or cluster alert's description lists the node.
func listsNode(description, node string) bool {
	_, list, ok := strings.Cut(description, ": ")
	if !ok {
		return false
	}
	list, _, _ = strings.Cut(list, ".")
	for _, n := range strings.Split(strings.TrimSpace(strings.Split(list, " (")[0]), ", ") {
		if n == node {
			return true
		}
	}
	return false
}

// missingAlerts lists what still has to happen.
func missingAlerts(want map[alertKey]bool, firing map[alertKey]time.Time, hook *webhook, am map[alertKey]amAlert, inh []inhibition) []string {
	inhibited := map[alertKey]alertKey{}
	for _, i := range inh {
		inhibited[i.target] = i.source
	}
	var out []string
	for k := range want {
		if _, ok := firing[k]; !ok {
			out = append(out, k.String()+": not firing in Prometheus")
			continue
		}
		if _, ok := hook.delivered(k); ok {
			continue
		}
		if _, ok := inhibited[k]; ok && am[k].Status.State == "suppressed" {
			continue
		}
		out = append(out, k.String()+": firing but not delivered to the webhook")
	}
	for _, i := range inh {
		a, ok := am[i.target]
		if !ok || a.Status.State != "suppressed" || len(a.Status.InhibitedBy) == 0 {
			state := "absent from Alertmanager"
			if ok {
				state = a.Status.State
			}
			out = append(out, fmt.Sprintf("%s: should be inhibited by %s (shipped inhibit rule), Alertmanager says %s", i.target, i.source, state))
		}
	}
	sort.Strings(out)
	return out
}

func logAlerts(t *testing.T, as []promAlert) {
	t.Helper()
	var lines []string
	for _, a := range as {
		lines = append(lines, fmt.Sprintf("%s %s active since %s value %s", keyOf(a.Labels), a.State, a.ActiveAt.Format(time.TimeOnly), a.Value))
	}
	sort.Strings(lines)
	t.Logf("Prometheus alerts now:\n  %s", strings.Join(lines, "\n  "))
}

// needsHistory says why a dashboard query cannot have data within this test's minute of
// history, or "" when it must. The node count a forecast window ago (an offset of
// ForecastWindow, two hours by default) does not exist yet; promtool checks its values
// over hours of series in alerts/tests/forecast.yaml.
func needsHistory(expr string) string {
	if strings.Contains(expr, alerts.RecordNodesDelta) {
		return "it compares with the node count " + e2eParams().ForecastWindow + " ago (values checked by promtool in alerts/tests/forecast.yaml)"
	}
	return ""
}

var labelValuesRE = regexp.MustCompile(`^label_values\(\s*([^,]+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// checkDashboardQueries runs every panel and variable query of every dashboard against the
// test Prometheus, expanded for a node and a subnet that exist, and requires data from each.
func checkDashboardQueries(ctx context.Context, t *testing.T, pc *apiClient, nodes []string) {
	t.Helper()
	values := map[string][]string{} // variable query -> values
	for _, vq := range dashboards.VariableQueries() {
		vq = dashboards.Expand(vq, dashboards.Vars{})
		m := labelValuesRE.FindStringSubmatch(vq)
		if m == nil {
			t.Errorf("dashboard variable query %q: not label_values(metric, label); the e2e test cannot run it", vq)
			continue
		}
		vals, err := pc.labelValues(ctx, m[2], m[1])
		if err != nil {
			t.Errorf("variable query %q: %v", vq, err)
			continue
		}
		// No series here carries a cluster label: the hidden cluster variable stays on All.
		if len(vals) == 0 && m[2] != dashboards.ClusterLabel {
			t.Errorf("variable query %q returned no values", vq)
		}
		values[m[2]] = vals
		t.Logf("variable %s: %d values", vq, len(vals))
	}
	// The node variable must offer every scraped node, including the one whose agent stopped.
	for _, n := range nodes {
		if !slices.Contains(values["node"], n) {
			t.Errorf("node variable lacks node %s (has %v)", n, values["node"])
		}
	}
	subnets := values["subnet_id"]
	if len(subnets) == 0 {
		t.Fatalf("no subnet values to expand $subnet with")
	}

	// Try healthy first: a query that has data there is the common case.
	order := append([]string{"healthy"}, nodes...)
	var ok, failed int
	for _, q := range dashboards.Queries() {
		where := q.Dashboard + " / " + q.Panel + " / " + q.RefID
		var candidates []dashboards.Vars
		switch {
		case strings.Contains(q.Expr, "$node"):
			for _, n := range order {
				candidates = append(candidates, dashboards.Vars{Node: n})
			}
		case strings.Contains(q.Expr, "$subnet"):
			for _, s := range subnets {
				candidates = append(candidates, dashboards.Vars{Subnet: regexp.QuoteMeta(s)})
			}
		default:
			candidates = []dashboards.Vars{{}}
		}
		var got string
		var lastErr error
		for _, v := range candidates {
			expr := dashboards.Expand(q.Expr, v)
			if strings.Contains(expr, "$") {
				t.Errorf("%s: %q still has a variable after expansion: %s", where, q.Expr, expr)
				break
			}
			var r promResult
			var err error
			if q.Instant {
				r, err = pc.instant(ctx, expr)
			} else {
				r, err = pc.rangeQuery(ctx, expr, 2*time.Minute, 10*time.Second)
			}
			if err != nil {
				lastErr = err
				break // a query error does not depend on the node
			}
			if len(r.Result) > 0 {
				got = fmt.Sprintf("node=%q subnet=%q: %d series", v.Node, v.Subnet, len(r.Result))
				break
			}
		}
		switch {
		case lastErr != nil:
			failed++
			t.Errorf("%s: %s: %v", where, q.Expr, lastErr)
		case got == "" && needsHistory(q.Expr) != "":
			ok++
			t.Logf("ok %s: ran without error; no data expected, %s", where, needsHistory(q.Expr))
		case got == "":
			failed++
			t.Errorf("%s: %s returned no data for any node or subnet", where, q.Expr)
		default:
			ok++
			t.Logf("ok %s (%s)", where, got)
		}
	}
	t.Logf("dashboard queries: %d returned data, %d failed", ok, failed)
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
