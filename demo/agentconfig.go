package demo

import "github.com/ipamwatch/ipamwatch/agent"

// AgentConfig points an agent at the simulated node: every source (ipamd, CNI metrics,
// instance metadata, the subnet exporter, both logs and the Kubernetes API) at the node's
// endpoints and files, the rest left for the caller (listen addresses, intervals, clock).
func (n *Node) AgentConfig() agent.Config {
	return agent.Config{
		NodeName:      n.NodeName,
		IPAMDAddress:  n.IPAMDAddress,
		CNIMetricsURL: n.CNIMetricsURL,
		IMDSEndpoint:  n.IMDSEndpoint,
		SubnetsURL:    n.SubnetsURL,
		IPAMDLog:      n.IPAMDLog,
		PluginLog:     n.PluginLog,
		Kubernetes:    "on",
		KubeAPI:       &n.KubeAPI,
	}
}
