//go:build !agentonly

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipamwatch/ipamwatch/internal/schema"
	"github.com/ipamwatch/ipamwatch/internal/webserver"
	"github.com/ipamwatch/ipamwatch/subnets"
)

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

func runSubnets(ctx context.Context, o *subnetsOptions, s streams) int {
	discovery := subnets.Discovery{SubnetIDs: o.subnetIDs, ClusterName: o.clusterName, VPCID: o.vpcID}
	err := o.validate()
	if err == nil {
		err = discovery.Validate()
	}
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return exitError
	}
	logger := newLogger(o.log, s.err)
	api, err := subnets.NewClient(ctx, subnets.ClientOptions{Region: o.region, Endpoint: o.endpoint, MaxAttempts: o.maxAttempts})
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return exitError
	}
	src := &subnets.Source{API: api, Discovery: discovery, ClusterName: o.clusterName, RecommendLimit: o.recommend}

	var kube kubernetes.Interface
	needKube := (!o.once && o.leaderElect) || (o.useKubeNodes && (o.inCluster() || o.kubeNodesSeen))
	if needKube {
		kube, err = o.kubeClient()
		if err != nil {
			if !o.once && o.leaderElect {
				fmt.Fprintf(s.err, "ipamwatch subnets: %v (outside a cluster pass --no-leader-elect)\n", err)
				return exitError
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
		return exitError
	}
	if o.format == "json" {
		err = schema.Write(s.out, schema.Subnets, subnets.ToJSON(snap))
	} else {
		err = subnets.WriteText(s.out, snap)
	}
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets: writing the report:", err)
		return exitError
	}
	return exitOK
}

func subnetsServe(ctx context.Context, o *subnetsOptions, src *subnets.Source, kube kubernetes.Interface, logger *slog.Logger, s streams) int {
	poller := &subnets.Poller{Source: src, Logger: logger, Interval: o.interval, Jitter: o.jitter}
	reg := subnets.NewRegistry(poller)
	var ready atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	path := *o.web.telemetryPath
	srv, err := webserver.New(webserver.Config{
		ListenAddresses: *o.web.toolkit.WebListenAddresses,
		SystemdSocket:   *o.web.toolkit.WebSystemdSocket,
		WebConfigFile:   *o.web.toolkit.WebConfigFile,
		MaxConnections:  *o.web.maxConnections,
		WriteTimeout:    subnets.MetricsTimeout + 5*time.Second,
		Logger:          logger,
		Landing: web.LandingConfig{
			Name:        "ipamwatch subnets",
			Description: "Free addresses and free /28 blocks of the cluster's subnets, from EC2",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: path, Text: "Metrics", Description: "per-subnet free addresses, free /28 blocks, fragmentation, leader state"},
				{Address: "/healthz", Text: "Health", Description: "the process is alive"},
				{Address: "/readyz", Text: "Readiness", Description: "the replica has joined the election or started polling"},
			},
		},
	}, subnets.Mux(reg, &ready, path, logger))
	if err == nil {
		err = srv.Listen()
	}
	if err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return exitError
	}
	for _, a := range srv.Addrs() {
		logger.Info("serving", "address", a.String(), "telemetry_path", path)
	}
	served := make(chan error, 1)
	go func() {
		err := srv.Serve(ctx)
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
			return exitError
		}
		cfg := subnets.LeaderConfig{Client: kube, Namespace: leaseNamespace(o.leaseNS), LeaseName: o.leaseName, Identity: id, Logger: logger}
		ready.Store(true) // followers are ready too: they serve their (empty) view
		if err := subnets.RunLeaderElected(ctx, cfg, poller.Run, poller.SetLeader); err != nil {
			fmt.Fprintln(s.err, "ipamwatch subnets:", err)
			cancel()
			if serr := <-served; serr != nil {
				logger.Error("serving", "err", serr)
			}
			return exitError
		}
	} else {
		poller.SetLeader(true)
		ready.Store(true)
		poller.Run(ctx)
	}
	cancel()
	if err := <-served; err != nil {
		fmt.Fprintln(s.err, "ipamwatch subnets:", err)
		return exitError
	}
	return exitOK
}
