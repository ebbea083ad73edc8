// Command gen writes a realistic synthetic ipamd.log (zap JSON, DEBUG level, the mix of
// routine lines a busy node writes) with about 1% failure lines, for benchmarks and soak
// tests. It is deterministic for a given -seed, and it can write the number of lines it
// meant as each failure class (-truth), so a benchmark can check the classifier's counts.
//
//	go run ./bench/gen -lines 1000000 -out /tmp/ipamd.log -truth /tmp/truth.json
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(2)
	}
}

type config struct {
	lines     int
	errorRate float64
	seed      uint64
	start     time.Time
	sdkV1     bool
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.IntVar(&c.lines, "lines", 100000, "number of lines to write")
	out := fs.String("out", "-", "output file (- = stdout)")
	truth := fs.String("truth", "", "write the expected count per class as JSON to this file")
	fs.Float64Var(&c.errorRate, "error-rate", 0.01, "fraction of lines that are failure lines (0..0.5)")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	startS := fs.String("start", "2025-06-02T00:00:00Z", "timestamp of the first line (RFC 3339)")
	fs.BoolVar(&c.sdkV1, "sdk-v1", false, "render EC2 errors as CNI <= v1.19.3 did (aws-sdk-go v1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.lines < 0 {
		return fmt.Errorf("-lines must be >= 0, got %d", c.lines)
	}
	if c.errorRate < 0 || c.errorRate > 0.5 {
		return fmt.Errorf("-error-rate must be within 0..0.5, got %v", c.errorRate)
	}
	t, err := time.Parse(time.RFC3339, *startS)
	if err != nil {
		return fmt.Errorf("-start: %w", err)
	}
	c.start = t.UTC()

	w := stdout
	var f *os.File
	if *out != "-" {
		var err error
		if f, err = os.Create(*out); err != nil {
			return err
		}
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	g := newGen(c)
	err = g.write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", *out, err)
	}
	if *truth != "" {
		b, err := json.MarshalIndent(g.truth, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*truth, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// gen holds the simulated node: its ENIs, pods, clock and the cause of the last subnet
// failure (ipamd's follow-up lines repeat it for two minutes).
type gen struct {
	c     config
	r     *rand.Rand
	now   time.Time
	enis  []string
	macs  []string
	truth map[string]int
	n     int
	buf   []byte

	anchorClass string
	anchorTime  time.Time
}

func newGen(c config) *gen {
	g := &gen{c: c, r: rand.New(rand.NewPCG(c.seed, c.seed^0x9e3779b97f4a7c15)), now: c.start, truth: map[string]int{}}
	for i := 0; i < 3; i++ {
		g.enis = append(g.enis, "eni-0"+g.hex(16))
		g.macs = append(g.macs, g.mac())
	}
	return g
}

func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

func (g *gen) mac() string {
	return fmt.Sprintf("0a:%s:%s:%s:%s:%s", g.hex(2), g.hex(2), g.hex(2), g.hex(2), g.hex(2))
}

func (g *gen) uuid() string {
	return g.hex(8) + "-" + g.hex(4) + "-4" + g.hex(3) + "-8" + g.hex(3) + "-" + g.hex(12)
}

func (g *gen) ip() string {
	return "10.4." + strconv.Itoa(128+g.r.IntN(4)) + "." + strconv.Itoa(1+g.r.IntN(254))
}

func (g *gen) pod() (name, ns string) {
	const alnum = "bcdfghjklmnpqrstvwxz2456789"
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = alnum[g.r.IntN(len(alnum))]
	}
	apps := [...]string{"web", "api", "worker", "coredns", "checkout", "cart", "payments", "search"}
	nss := [...]string{"default", "shop", "kube-system", "batch"}
	return apps[g.r.IntN(len(apps))] + "-" + g.hex(8)[:8] + "-" + string(suffix), nss[g.r.IntN(len(nss))]
}

// emit writes one zap JSON line. class is what the line means ("" for none); it feeds the truth.
func (g *gen) emit(w *bufio.Writer, level, caller, msg, class string) error {
	if g.n >= g.c.lines {
		return nil
	}
	g.n++
	g.now = g.now.Add(time.Duration(1+g.r.IntN(80)) * time.Millisecond)
	b := g.buf[:0]
	b = append(b, `{"level":"`...)
	b = append(b, level...)
	b = append(b, `","ts":"`...)
	b = g.now.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","caller":"`...)
	b = append(b, caller...)
	b = append(b, `","msg":`...)
	b = strconv.AppendQuote(b, msg)
	b = append(b, "}\n"...)
	g.buf = b
	if class != "" {
		g.truth[class]++
	}
	_, err := w.Write(b)
	return err
}

func (g *gen) write(w *bufio.Writer) error {
	for g.n < g.c.lines {
		var err error
		// Keep the share of failure lines near the rate without spacing them evenly: a
		// routine call writes several lines, a failure burst one to three.
		if float64(g.failures()) < g.c.errorRate*float64(g.n+1) && g.r.IntN(4) == 0 {
			err = g.failure(w)
		} else {
			err = g.routine(w)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) failures() int {
	n := 0
	for _, v := range g.truth {
		n += v
	}
	return n
}

// ec2Err renders an EC2 API error the way the CNI's SDK does.
func (g *gen) ec2Err(op, code, text string, status int) string {
	if g.c.sdkV1 {
		return code + ": " + text + "\n\tstatus code: " + strconv.Itoa(status) + ", request id: " + g.uuid()
	}
	return "operation error EC2: " + op + ", https response error StatusCode: " + strconv.Itoa(status) +
		", RequestID: " + g.uuid() + ", api error " + code + ": " + text
}

// routine writes one of the lines a healthy node writes all day (including the DEBUG noise
// that looks like a failure but is not).
func (g *gen) routine(w *bufio.Writer) error {
	eni := g.enis[g.r.IntN(len(g.enis))]
	switch k := g.r.IntN(100); {
	case k < 14:
		sandbox := g.hex(64)
		name, ns := g.pod()
		netns := "cni-" + g.uuid()
		ip := g.ip()
		if err := g.emit(w, "info", "rpc/rpc.pb.go:863", "Received AddNetwork for NS /var/run/netns/"+netns+", Sandbox "+sandbox+", ifname eth0", ""); err != nil {
			return err
		}
		//nolint:gocritic // the format reproduces ipamd's own rendering of the request, quotes included; %q would escape differently
		req := fmt.Sprintf(`AddNetworkRequest: K8S_POD_NAME:"%s" K8S_POD_NAMESPACE:"%s" K8S_POD_INFRA_CONTAINER_ID:"%s" ContainerID:"%s" IfName:"eth0" NetworkName:"aws-cni" Netns:"/var/run/netns/%s"`, name, ns, sandbox, sandbox, netns)
		if err := g.emit(w, "debug", "rpc/rpc.pb.go:863", req, ""); err != nil {
			return err
		}
		if err := g.emit(w, "debug", "datastore/data_store.go:607", fmt.Sprintf("AssignPodIPv4Address: IP address pool stats: total %d, assigned %d", 27, 3+g.r.IntN(20)), ""); err != nil {
			return err
		}
		if g.r.IntN(4) == 0 {
			if err := g.emit(w, "debug", "datastore/data_store.go:607", "Get free IP from prefix failed no free IP available in the prefix - "+g.ip()+"/28", ""); err != nil {
				return err
			}
		}
		if err := g.emit(w, "debug", "datastore/data_store.go:607", "AssignPodIPv4Address: Assign IP "+ip+" to sandbox aws-cni/"+sandbox+"/eth0", ""); err != nil {
			return err
		}
		if err := g.emit(w, "debug", "rpc/rpc.pb.go:863", "VPC CIDR 10.4.128.0/18", ""); err != nil {
			return err
		}
		return g.emit(w, "info", "rpc/rpc.pb.go:863", fmt.Sprintf("Send AddNetworkReply: IPv4Addr: %s, IPv6Addr: , DeviceNumber: %d, err: <nil>", ip, g.r.IntN(3)), "")
	case k < 22:
		sandbox := g.hex(64)
		if err := g.emit(w, "info", "rpc/rpc.pb.go:881", "Received DelNetwork for Sandbox "+sandbox, ""); err != nil {
			return err
		}
		if g.r.IntN(5) == 0 {
			return g.emit(w, "info", "rpc/rpc.pb.go:881", "Send DelNetworkReply: IPv4Addr: , IPv6Addr: , DeviceNumber: 0, err: datastore: unknown pod", "")
		}
		ip := g.ip()
		if err := g.emit(w, "debug", "datastore/data_store.go:1087", fmt.Sprintf("UnassignPodIPAddress: sandbox aws-cni/%s/eth0's ipAddr %s, DeviceNumber %d", sandbox, ip, g.r.IntN(3)), ""); err != nil {
			return err
		}
		return g.emit(w, "info", "rpc/rpc.pb.go:881", fmt.Sprintf("Send DelNetworkReply: IPv4Addr: %s, IPv6Addr: , DeviceNumber: %d, err: <nil>", ip, g.r.IntN(3)), "")
	case k < 40:
		return g.emit(w, "info", "ipamd/introspect.go:60", "Handling http request: GET, from: 127.0.0.1:"+strconv.Itoa(32768+g.r.IntN(28000))+", URI: /v1/enis", "")
	case k < 75:
		// The reconcile loop.
		if err := g.emit(w, "debug", "ipamd/ipamd.go:1512", fmt.Sprintf("Reconciling ENI/IP pool info because time since last %d.%03ds > 1m0s", 60, g.r.IntN(1000)), ""); err != nil {
			return err
		}
		if err := g.emit(w, "debug", "ipamd/ipamd.go:1512", "Total number of interfaces found: "+strconv.Itoa(len(g.enis)), ""); err != nil {
			return err
		}
		for i, e := range g.enis {
			if err := g.emit(w, "debug", "awsutils/awsutils.go:1120", fmt.Sprintf("Found ENI: %s, mac %s, device %d", e, g.macs[i], i), ""); err != nil {
				return err
			}
			if err := g.emit(w, "debug", "ipamd/ipamd.go:1512", "Reconcile existing ENI "+e+" IP pool", ""); err != nil {
				return err
			}
		}
		if err := g.emit(w, "debug", "ipamd/ipamd.go:1512", "Successfully Reconciled ENI/IP pool", ""); err != nil {
			return err
		}
		return g.emit(w, "debug", "ipamd/ipamd.go:1512", fmt.Sprintf("IP stats - total IPs: %d, assigned IPs: %d, cooldown IPs: %d", 27, 3+g.r.IntN(20), g.r.IntN(3)), "")
	case k < 90:
		if err := g.emit(w, "debug", "ipamd/ipamd.go:673", fmt.Sprintf("IP pool is too low: available (%d) < ENI target (1) * addrsPerENI (9)", g.r.IntN(9)), ""); err != nil {
			return err
		}
		return g.emit(w, "debug", "ipamd/ipamd.go:678", "Starting to increase pool size", "")
	case k < 95:
		return g.emit(w, "debug", "datastore/data_store.go:607", "AssignPodIPv4Address: ENI "+eni+" does not have available addresses", "")
	case k < 98:
		return g.emit(w, "debug", "datastore/data_store.go:607", "Unable to get IP address from CIDR: no free IP available in the prefix - "+g.ip()+"/28", "")
	default:
		return g.emit(w, "info", "ipamd/ipamd.go:700", fmt.Sprintf("Successfully increased IP pool: Total IPs/Prefixes = %d, assigned IPs/CIDRs = %d, c.maxIPsPerENI = 9", 27, 3+g.r.IntN(20)), "")
	}
}

// followUpClass is what ipamd's follow-up lines mean now: the last subnet cause within
// the 2-minute backoff, else subnet_exhausted.
func (g *gen) followUpClass() string {
	if g.anchorClass != "" && g.now.Sub(g.anchorTime) <= 2*time.Minute {
		return g.anchorClass
	}
	return "subnet_exhausted"
}

// failure writes one failure burst, weighted roughly as they occur on troubled clusters.
func (g *gen) failure(w *bufio.Writer) error {
	eni := g.enis[g.r.IntN(len(g.enis))]
	const fullMsg = "The specified subnet does not have enough free addresses to satisfy the request."
	switch k := g.r.IntN(100); {
	case k < 22:
		e := g.ec2Err("CreateNetworkInterface", "InsufficientFreeAddressesInSubnet", fullMsg, 400)
		if err := g.emit(w, "error", "ipamd/ipamd.go:1010", "Failed to increase pool size due to not able to allocate ENI AllocENI: failed to create ENI: failed to create network interface: "+e, "subnet_exhausted"); err != nil {
			return err
		}
		g.anchorClass, g.anchorTime = "subnet_exhausted", g.now
		// The same error again at DEBUG: a duplicate, not counted.
		return g.emit(w, "debug", "ipamd/ipamd.go:1010", "Error trying to allocate ENI: AllocENI: failed to create ENI: failed to create network interface: "+e, "")
	case k < 36:
		e := g.ec2Err("AssignPrivateIpAddresses", "InsufficientCidrBlocks", "There are not enough free cidr blocks in the specified subnet to satisfy the request.", 400)
		if err := g.emit(w, "warn", "ipamd/ipamd.go:1122", "failed to allocate all available IPv4 Prefixes on ENI "+eni+", err: failed to allocate a private IP/Prefix address: "+e, "prefix_fragmented"); err != nil {
			return err
		}
		g.anchorClass, g.anchorTime = "prefix_fragmented", g.now
		return g.emit(w, "error", "ipamd/ipamd.go:680", "Unable to attach IPs/Prefixes for the ENI, subnet doesn't seem to have enough IPs/Prefixes. Consider using new subnet or carve a reserved range using create-subnet-cidr-reservation", g.followUpClass())
	case k < 50:
		return g.emit(w, "debug", "ipamd/ipamd.go:678", "Recently we had InsufficientCidr error hence will wait for 2m0s before retrying", g.followUpClass())
	case k < 68:
		if err := g.emit(w, "debug", "datastore/data_store.go:607", "AssignPodIPv4Address: ENI "+eni+" does not have available addresses", ""); err != nil {
			return err
		}
		if err := g.emit(w, "error", "datastore/data_store.go:607", "DataStore has no available IP/Prefix addresses", "ip_pool_empty"); err != nil {
			return err
		}
		return g.emit(w, "info", "rpc/rpc.pb.go:863", "Send AddNetworkReply: IPv4Addr: , IPv6Addr: , DeviceNumber: -1, err: AssignPodIPAddress: no available IP/Prefix addresses", "ip_pool_empty")
	case k < 80:
		return g.emit(w, "debug", "ipamd/ipamd.go:845", "Skipping ENI allocation as the max ENI limit is already reached", "eni_limit")
	case k < 84:
		e := g.ec2Err("AttachNetworkInterface", "AttachmentLimitExceeded", "Interface count 4 exceeds the limit for m5.large", 400)
		return g.emit(w, "error", "ipamd/ipamd.go:1010", "Failed to increase pool size due to not able to allocate ENI AllocENI: error attaching ENI: attachENI: failed to attach ENI: "+e, "eni_limit")
	case k < 90:
		e := g.ec2Err("DescribeNetworkInterfaces", "RequestLimitExceeded", "Request limit exceeded.", 503)
		return g.emit(w, "error", "ipamd/ipamd.go:1500", "IP pool reconcile: failed to get attached ENIs: "+e, "ec2_throttled")
	case k < 93:
		e := g.ec2Err("CreateNetworkInterface", "UnauthorizedOperation", "You are not authorized to perform this operation.", 403)
		return g.emit(w, "error", "ipamd/ipamd.go:1010", "Failed to increase pool size due to not able to allocate ENI AllocENI: failed to create ENI: "+e, "unauthorized")
	case k < 95:
		return g.emit(w, "error", "awsutils/awsutils.go:510", "Failed to retrieve interface-id from instance metadata: operation error ec2imds: GetMetadata, http response error StatusCode: 500, request to EC2 IMDS failed", "imds_failure")
	case k < 96:
		e := g.ec2Err("CreateNetworkInterface", "NetworkInterfaceLimitExceeded", "The maximum number of network interfaces has been reached.", 400)
		return g.emit(w, "error", "ipamd/ipamd.go:1010", "Failed to increase pool size due to not able to allocate ENI AllocENI: failed to create ENI: "+e, "eni_quota")
	case k < 97:
		return g.emit(w, "error", "rpc/rpc.pb.go:881", "Send AddNetworkReply: failed to get Branch ENI resource", "branch_eni")
	default:
		return g.emit(w, "error", "ipamd/ipamd.go:1400", "Failed to get ENIConfig for node: context deadline exceeded", "other_error")
	}
}
