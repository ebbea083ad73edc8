package e2e

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ipamwatch/ipamwatch/alerts"
	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// Timing of the test Prometheus: fast enough that the scenarios unfold in about a minute.
const (
	scrapeInterval = "2s"
	forCap         = "15s"
)

// e2eParams are the shipped alert parameters with every `for` capped and the look-back
// windows shortened, so that alerts fire within a minute of a scenario's failure.
func e2eParams() alerts.Params {
	p := alerts.DefaultParams()
	p.ForCap = forCap
	p.FailureWindow = "2m"
	p.LogStall = "2m"
	p.SubnetStale = "5m"
	return p
}

// target is one scrape target of the test Prometheus.
type target struct {
	addr string
	node string // the node label; empty for the cluster-level subnets view
}

// writePrometheusConfig writes the rules and prometheus.yml into dir and returns the config path.
func writePrometheusConfig(t *testing.T, dir string, agents []target, subnetsAddr, alertmanagerAddr string) string {
	t.Helper()
	rules, err := alerts.RulesFile(e2eParams())
	if err != nil {
		t.Fatalf("rendering the rules: %v", err)
	}
	rulesPath := filepath.Join(dir, "ipamwatch.rules.yaml")
	if err := os.WriteFile(rulesPath, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	type staticConfig struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels,omitempty"`
	}
	var agentTargets []staticConfig
	for _, a := range agents {
		agentTargets = append(agentTargets, staticConfig{Targets: []string{a.addr}, Labels: map[string]string{"node": a.node}})
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     scrapeInterval,
			"scrape_timeout":      scrapeInterval,
			"evaluation_interval": scrapeInterval,
		},
		"rule_files": []string{rulesPath},
		"alerting": map[string]any{
			"alertmanagers": []any{map[string]any{
				"static_configs": []staticConfig{{Targets: []string{alertmanagerAddr}}},
			}},
		},
		"scrape_configs": []any{
			map[string]any{"job_name": e2eParams().Job, "static_configs": agentTargets},
			map[string]any{"job_name": "ipamwatch-subnets", "static_configs": []staticConfig{{Targets: []string{subnetsAddr}}}},
		},
	}
	return writeYAML(t, filepath.Join(dir, "prometheus.yml"), cfg)
}

// writeAlertmanagerConfig routes every alert to the webhook at once (group_wait 1s) and uses
// the shipped inhibit rules (alerts.AlertmanagerExample), so that the test also proves them.
func writeAlertmanagerConfig(t *testing.T, dir, webhookURL string) string {
	t.Helper()
	var example struct {
		InhibitRules []map[string]any `json:"inhibit_rules"`
	}
	if err := yaml.Unmarshal([]byte(alerts.AlertmanagerExample()), &example); err != nil {
		t.Fatalf("parsing alerts.AlertmanagerExample: %v", err)
	}
	if len(example.InhibitRules) == 0 {
		t.Fatal("alerts.AlertmanagerExample has no inhibit_rules")
	}
	cfg := map[string]any{
		"route": map[string]any{
			"receiver":        "e2e",
			"group_by":        []string{"alertname", "cluster", "subnet_id", "node"},
			"group_wait":      "1s",
			"group_interval":  "1s",
			"repeat_interval": "1h",
		},
		"receivers": []any{map[string]any{
			"name":            "e2e",
			"webhook_configs": []any{map[string]any{"url": webhookURL, "send_resolved": true}},
		}},
		"inhibit_rules": example.InhibitRules,
	}
	return writeYAML(t, filepath.Join(dir, "alertmanager.yml"), cfg)
}

func writeYAML(t *testing.T, path string, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %s: %v", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadDemoSubnets fills the fake EC2 with every subnet the demo scenarios use, laid out as the
// scenarios describe them: a subnet with FreeAddresses >= 0 gets ENIs of other tenants holding
// everything else, such that exactly FreeBlocks aligned /28 blocks stay entirely free and the
// remaining free addresses are scattered (never a whole /28). It returns the subnet ids.
func loadDemoSubnets(t *testing.T, srv *fakeec2.Server) []string {
	t.Helper()
	seen := map[string]bool{}
	var subs []fakeec2.Subnet
	var enis []fakeec2.ENI
	add := func(s demo.Subnet) {
		if s.ID == "" || seen[s.ID] {
			return
		}
		seen[s.ID] = true
		prefix, err := netip.ParsePrefix(s.CIDR)
		if err != nil || !prefix.Addr().Is4() || prefix.Bits() > 28 {
			t.Fatalf("demo subnet %s: CIDR %q is not an IPv4 prefix of /28 or larger", s.ID, s.CIDR)
		}
		size := 1 << (32 - prefix.Bits())
		used, err := occupy(prefix, s.FreeAddresses, s.FreeBlocks)
		if err != nil {
			t.Fatalf("demo subnet %s: %v", s.ID, err)
		}
		subs = append(subs, fakeec2.Subnet{
			ID: s.ID, VPCID: "vpc-0e2e0000000000001", AZ: "us-west-2a", AZID: "usw2-az1",
			CIDR: s.CIDR, Available: size - 5 - len(used),
			Tags: map[string]string{"kubernetes.io/cluster/e2e": "shared"},
		})
		// Other tenants' ENIs, 50 addresses each (a primary and 49 secondaries).
		for i := 0; i < len(used); i += 50 {
			chunk := used[i:min(i+50, len(used))]
			e := fakeec2.ENI{
				ID: fmt.Sprintf("eni-%s-%04d", s.ID[len("subnet-"):], i/50), SubnetID: s.ID, Type: "interface",
				Status: "in-use", InstanceID: "i-0e2e00000000other", Description: "another tenant",
				PrimaryIP: chunk[0].String(),
			}
			for _, a := range chunk[1:] {
				e.SecondaryIPs = append(e.SecondaryIPs, a.String())
			}
			enis = append(enis, e)
		}
	}
	for _, sc := range demo.Scenarios() {
		add(sc.NodeSubnet)
		if sc.PodSubnet != nil {
			add(*sc.PodSubnet)
		}
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].ID < subs[j].ID })
	srv.Lock()
	srv.Subnets, srv.ENIs = subs, enis
	srv.Unlock()
	ids := make([]string, len(subs))
	for i, s := range subs {
		ids[i] = s.ID
	}
	return ids
}

// occupy returns the addresses of prefix that other tenants hold so that free addresses stay
// free (-1 = all), of which freeBlocks whole aligned /28 blocks (-1 = no constraint). AWS
// reserves the first four and the last address; they are neither free nor listed.
func occupy(prefix netip.Prefix, free, freeBlocks int) ([]netip.Addr, error) {
	if free < 0 {
		return nil, nil
	}
	if freeBlocks < 0 {
		freeBlocks = free / 16
	}
	size := 1 << (32 - prefix.Bits())
	nblocks := size / 16
	// Blocks 0 and nblocks-1 hold AWS-reserved addresses, so only the others can be whole.
	if freeBlocks > nblocks-2 || 16*freeBlocks > free {
		return nil, fmt.Errorf("cannot leave %d free addresses in %d whole /28 blocks of %s", free, freeBlocks, prefix)
	}
	isFree := make([]bool, size)
	left := free
	for b := 1; b <= freeBlocks; b++ {
		for i := 0; i < 16; i++ {
			isFree[16*b+i] = true
		}
		left -= 16
	}
	// Scatter the rest over the other blocks, at most 15 per block so none becomes whole.
	for b := freeBlocks + 1; b < nblocks && left > 0; b++ {
		for i := 1; i < 16 && left > 0; i++ {
			idx := 16*b + i
			if idx == size-1 {
				break
			}
			isFree[idx] = true
			left--
		}
	}
	if left > 0 {
		return nil, fmt.Errorf("%s is too small for %d free addresses", prefix, free)
	}
	var used []netip.Addr
	a := prefix.Masked().Addr()
	for i := 0; i < size; i, a = i+1, a.Next() {
		if i < 4 || i == size-1 || isFree[i] {
			continue
		}
		used = append(used, a)
	}
	return used, nil
}

// drainDemoSubnets makes the fake EC2 follow the scenarios whose subnet others drain
// (demo.Subnet.DrainPerHour, on the cluster view's clock of Spec.ViewSpeedup): every few
// seconds another tenant's ENI takes the next free addresses, as the demo's own simulated view
// does. Without it the subnet view sees a flat subnet and the forecast panels stay empty.
func drainDemoSubnets(ctx context.Context, t *testing.T, srv *fakeec2.Server) {
	t.Helper()
	const every = 5 * time.Second
	type plan struct {
		id   string
		free []string
		step int
	}
	var plans []*plan
	srv.Lock()
	for _, sc := range demo.Scenarios() {
		sub := sc.NodeSubnet
		if sub.DrainPerHour <= 0 {
			continue
		}
		prefix := netip.MustParsePrefix(sub.CIDR)
		used := map[string]bool{}
		for _, e := range srv.ENIs {
			if e.SubnetID != sub.ID {
				continue
			}
			used[e.PrimaryIP] = true
			for _, a := range e.SecondaryIPs {
				used[a] = true
			}
		}
		p := &plan{id: sub.ID, step: int(math.Ceil(sub.DrainPerHour * max(sc.ViewSpeedup, 1) * every.Hours()))}
		// AWS reserves the first four addresses and the last one.
		size := 1 << (32 - prefix.Bits())
		a := prefix.Addr()
		for i := 0; i < size; i, a = i+1, a.Next() {
			if i >= 4 && i < size-1 && !used[a.String()] {
				p.free = append(p.free, a.String())
			}
		}
		plans = append(plans, p)
	}
	srv.Unlock()
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			srv.Lock()
			for _, p := range plans {
				k := min(p.step, len(p.free))
				if k == 0 {
					continue
				}
				srv.ENIs = append(srv.ENIs, fakeec2.ENI{
					ID: fmt.Sprintf("eni-%s-drain%03d", p.id[len("subnet-"):], n), SubnetID: p.id, Type: "interface",
					Status: "in-use", InstanceID: "i-0e2e00000000other", Description: "another tenant, arriving",
					PrimaryIP: p.free[0], SecondaryIPs: slices.Clone(p.free[1:k]),
				})
				p.free = p.free[k:]
			}
			srv.Unlock()
		}
	}()
}
