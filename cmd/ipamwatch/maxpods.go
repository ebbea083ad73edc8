package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/schema"
)

const maxPodsHelp = `Compute kubelet max-pods for an instance type and show the arithmetic.

The way EKS does:
  secondary IPs:     ENIs x (IPv4 per ENI - 1) + 2
  prefix delegation: ENIs x (IPv4 per ENI - 1) x 16 + 2, capped at 110 (<= 30 vCPUs) or 250
  custom networking and security groups for pods each take one ENI away from pods.

Give the limits yourself:
  ipamwatch maxpods --enis 3 --ips-per-eni 10 --vcpus 2 --prefix-delegation
or ask EC2 (DescribeInstanceTypes; needs AWS credentials):
  ipamwatch maxpods --instance-type m5.large,c5.xlarge --region eu-west-1
  ipamwatch maxpods --all --region eu-west-1 --prefix-delegation
or read this node's limits (CNI metrics and instance metadata):
  ipamwatch maxpods --live`

// maxPodsOptions are the validated flags of one maxpods run.
type maxPodsOptions struct {
	explicit      diagnosis.MaxPodsInput
	instanceTypes []string
	all           bool
	live          bool
	json          bool
	ec2           ec2LookupOptions
	cniURL        string
	imdsEndpoint  string
	// features are applied to every looked-up type.
	prefix, custom, sgp bool
	maxENIs, branchENIs int
}

// instanceLookup is lookupInstanceTypes; tests pass a fake.
type instanceLookup func(context.Context, ec2LookupOptions, []string) ([]instanceTypeLimits, error)

// maxPodsFlags are maxpods' flags as parsed, before validation.
type maxPodsFlags struct {
	enis, ips, vcpus int
	nitro            bool
	types            string
	format           string
	set              map[string]*bool // flags the user gave
	o                maxPodsOptions
}

func defineMaxPods(c *kingpin.CmdClause) runFunc {
	return defineMaxPodsWith(c, lookupInstanceTypes)
}

// defineMaxPodsWith declares maxpods with lookup as its EC2 lookup (tests pass a fake).
func defineMaxPodsWith(c *kingpin.CmdClause, lookup instanceLookup) runFunc {
	f := &maxPodsFlags{set: map[string]*bool{}}
	o := &f.o
	flag := func(name, help string) *kingpin.FlagClause {
		f.set[name] = new(bool)
		return c.Flag(name, help).IsSetByUser(f.set[name])
	}
	flag("enis", "ENIs the instance type supports (MaximumNetworkInterfaces).").IntVar(&f.enis)
	flag("ips-per-eni", "IPv4 addresses per ENI, the primary included (Ipv4AddressesPerInterface).").IntVar(&f.ips)
	flag("vcpus", "vCPUs of the instance type (chooses the 110 or 250 cap under prefix delegation).").IntVar(&f.vcpus)
	flag("nitro", "The instance type runs on Nitro (--no-nitro for Xen: no prefix delegation).").Default("true").BoolVar(&f.nitro)
	flag("instance-type", "Instance type(s) to look up in EC2, comma-separated.").StringVar(&f.types)
	flag("all", "Look up every instance type of the region and print a table.").BoolVar(&o.all)
	flag("live", "Read this node's limits from the CNI metrics and instance metadata.").BoolVar(&o.live)
	flag("cni.metrics-url", "With --live: aws-node metrics URL.").Default(agent.DefaultConfig().CNIMetricsURL).StringVar(&o.cniURL)
	flag("imds.endpoint", "With --live: instance metadata endpoint (default: the AWS SDK's).").StringVar(&o.imdsEndpoint)
	flag("region", "EC2 region for --instance-type/--all (default: the AWS SDK's configuration).").StringVar(&o.ec2.Region)
	flag("ec2-endpoint", "EC2 endpoint URL override (for tests and private endpoints).").StringVar(&o.ec2.Endpoint)
	flag("prefix-delegation", "ENABLE_PREFIX_DELEGATION=true (/28 prefixes, Nitro only).").BoolVar(&o.prefix)
	flag("custom-networking", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true (the primary ENI carries no pods).").BoolVar(&o.custom)
	flag("security-groups-for-pods", "ENABLE_POD_ENI=true (a trunk ENI takes one ENI slot).").BoolVar(&o.sgp)
	flag("max-enis", "MAX_ENI: use at most this many ENIs (0 = no limit).").Default("0").IntVar(&o.maxENIs)
	flag("branch-enis", "Branch ENIs of the instance type, for the security-groups-for-pods budget.").Default("0").IntVar(&o.branchENIs)
	flag("format", "Output format: text or json (docs/schemas/maxpods.md).").Default("text").HintOptions("text", "json").StringVar(&f.format)
	return func(ctx context.Context, s streams) int {
		if err := f.validate(); err != nil {
			fmt.Fprintf(s.err, "ipamwatch maxpods: %v\n", err)
			return exitError
		}
		return runMaxPods(ctx, f.o, s, lookup)
	}
}

// validate checks the combination of flags and fills f.o.
func (f *maxPodsFlags) validate() error {
	o := &f.o
	switch f.format {
	case "text":
	case "json":
		o.json = true
	default:
		return fmt.Errorf("--format must be text or json, not %q", f.format)
	}
	set := func(name string) bool { return *f.set[name] }
	for _, t := range strings.Split(f.types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.instanceTypes = append(o.instanceTypes, t)
		}
	}
	explicit := set("enis") || set("ips-per-eni") || set("vcpus") || set("nitro")
	sources := 0
	for _, on := range []bool{explicit, len(o.instanceTypes) > 0, o.all, o.live} {
		if on {
			sources++
		}
	}
	switch {
	case sources == 0:
		return errors.New("say which instance: --enis N --ips-per-eni N [--vcpus N] [--nitro=false], --instance-type T, --all or --live")
	case sources > 1:
		return errors.New("choose one of --enis/--ips-per-eni/--vcpus/--nitro, --instance-type, --all and --live")
	case explicit && (!set("enis") || !set("ips-per-eni")):
		return errors.New("--enis and --ips-per-eni are both needed (see: aws ec2 describe-instance-types --instance-types T --query 'InstanceTypes[].NetworkInfo.[MaximumNetworkInterfaces,Ipv4AddressesPerInterface]')")
	case (set("region") || set("ec2-endpoint")) && !o.all && len(o.instanceTypes) == 0:
		return errors.New("--region and --ec2-endpoint apply to --instance-type and --all only")
	case o.maxENIs < 0:
		return fmt.Errorf("--max-enis must not be negative, got %d", o.maxENIs)
	case o.branchENIs < 0:
		return fmt.Errorf("--branch-enis must not be negative, got %d", o.branchENIs)
	case set("branch-enis") && !o.sgp:
		return errors.New("--branch-enis is the security-groups-for-pods budget: add --security-groups-for-pods")
	}
	if explicit {
		hv := diagnosis.HypervisorNitro
		if !f.nitro {
			hv = diagnosis.HypervisorXen
		}
		o.explicit = o.input(diagnosis.MaxPodsInput{ENIs: f.enis, IPsPerENI: f.ips, VCPUs: f.vcpus, Hypervisor: hv})
	}
	return nil
}

// input applies the feature flags to one instance type's limits.
func (o maxPodsOptions) input(in diagnosis.MaxPodsInput) diagnosis.MaxPodsInput {
	in.PrefixDelegation = o.prefix
	in.CustomNetworking = o.custom
	in.SecurityGroupsForPods = o.sgp
	in.MaxENIs = o.maxENIs
	in.BranchENIs = o.branchENIs
	return in
}

func maxPodsInputFromLimits(l instanceTypeLimits) diagnosis.MaxPodsInput {
	hv := l.Hypervisor
	if l.BareMetal || hv == "" {
		// Bare-metal instances are built on the Nitro system and support prefixes.
		hv = diagnosis.HypervisorNitro
	}
	if hv != diagnosis.HypervisorXen {
		hv = diagnosis.HypervisorNitro
	}
	return diagnosis.MaxPodsInput{InstanceType: l.InstanceType, ENIs: l.ENIs, IPsPerENI: l.IPv4PerENI, VCPUs: l.VCPUs, Hypervisor: hv}
}

func runMaxPods(ctx context.Context, o maxPodsOptions, s streams, lookup instanceLookup) int {
	var inputs []diagnosis.MaxPodsInput
	if o.live {
		in, notes, err := liveMaxPodsInput(ctx, o.cniURL, o.imdsEndpoint)
		if err != nil {
			fmt.Fprintf(s.err, "ipamwatch maxpods: --live: %v\n", err)
			return exitError
		}
		for _, n := range notes {
			fmt.Fprintln(s.err, "ipamwatch maxpods: note:", n)
		}
		inputs = append(inputs, o.input(in))
	}
	if len(o.instanceTypes) > 0 || o.all {
		limits, err := lookup(ctx, o.ec2, o.instanceTypes)
		if err != nil {
			fmt.Fprintf(s.err, "ipamwatch maxpods: looking up instance types: %v\n", err)
			return exitError
		}
		if len(limits) == 0 {
			fmt.Fprintln(s.err, "ipamwatch maxpods: EC2 returned no instance types")
			return exitError
		}
		if missing := maxPodsMissingTypes(o.instanceTypes, limits); len(missing) > 0 {
			fmt.Fprintf(s.err, "ipamwatch maxpods: EC2 does not know %s in this region\n", strings.Join(missing, ", "))
			return exitError
		}
		sort.Slice(limits, func(i, j int) bool { return limits[i].InstanceType < limits[j].InstanceType })
		for _, l := range limits {
			inputs = append(inputs, o.input(maxPodsInputFromLimits(l)))
		}
	} else if !o.live {
		inputs = []diagnosis.MaxPodsInput{o.explicit}
	}

	if o.all {
		return writeMaxPodsTable(s, o.json, inputs)
	}
	results := make([]diagnosis.MaxPodsResult, 0, len(inputs))
	for _, in := range inputs {
		r, err := diagnosis.MaxPods(in)
		if err != nil {
			fmt.Fprintf(s.err, "ipamwatch maxpods: %s%v\n", maxPodsTypePrefix(in), err)
			return exitError
		}
		results = append(results, r)
	}
	if o.json {
		if len(o.instanceTypes) == 0 { // --enis/--ips-per-eni or --live: one instance
			return writeMaxPodsJSON(s, results[0])
		}
		rows := make([]maxPodsRow, 0, len(results))
		for _, r := range results {
			rows = append(rows, maxPodsRow{MaxPodsResult: r})
		}
		return writeMaxPodsJSON(s, maxPodsList{InstanceTypes: rows})
	}
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		writeMaxPodsText(s.out, r)
	}
	return exitOK
}

func maxPodsTypePrefix(in diagnosis.MaxPodsInput) string {
	if in.InstanceType == "" {
		return ""
	}
	return in.InstanceType + ": "
}

func maxPodsMissingTypes(asked []string, got []instanceTypeLimits) []string {
	have := map[string]bool{}
	for _, l := range got {
		have[l.InstanceType] = true
	}
	var missing []string
	for _, t := range asked {
		if !have[t] {
			missing = append(missing, t)
		}
	}
	return missing
}

func writeMaxPodsText(w io.Writer, r diagnosis.MaxPodsResult) {
	in := r.Input
	name := in.InstanceType
	if name == "" {
		name = "instance"
	}
	vcpus := "vCPUs unknown"
	if in.VCPUs > 0 {
		vcpus = fmt.Sprintf("%d vCPUs", in.VCPUs)
	}
	fmt.Fprintf(w, "%s: %d ENIs x %d IPv4 addresses, %s, %s\n", name, in.ENIs, in.IPsPerENI, vcpus, maxPodsHypervisor(in.Hypervisor))
	mode := "secondary IPs (one /32 per slot)"
	if r.Mode == "prefix" {
		mode = "prefix delegation (one /28 = 16 addresses per slot)"
	}
	fmt.Fprintf(w, "mode: %s\n", mode)
	for _, step := range r.Steps {
		fmt.Fprintf(w, "  %s\n", step)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "max-pods: %d\n", r.MaxPods)
}

func maxPodsHypervisor(s string) string {
	if s == "" {
		return "hypervisor unknown"
	}
	return s
}

// maxPodsRow is one instance type of --instance-type or --all; Error is set (--all only)
// when the type cannot run pods with the chosen features (e.g. no ENI left).
type maxPodsRow struct {
	diagnosis.MaxPodsResult
	Error string `json:"error,omitempty"`
}

// maxPodsList is the JSON document of --instance-type and --all: one row per type, sorted
// by name, whatever their number (one shape for scripts).
type maxPodsList struct {
	InstanceTypes []maxPodsRow `json:"instance_types"`
}

func writeMaxPodsTable(s streams, asJSON bool, inputs []diagnosis.MaxPodsInput) int {
	rows := make([]maxPodsRow, 0, len(inputs))
	for _, in := range inputs {
		r, err := diagnosis.MaxPods(in)
		row := maxPodsRow{MaxPodsResult: r}
		if err != nil {
			row.Error = err.Error()
			row.Input = in
		}
		rows = append(rows, row)
	}
	if asJSON {
		return writeMaxPodsJSON(s, maxPodsList{InstanceTypes: rows})
	}
	tw := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE TYPE\tENIS\tIPV4/ENI\tVCPUS\tHYPERVISOR\tMODE\tPOD IPS\tMAX-PODS")
	for _, r := range rows {
		in := r.Input
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t-\t-\t-\n", in.InstanceType, in.ENIs, in.IPsPerENI, in.VCPUs, in.Hypervisor)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%d\t%d\n", in.InstanceType, in.ENIs, in.IPsPerENI, in.VCPUs, in.Hypervisor, r.Mode, r.PodIPs, r.MaxPods)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(s.err, "ipamwatch maxpods: writing output: %v\n", err)
		return exitError
	}
	return exitOK
}

// writeMaxPodsJSON writes docs/schemas/maxpods.md's document: one result object (explicit
// limits, --live) or a maxPodsList (--instance-type, --all).
func writeMaxPodsJSON(s streams, v any) int {
	if err := schema.Write(s.out, schema.MaxPods, v); err != nil {
		fmt.Fprintf(s.err, "ipamwatch maxpods: writing output: %v\n", err)
		return exitError
	}
	return exitOK
}
