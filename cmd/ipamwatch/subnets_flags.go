package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
)

const subnetsHelp = `Cluster-level subnet view from EC2, as a report (--once) or an exporter.

Per subnet: free addresses, free aligned /28 blocks (what prefix delegation needs),
fragmentation and who holds the blocks.

  ipamwatch subnets --once --cluster-name prod             print a report and exit
  ipamwatch subnets --once --subnet-ids subnet-1,subnet-2 --format json
  ipamwatch subnets --cluster-name prod                    serve /metrics (in-cluster, one leader)
  ipamwatch subnets --cluster-name prod --no-leader-elect --log.format logfmt   (local)

IAM (read-only): ec2:DescribeSubnets, ec2:DescribeNetworkInterfaces,
ec2:GetSubnetCidrReservations (and ec2:DescribeInstanceTypes for maxpods). Credentials come
from the default chain (IRSA, EKS Pod Identity, environment, shared config).`

// subnetsOptions are the subnets command's flags. They are declared in both builds (see
// demoOptions); only the full build runs the command.
type subnetsOptions struct {
	once          bool
	format        string
	subnetIDs     []string
	clusterName   string
	vpcID         string
	region        string
	endpoint      string
	maxAttempts   int
	interval      time.Duration
	jitter        float64
	recommend     int
	web           *webFlags
	leaderElect   bool
	leaseNS       string
	leaseName     string
	useKubeNodes  bool
	kubeNodesSeen bool // --kube-nodes was given explicitly
	log           *promslog.Config
}

func defineSubnets(c *kingpin.CmdClause) runFunc {
	o := &subnetsOptions{}
	var ids string
	c.Flag("once", "Poll once, print the report and exit.").BoolVar(&o.once)
	c.Flag("format", "Report format with --once: text or json (docs/schemas/subnets.md).").Default("text").HintOptions("text", "json").StringVar(&o.format)
	c.Flag("subnet-ids", "Comma-separated subnet ids to watch (instead of tag discovery).").StringVar(&ids)
	c.Flag("cluster-name", "EKS cluster name: discovers subnets tagged kubernetes.io/cluster/<name>, karpenter.sh/discovery=<name> and, in their VPCs, kubernetes.io/role/cni=1; ENIs tagged with it count as cluster nodes.").StringVar(&o.clusterName)
	c.Flag("vpc-id", "Restrict tag discovery to this VPC.").StringVar(&o.vpcID)
	c.Flag("region", "AWS region (default: AWS_REGION, shared config, then instance metadata).").StringVar(&o.region)
	c.Flag("ec2-endpoint", "EC2 endpoint URL override (e.g. a VPC interface endpoint).").StringVar(&o.endpoint)
	c.Flag("ec2-max-attempts", "Attempts per EC2 call, the first included (throttling and 5xx are retried with backoff).").Default("5").IntVar(&o.maxAttempts)
	c.Flag("poll-interval", "How often to poll EC2 (at least 30s).").Default("5m").DurationVar(&o.interval)
	c.Flag("poll-jitter", "Spread each poll interval by up to +/- this fraction (0 to <1).").Default("0.1").Float64Var(&o.jitter)
	c.Flag("recommendations", "Nodes to recommend draining per subnet.").Default("5").IntVar(&o.recommend)
	o.web = addWebFlags(c, ":9714", "/metrics")
	c.Flag("leader-elect", "Run only while holding a Kubernetes Lease, so replicas never poll twice (--no-leader-elect outside a cluster).").Default("true").BoolVar(&o.leaderElect)
	c.Flag("leader-elect-namespace", "Namespace of the Lease (default: POD_NAMESPACE, then the service account's namespace).").StringVar(&o.leaseNS)
	c.Flag("leader-elect-lease-name", "Name of the Lease.").Default("ipamwatch-subnets").StringVar(&o.leaseName)
	c.Flag("kube-nodes", "In a cluster, read the nodes from Kubernetes to tell cluster nodes from other instances (ENI tags are used too).").
		Default("true").IsSetByUser(&o.kubeNodesSeen).BoolVar(&o.useKubeNodes)
	o.log = logFlags(c, "info", "json")
	return func(ctx context.Context, s streams) int {
		for _, id := range strings.Split(ids, ",") {
			if id = strings.TrimSpace(id); id != "" {
				o.subnetIDs = append(o.subnetIDs, id)
			}
		}
		return runSubnets(ctx, o, s)
	}
}

// validate checks what needs no AWS or Kubernetes types; runSubnets checks the discovery.
func (o *subnetsOptions) validate() error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", o.format)
	}
	if o.interval < 30*time.Second {
		return fmt.Errorf("--poll-interval %s is too short: EC2 describe calls are rate-limited per account; use 30s or more", o.interval)
	}
	if o.jitter < 0 || o.jitter >= 1 {
		return fmt.Errorf("--poll-jitter must be in [0, 1), not %v", o.jitter)
	}
	if o.maxAttempts < 1 || o.maxAttempts > 20 {
		return fmt.Errorf("--ec2-max-attempts must be 1..20, not %d", o.maxAttempts)
	}
	return nil
}
