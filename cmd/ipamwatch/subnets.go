//go:build !agentonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipamwatch/ipamwatch/subnets"
)

const subnetsUsage = `usage: ipamwatch subnets [flags]

Cluster-level subnet view: free addresses, free aligned /28 blocks (what prefix delegation
needs), fragmentation and who holds the blocks, per subnet, from EC2.

  ipamwatch subnets --once --cluster-name prod             print a report and exit
  ipamwatch subnets --once --subnet-ids subnet-1,subnet-2 --format json
  ipamwatch subnets --cluster-name prod                    serve /metrics (in-cluster, one leader)
  ipamwatch subnets --cluster-name prod --leader-elect=false --log.format text   (local)

IAM (read-only): ec2:DescribeSubnets, ec2:DescribeNetworkInterfaces,
ec2:GetSubnetCidrReservations (and ec2:DescribeInstanceTypes for maxpods). Credentials come
from the default chain (IRSA, EKS Pod Identity, environment, shared config).

flags:
`

type subnetsOptions struct {
	once          bool
	format        string
	subnetIDs     string
	clusterName   string
	vpcID         string
	region        string
	endpoint      string
	maxAttempts   int
	interval      time.Duration
	jitter        float64
	recommend     int
	listen        string
	webConfig     string
	leaderElect   bool
	leaseNS       string
	leaseName     string
	useKubeNodes  bool
	log           logFlags
	discovery     subnets.Discovery
	kubeNodesSeen bool // --kube-nodes was given explicitly
}

func parseSubnetsFlags(args []string, errOut io.Writer) (*subnetsOptions, error) {
	o := &subnetsOptions{}
	fs := flag.NewFlagSet("ipamwatch subnets", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		_, _ = fmt.Fprint(errOut, subnetsUsage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.once, "once", false, "poll once, print the report and exit")
	fs.StringVar(&o.format, "format", "text", "report format with --once: text or json")
	fs.StringVar(&o.subnetIDs, "subnet-ids", "", "comma-separated subnet ids to watch (instead of tag discovery)")
	fs.StringVar(&o.clusterName, "cluster-name", "", "EKS cluster name: discovers subnets tagged kubernetes.io/cluster/<name>, karpenter.sh/discovery=<name> and, in their VPCs, kubernetes.io/role/cni=1; ENIs tagged with it count as cluster nodes")
	fs.StringVar(&o.vpcID, "vpc-id", "", "restrict tag discovery to this VPC")
	fs.StringVar(&o.region, "region", "", "AWS region (default: AWS_REGION, shared config, then instance metadata)")
	fs.StringVar(&o.endpoint, "ec2-endpoint", "", "EC2 endpoint URL override (e.g. a VPC interface endpoint)")
	fs.IntVar(&o.maxAttempts, "ec2-max-attempts", 5, "attempts per EC2 call, the first included (throttling and 5xx are retried with backoff)")
	fs.DurationVar(&o.interval, "poll-interval", 5*time.Minute, "how often to poll EC2 (at least 30s)")
	fs.Float64Var(&o.jitter, "poll-jitter", 0.1, "spread each poll interval by up to +/- this fraction (0 to <1)")
	fs.IntVar(&o.recommend, "recommendations", 5, "nodes to recommend draining per subnet")
	fs.StringVar(&o.listen, "web.listen-address", ":9714", "address to serve /metrics, /healthz and /readyz on")
	fs.StringVar(&o.webConfig, "web.config.file", "", "exporter-toolkit web configuration file (TLS, basic auth)")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "run only while holding a Kubernetes Lease, so replicas never poll twice (use --leader-elect=false outside a cluster)")
	fs.StringVar(&o.leaseNS, "leader-elect-namespace", "", "namespace of the Lease (default: POD_NAMESPACE, then the service account's namespace)")
	fs.StringVar(&o.leaseName, "leader-elect-lease-name", "ipamwatch-subnets", "name of the Lease")
	fs.BoolVar(&o.useKubeNodes, "kube-nodes", true, "in a cluster, read the nodes from Kubernetes to tell cluster nodes from other instances (ENI tags are used too)")
	fs.StringVar(&o.log.level, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.log.format, "log.format", "json", "log format: json or text")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "kube-nodes" {
			o.kubeNodesSeen = true
		}
	})
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.format != "text" && o.format != "json" {
		return nil, fmt.Errorf("--format must be text or json, not %q", o.format)
	}
	if o.interval < 30*time.Second {
		return nil, fmt.Errorf("--poll-interval %s is too short: EC2 describe calls are rate-limited per account; use 30s or more", o.interval)
	}
	if o.jitter < 0 || o.jitter >= 1 {
		return nil, fmt.Errorf("--poll-jitter must be in [0, 1), not %v", o.jitter)
	}
	if o.maxAttempts < 1 || o.maxAttempts > 20 {
		return nil, fmt.Errorf("--ec2-max-attempts must be 1..20, not %d", o.maxAttempts)
	}
	for _, id := range strings.Split(o.subnetIDs, ",") {
		if id = strings.TrimSpace(id); id != "" {
			o.discovery.SubnetIDs = append(o.discovery.SubnetIDs, id)
		}
	}
	o.discovery.ClusterName, o.discovery.VPCID = o.clusterName, o.vpcID
	if err := o.discovery.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// kubeClient builds a client from the in-cluster configuration (the service account of the
// pod). Outside a cluster there is none: run with --leader-elect=false, and the cluster's
// nodes are then known from the ENI tags the VPC CNI sets.
func (o *subnetsOptions) kubeClient() (kubernetes.Interface, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	cfg.Timeout = 30 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// inCluster reports whether the process runs in a pod with a Kubernetes service at hand.
func (o *subnetsOptions) inCluster() bool {
	return os.Getenv("KUBERNETES_SERVICE_HOST") != ""
}

func leaseNamespace(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "kube-system"
}

func leaseIdentity() (string, error) {
	if id := os.Getenv("POD_NAME"); id != "" {
		return id, nil
	}
	return os.Hostname()
}

func cmdSubnets(ctx context.Context, args []string, s streams) int {
	o, err := parseSubnetsFlags(args, s.err)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return 2
	}
	logger, err := o.log.logger(s.err)
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return 2
	}
	api, err := subnets.NewClient(ctx, subnets.ClientOptions{Region: o.region, Endpoint: o.endpoint, MaxAttempts: o.maxAttempts})
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return 1
	}
	src := &subnets.Source{API: api, Discovery: o.discovery, ClusterName: o.clusterName, RecommendLimit: o.recommend}

	var kube kubernetes.Interface
	needKube := (!o.once && o.leaderElect) || (o.useKubeNodes && (o.inCluster() || o.kubeNodesSeen))
	if needKube {
		kube, err = o.kubeClient()
		if err != nil {
			if !o.once && o.leaderElect {
				fmt.Fprintf(s.err, "ipamwatch subnets: %v (outside a cluster pass --leader-elect=false)\n", err)
				return 1
			}
			logger.Warn("no Kubernetes access: cluster nodes are known from ENI tags only", "err", err)
		}
	}
	if kube != nil && o.useKubeNodes {
		src.Nodes = func(ctx context.Context) (map[string]string, error) { return subnets.NodeInstances(ctx, kube) }
		if o.once { // the what-if lists every pod: once, not every poll
			src.Workload = func(ctx context.Context) (subnets.Workload, []string, error) {
				return subnets.ReadWorkload(ctx, kube, "kube-system")
			}
		}
	}

	if o.once {
		return subnetsOnce(ctx, o, src, s)
	}
	return subnetsServe(ctx, o, src, kube, logger, s)
}

func subnetsOnce(ctx context.Context, o *subnetsOptions, src *subnets.Source, s streams) int {
	snap, err := src.Snapshot(ctx, time.Now)
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return 1
	}
	if o.format == "json" {
		err = subnets.WriteJSON(s.out, snap)
	} else {
		err = subnets.WriteText(s.out, snap)
	}
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets: writing the report:", err)
		return 1
	}
	return 0
}

func subnetsServe(ctx context.Context, o *subnetsOptions, src *subnets.Source, kube kubernetes.Interface, logger *slog.Logger, s streams) int {
	poller := &subnets.Poller{Source: src, Logger: logger, Interval: o.interval, Jitter: o.jitter}
	reg := subnets.NewRegistry(poller)
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	served := make(chan error, 1)
	go func() {
		err := subnets.Serve(ctx, subnets.ServeConfig{ListenAddress: o.listen, WebConfigFile: o.webConfig, Logger: logger},
			subnets.Handler(reg, &ready, logger), func(a net.Addr) { logger.Info("serving", "address", a.String()) })
		if err != nil {
			cancel() // without a server there is nothing to run for
		}
		served <- err
	}()

	if o.leaderElect {
		id, err := leaseIdentity()
		if err != nil {
			fmt.Fprintln(s.err, "ipamwatch subnets: leader identity:", err)
			cancel()
			if serr := <-served; serr != nil {
				logger.Error("serving", "err", serr)
			}
			return 1
		}
		cfg := subnets.LeaderConfig{Client: kube, Namespace: leaseNamespace(o.leaseNS), LeaseName: o.leaseName, Identity: id, Logger: logger}
		ready.Store(true) // followers are ready too: they serve their (empty) view
		if err := subnets.RunLeaderElected(ctx, cfg, poller.Run, poller.SetLeader); err != nil {
			fmt.Fprintln(s.err, "ipamwatch subnets:", err)
			cancel()
			if serr := <-served; serr != nil {
				logger.Error("serving", "err", serr)
			}
			return 1
		}
	} else {
		poller.SetLeader(true)
		ready.Store(true)
		poller.Run(ctx)
	}
	cancel()
	if err := <-served; err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return 1
	}
	return 0
}
