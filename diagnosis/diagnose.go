package diagnosis

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// EC2 error codes the diagnosis keys on (awscni_aws_api_error_count{error} and log lines).
const (
	codeInsufficientFreeAddresses = "InsufficientFreeAddressesInSubnet"
	codeInsufficientCidrBlocks    = "InsufficientCidrBlocks"
	codeAttachmentLimitExceeded   = "AttachmentLimitExceeded"
	codeNetworkInterfaceLimit     = "NetworkInterfaceLimitExceeded"
	codeUnauthorizedOperation     = "UnauthorizedOperation"
	codeIMDSRequestError          = "IMDSRequestError"
)

var (
	throttleCodes     = []string{"RequestLimitExceeded", "Throttling", "ThrottlingException"}
	unauthorizedCodes = []string{codeUnauthorizedOperation, "AccessDenied", "AccessDeniedException"}
)

// KnownCode reports whether the diagnosis understands an EC2 error code; the agent keeps
// such codes as label values and folds every other one into "other", so the label stays bounded.
func KnownCode(code string) bool {
	switch code {
	case codeInsufficientFreeAddresses, codeInsufficientCidrBlocks, codeAttachmentLimitExceeded,
		codeNetworkInterfaceLimit, codeIMDSRequestError,
		"InvalidParameterValue", "PrivateIpAddressLimitExceeded", "InvalidNetworkInterfaceID.NotFound":
		return true
	}
	for _, c := range throttleCodes {
		if c == code {
			return true
		}
	}
	for _, c := range unauthorizedCodes {
		if c == code {
			return true
		}
	}
	return false
}

// diag carries one diagnosis run.
type diag struct {
	st   *nodestate.State
	opts Options
	cfg  Config
	cap  Capacity
	node NodeFacts
	// findings by cause, so rules can see what an earlier rule concluded.
	found map[Cause]Finding
}

// Diagnose turns a node's state into a report. It is deterministic: findings are sorted by
// severity, then cause. Any part of the state may be nil.
func Diagnose(st *nodestate.State, opts Options) Report {
	if st == nil {
		st = &nodestate.State{}
	}
	d := &diag{st: st, opts: opts.withDefaults(st.Time), found: map[Cause]Finding{}}
	d.cfg = EffectiveConfig(st)
	mode := ipMode(d.cfg, st)
	d.node = nodeFacts(st, mode)
	d.cap = computeCapacity(st, d.cfg, mode, d.node.InstanceType)

	// Order matters only where a rule reads an earlier conclusion (ip_pool_empty is the
	// symptom when no cause is known, so it runs last).
	d.awsNodeNotReady()
	d.ipamdUnreachable()
	d.ipv6()
	d.subnetOrFragmentation()
	d.eniQuota()
	d.throttled()
	d.unauthorized()
	d.awsNodeRBAC()
	d.imds()
	d.customNetworkingMisconfigured()
	d.subnetDiscoveryExcluded()
	d.cniUnknownInstanceType()
	d.prefixUnsupported()
	d.maxPodsExceedsIPCapacity()
	d.maxPodsNotRaised()
	d.eniLimit()
	d.branchENI()
	d.warmConflict()
	d.warmPoolCapped()
	d.hoarding()
	d.customNetworking()
	d.cooldownStarvation()
	d.leakedENIs()
	d.poolEmpty()

	r := Report{Node: d.node, Capacity: d.cap, Config: d.cfg, Findings: make([]Finding, 0, len(d.found)), Missing: d.missing()}
	for name, s := range st.Sources {
		if s.Up && s.Partial != "" {
			r.Partial = append(r.Partial, name+": "+s.Partial)
		}
	}
	sort.Strings(r.Partial)
	r.Headroom, r.BindingCeiling, r.NearestCeiling = d.headroom()
	r.Forecast = d.forecast()
	for _, f := range d.found {
		r.Findings = append(r.Findings, f)
	}
	sort.Slice(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if ra, rb := a.Severity.rank(), b.Severity.rank(); ra != rb {
			return ra < rb
		}
		return a.Cause < b.Cause
	})
	return r
}

// measured is what a rule found: the numbers, IDs and log lines behind a finding. The rest of
// the finding (explanation, fix, confirm, verify) is the cause's advice.
type measured struct {
	summary  string
	evidence []string
	// fix holds the values of the advice's {params}.
	fix map[string]string
	// subnet is the subnet the finding concerns, when it is not the node's primary subnet.
	subnet string
	// logsOnly: the sources that would corroborate the finding were missing (its basis).
	logsOnly bool
}

func (d *diag) add(c Cause, m measured) {
	a := AdviceFor(c)
	b := d.bindings(m.subnet)
	d.found[c] = Finding{
		Cause: c, Severity: a.Severity, Summary: m.summary, Explanation: a.Explanation,
		Evidence: m.evidence, Basis: d.basis(m.logsOnly), Fix: a.FixWith(m.fix, b),
		Confirm: a.ConfirmScript(b), Verify: a.Verify,
	}
}

// bindings are the values the confirm scripts' variables take for this node.
func (d *diag) bindings(subnet string) Bindings {
	if subnet == "" {
		subnet = d.node.PrimarySubnet
	}
	v := map[string]string{
		"NODE": d.node.Name, "INSTANCE_ID": d.node.InstanceID, "INSTANCE_TYPE": d.node.InstanceType,
		"REGION": d.node.Region, "SUBNET": subnet, "ENICONFIG": d.cfg.ENIConfig,
	}
	for k, x := range v {
		if x == "" {
			delete(v, k)
		}
	}
	return Bindings{Values: v}
}

// missing lists the node sources the state lacks, with what would settle the findings.
func (d *diag) missing() []MissingSource {
	var out []MissingSource
	if !d.st.IPAMD.HasDatastore() {
		out = append(out, MissingSource{"ipamd introspection", "the output of curl -s localhost:61679/v1/enis on the node"})
	}
	if d.st.CNI == nil {
		out = append(out, MissingSource{"CNI metrics", "the output of curl -s localhost:61678/metrics"})
	}
	if d.st.Kube == nil || !d.st.Kube.FromAPI {
		out = append(out, MissingSource{"Kubernetes", "kubectl get node NODE -o yaml"})
	}
	if d.st.Kube == nil || len(d.st.Kube.AWSNodeEnv) == 0 {
		out = append(out, MissingSource{"aws-node settings", "kubectl -n kube-system get daemonset aws-node -o yaml"})
	}
	if d.st.Logs == nil {
		out = append(out, MissingSource{"ipamd.log", "/var/log/aws-routed-eni/ipamd.log"})
	}
	return out
}

// basis is what a finding rests on: the node's live state, or log lines alone (no live
// source at all, or the rule's own corroborating source missing).
func (d *diag) basis(logsOnly bool) Basis {
	if logsOnly || !d.st.IPAMD.HasDatastore() && d.st.CNI == nil && (d.st.Kube == nil || !d.st.Kube.FromAPI) {
		return BasisLogsOnly
	}
	return BasisCorroborated
}

func (d *diag) has(c Cause) bool { _, ok := d.found[c]; return ok }

// --- inputs --------------------------------------------------------------------------

// class returns the stats of a log class when it is active: seen within the recent window,
// or at all when the summary has no window (a one-shot read of a bundle).
func (d *diag) class(c logparse.Class) (nodestate.ClassStats, bool) {
	if d.st.Logs == nil {
		return nodestate.ClassStats{}, false
	}
	cs, ok := d.st.Logs.Classes[c.String()]
	if !ok {
		return cs, false
	}
	if d.st.Logs.Window > 0 {
		return cs, cs.Recent > 0
	}
	return cs, cs.Recent > 0 || cs.Total > 0
}

// classEvidence renders a log class as one evidence line with counts, time and example.
func (d *diag) classEvidence(c logparse.Class, cs nodestate.ClassStats) string {
	name := c.String()
	var b strings.Builder
	if d.st.Logs.Window > 0 {
		fmt.Fprintf(&b, "ipamd/plugin logs: %d %s line(s) in the last %s (%d since start)", cs.Recent, name, fmtDuration(d.st.Logs.Window), cs.Total)
	} else {
		fmt.Fprintf(&b, "ipamd/plugin logs: %d %s line(s)", max(uint64(cs.Recent), cs.Total), name)
	}
	if !cs.Last.IsZero() {
		fmt.Fprintf(&b, ", last at %s", cs.Last.UTC().Format(time.RFC3339))
		if !d.opts.Now.IsZero() && d.opts.Now.After(cs.Last) {
			fmt.Fprintf(&b, " (%s ago)", fmtDuration(d.opts.Now.Sub(cs.Last)))
		}
	}
	if cs.Code != "" {
		fmt.Fprintf(&b, ", error code %s", cs.Code)
	}
	if cs.Example != "" {
		fmt.Fprintf(&b, ": %s", cs.Example)
	}
	return b.String()
}

// apiErrors returns the count of an EC2 error code from the CNI's awscni_aws_api_error_count:
// the increase since the last poll in the agent, the cumulative count in a one-shot read.
func (d *diag) apiErrors(code string) (float64, string) {
	c := d.st.CNI
	if c == nil {
		return 0, ""
	}
	if c.APIErrorIncrease != nil {
		return c.APIErrorIncrease[code], "since the last poll"
	}
	return c.APIErrorTotal[code], "since ipamd started"
}

func (d *diag) apiEvidence(codes ...string) (bool, []string) {
	var ev []string
	for _, code := range codes {
		if n, when := d.apiErrors(code); n > 0 {
			ev = append(ev, fmt.Sprintf("awscni_aws_api_error_count{error=%q}: %s %s", code, fmtCount(n), when))
		}
	}
	return len(ev) > 0, ev
}

func (d *diag) classOrCode(class logparse.Class, codes ...string) (bool, []string) {
	var ev []string
	active := false
	if cs, ok := d.class(class); ok {
		active = true
		ev = append(ev, d.classEvidence(class, cs))
	}
	if ok, more := d.apiEvidence(codes...); ok {
		active = true
		ev = append(ev, more...)
	}
	return active, ev
}

// noAvailableIP is how many pod ADDs found no free IP (increase, or total in one-shot mode).
func (d *diag) noAvailableIP() (float64, string) {
	c := d.st.CNI
	if c == nil {
		return 0, ""
	}
	if c.APIErrorIncrease == nil && c.NoAvailableIPTotal != nil {
		return *c.NoAvailableIPTotal, "since ipamd started"
	}
	return c.NoAvailableIPIncrease, "since the last poll"
}

// poolPressure reports whether pods are (or were just) failing to get an address.
func (d *diag) poolPressure() (bool, []string) {
	var ev []string
	for _, cl := range []logparse.Class{logparse.IPPoolEmpty, logparse.AllocFailed} {
		if cs, ok := d.class(cl); ok {
			ev = append(ev, d.classEvidence(cl, cs))
		}
	}
	if n, when := d.noAvailableIP(); n > 0 {
		ev = append(ev, fmt.Sprintf("awscni_no_available_ip_addresses: %s pod ADDs found no free IP %s", fmtCount(n), when))
	}
	pressure := len(ev) > 0
	if d.cap.PendingPods > 0 {
		ev = append(ev, fmt.Sprintf("%d pod(s) scheduled to the node have no IP yet", d.cap.PendingPods))
	}
	return pressure, ev
}

// --- names used in text ---------------------------------------------------------------

func (d *diag) instanceType() string {
	if d.node.InstanceType != "" {
		return d.node.InstanceType
	}
	return "this instance type"
}

// --- formatting ----------------------------------------------------------------------

func fmtCount(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.1f", f)
}

// fmtDuration writes durations the way people say them: 15m, 2h30m, 45s.
func fmtDuration(dur time.Duration) string {
	dur = dur.Truncate(time.Second)
	h, m, sec := int(dur/time.Hour), int(dur%time.Hour/time.Minute), int(dur%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

func fmtInt(n int) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d", n)
}

func intp(p *int) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprintf("%d", *p)
}
