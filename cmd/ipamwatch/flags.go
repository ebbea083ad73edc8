package main

import (
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/collectors/kube"
)

// logFlags declares promslog's --log.level and --log.format on c, with the ecosystem's
// names, help and values (logfmt|json); level and format are this command's defaults.
func logFlags(c *kingpin.CmdClause, level, format string) *promslog.Config {
	cfg := &promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat()}
	c.Flag(promslogflag.LevelFlagName, promslogflag.LevelFlagHelp).
		Default(level).HintOptions(promslog.LevelFlagOptions...).SetValue(cfg.Level)
	c.Flag(promslogflag.FormatFlagName, promslogflag.FormatFlagHelp).
		Default(format).HintOptions(promslog.FormatFlagOptions...).SetValue(cfg.Format)
	return cfg
}

// newLogger builds the command's logger on w (standard error).
func newLogger(cfg *promslog.Config, w io.Writer) *slog.Logger {
	c := *cfg
	c.Writer = w
	return promslog.New(&c)
}

// dur formats a default duration the way Prometheus flags show them (5m, not 5m0s).
func dur(d time.Duration) string { return model.Duration(d).String() }

// sourceFlags declares the flags that say where this node's sources are: `run` and the live
// mode of `diagnose` read the same sources. Defaults come from agent.DefaultConfig.
func sourceFlags(c *kingpin.CmdClause, cfg *agent.Config) {
	d := agent.DefaultConfig()
	c.Flag("node-name", "This node's Kubernetes name.").Envar("NODE_NAME").StringVar(&cfg.NodeName)
	c.Flag("ipamd.address", "ipamd introspection address (http://host:port or unix:/path); empty disables.").
		Default(d.IPAMDAddress).StringVar(&cfg.IPAMDAddress)
	c.Flag("cni.metrics-url", "aws-node metrics URL; empty disables.").Default(d.CNIMetricsURL).StringVar(&cfg.CNIMetricsURL)
	c.Flag("imds.endpoint", "Instance metadata endpoint (default: the AWS SDK's, 169.254.169.254).").StringVar(&cfg.IMDSEndpoint)
	c.Flag("imds.disable", "Do not read instance metadata.").BoolVar(&cfg.DisableIMDS)
	c.Flag("subnets.metrics-url", "/metrics URL of the cluster-level 'ipamwatch subnets' exporter (confirms fragmentation vs exhaustion); empty disables.").
		StringVar(&cfg.SubnetsURL)
	c.Flag("log.ipamd", "ipamd.log to read; empty disables.").Default(d.IPAMDLog).StringVar(&cfg.IPAMDLog)
	c.Flag("log.plugin", "plugin.log to read; empty disables.").Default(d.PluginLog).StringVar(&cfg.PluginLog)
	c.Flag("log.backfill-bytes", "Read this many bytes before the end of each log at start.").
		Default(strconv.FormatInt(d.LogBackfill, 10)).Int64Var(&cfg.LogBackfill)
	c.Flag("kubernetes", "Kubernetes API access: auto (in-cluster when available), on, off.").
		Default(d.Kubernetes).EnumVar(&cfg.Kubernetes, "auto", "on", "off")
	// Outside a pod (development, benchmarks): the API server and credentials to use.
	kapi := &kube.Config{CAFile: kube.ServiceAccountDir + "/ca.crt", TokenFile: kube.ServiceAccountDir + "/token"}
	c.Flag("kubernetes.api-server", "API server URL instead of the in-cluster one (KUBERNETES_SERVICE_HOST/PORT).").
		Action(func(*kingpin.ParseContext) error { cfg.KubeAPI = kapi; return nil }).StringVar(&kapi.Host)
	c.Flag("kubernetes.ca-file", "CA bundle for --kubernetes.api-server.").Default(kapi.CAFile).StringVar(&kapi.CAFile)
	c.Flag("kubernetes.token-file", "Bearer token file for --kubernetes.api-server (re-read when it changes).").Default(kapi.TokenFile).StringVar(&kapi.TokenFile)
}
