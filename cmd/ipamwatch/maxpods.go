package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

const maxPodsUsage = `usage: ipamwatch maxpods [flags]

Compute kubelet max-pods for an instance type and show the arithmetic, the way EKS does:
  secondary IPs:     ENIs x (IPv4 per ENI - 1) + 2
  prefix delegation: ENIs x (IPv4 per ENI - 1) x 16 + 2, capped at 110 (<= 30 vCPUs) or 250
  custom networking and security groups for pods each take one ENI away from pods.

Give the limits yourself:
  ipamwatch maxpods --enis 3 --ips-per-eni 10 --vcpus 2 --prefix-delegation
or ask EC2 (DescribeInstanceTypes; needs AWS credentials):
  ipamwatch maxpods --instance-type m5.large,c5.xlarge --region eu-west-1
  ipamwatch maxpods --all --region eu-west-1 --prefix-delegation

flags:
`

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

func parseMaxPodsFlags(args []string, errOut io.Writer) (maxPodsOptions, error) {
	var o maxPodsOptions
	fs := flag.NewFlagSet("ipamwatch maxpods", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		_, _ = fmt.Fprint(errOut, maxPodsUsage) // usage on stderr: nothing to do if it fails
		fs.PrintDefaults()
	}
	enis := fs.Int("enis", 0, "ENIs the instance type supports (MaximumNetworkInterfaces)")
	ips := fs.Int("ips-per-eni", 0, "IPv4 addresses per ENI, the primary included (Ipv4AddressesPerInterface)")
	vcpus := fs.Int("vcpus", 0, "vCPUs of the instance type (chooses the 110 or 250 cap under prefix delegation)")
	nitro := fs.Bool("nitro", true, "the instance type runs on Nitro (use --nitro=false for Xen: no prefix delegation)")
	types := fs.String("instance-type", "", "instance type(s) to look up in EC2, comma-separated")
	fs.BoolVar(&o.all, "all", false, "look up every instance type of the region and print a table")
	fs.BoolVar(&o.live, "live", false, "read this node's limits from the CNI metrics and instance metadata")
	fs.StringVar(&o.cniURL, "cni.metrics-url", "http://127.0.0.1:61678/metrics", "with --live: aws-node metrics URL")
	fs.StringVar(&o.imdsEndpoint, "imds.endpoint", "", "with --live: instance metadata endpoint (default: the SDK's)")
	fs.StringVar(&o.ec2.Region, "region", "", "EC2 region for --instance-type/--all (default: the SDK's configuration)")
	fs.StringVar(&o.ec2.Endpoint, "ec2-endpoint", "", "EC2 endpoint URL override (for tests and private endpoints)")
	fs.BoolVar(&o.prefix, "prefix-delegation", false, "ENABLE_PREFIX_DELEGATION=true (/28 prefixes, Nitro only)")
	fs.BoolVar(&o.custom, "custom-networking", false, "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true (the primary ENI carries no pods)")
	fs.BoolVar(&o.sgp, "security-groups-for-pods", false, "ENABLE_POD_ENI=true (a trunk ENI takes one ENI slot)")
	fs.IntVar(&o.maxENIs, "max-enis", 0, "MAX_ENI: use at most this many ENIs (0 = no limit)")
	fs.IntVar(&o.branchENIs, "branch-enis", 0, "branch ENIs of the instance type, for the security-groups-for-pods budget")
	format := fs.String("format", "text", "output format: text or json")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q (flags only)", fs.Args())
	}
	switch *format {
	case "text":
	case "json":
		o.json = true
	default:
		return o, fmt.Errorf("--format must be text or json, not %q", *format)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	for _, t := range strings.Split(*types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.instanceTypes = append(o.instanceTypes, t)
		}
	}
	explicit := set["enis"] || set["ips-per-eni"] || set["vcpus"] || set["nitro"]
	sources := 0
	for _, on := range []bool{explicit, len(o.instanceTypes) > 0, o.all, o.live} {
		if on {
			sources++
		}
	}
	switch {
	case sources == 0:
		return o, errors.New("say which instance: --enis N --ips-per-eni N [--vcpus N] [--nitro=false], --instance-type T, --all or --live")
	case sources > 1:
		return o, errors.New("choose one of --enis/--ips-per-eni/--vcpus/--nitro, --instance-type, --all and --live")
	case explicit && (!set["enis"] || !set["ips-per-eni"]):
		return o, errors.New("--enis and --ips-per-eni are both needed (see: aws ec2 describe-instance-types --instance-types T --query 'InstanceTypes[].NetworkInfo.[MaximumNetworkInterfaces,Ipv4AddressesPerInterface]')")
	case (set["region"] || set["ec2-endpoint"]) && !o.all && len(o.instanceTypes) == 0:
		return o, errors.New("--region and --ec2-endpoint apply to --instance-type and --all only")
	case o.maxENIs < 0:
		return o, fmt.Errorf("--max-enis must not be negative, got %d", o.maxENIs)
	case o.branchENIs < 0:
		return o, fmt.Errorf("--branch-enis must not be negative, got %d", o.branchENIs)
	case set["branch-enis"] && !o.sgp:
		return o, errors.New("--branch-enis is the security-groups-for-pods budget: add --security-groups-for-pods")
	}
	if explicit {
		hv := diagnosis.HypervisorNitro
		if !*nitro {
			hv = diagnosis.HypervisorXen
		}
		o.explicit = o.input(diagnosis.MaxPodsInput{ENIs: *enis, IPsPerENI: *ips, VCPUs: *vcpus, Hypervisor: hv})
	}
	return o, nil
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

func cmdMaxPods(ctx context.Context, args []string, s streams) int {
	return runMaxPods(ctx, args, s, lookupInstanceTypes)
}

func runMaxPods(ctx context.Context, args []string, s streams, lookup instanceLookup) int {
	o, err := parseMaxPodsFlags(args, s.err)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(s.err, "ipamwatch maxpods: %v\n", err)
		return 2
	}
	var inputs []diagnosis.MaxPodsInput
	if o.live {
		in, notes, err := liveMaxPodsInput(ctx, o.cniURL, o.imdsEndpoint)
		if err != nil {
			fmt.Fprintf(s.err, "ipamwatch maxpods: --live: %v\n", err)
			return 1
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
			if errors.Is(err, errNotInBuild) {
				return 2
			}
			return 1
		}
		if len(limits) == 0 {
			fmt.Fprintln(s.err, "ipamwatch maxpods: EC2 returned no instance types")
			return 1
		}
		if missing := maxPodsMissingTypes(o.instanceTypes, limits); len(missing) > 0 {
			fmt.Fprintf(s.err, "ipamwatch maxpods: EC2 does not know %s in this region\n", strings.Join(missing, ", "))
			return 1
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
			return 2
		}
		results = append(results, r)
	}
	if o.json {
		var v any = results
		if len(results) == 1 {
			v = results[0]
		}
		return writeMaxPodsJSON(s, v)
	}
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		writeMaxPodsText(s.out, r)
	}
	return 0
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

// maxPodsRow is one line of the --all table; Error is set when the type cannot run pods
// with the chosen features (e.g. no ENI left).
type maxPodsRow struct {
	diagnosis.MaxPodsResult
	Error string `json:"error,omitempty"`
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
		return writeMaxPodsJSON(s, rows)
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
		return 1
	}
	return 0
}

func writeMaxPodsJSON(s streams, v any) int {
	enc := json.NewEncoder(s.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(s.err, "ipamwatch maxpods: writing output: %v\n", err)
		return 1
	}
	return 0
}
