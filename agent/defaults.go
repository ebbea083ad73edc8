package agent

import "time"

// DefaultConfig is the production configuration of a node agent in the aws-node pod's
// network namespace (the host's): the defaults of `ipamwatch run`'s flags, and what
// Config.Defaults fills into fields left zero. It is written here only; the command line
// takes its defaults from it.
func DefaultConfig() Config {
	return Config{
		ListenAddresses: []string{":9713"},
		TelemetryPath:   "/metrics",
		IPAMDAddress:    "http://127.0.0.1:61679",
		CNIMetricsURL:   "http://127.0.0.1:61678/metrics",
		IPAMDLog:        "/host/var/log/aws-routed-eni/ipamd.log",
		PluginLog:       "/host/var/log/aws-routed-eni/plugin.log",
		LogBackfill:     1 << 20,
		Kubernetes:      "auto",
		IntervalIPAMD:   30 * time.Second,
		IntervalCNI:     30 * time.Second,
		IntervalIMDS:    5 * time.Minute,
		IntervalKube:    60 * time.Second,
		IntervalSubnets: 60 * time.Second,
		DiagnoseEvery:   5 * time.Second,
		EventWindow:     10 * time.Minute,
		SourceTimeout:   10 * time.Second,
	}
}
