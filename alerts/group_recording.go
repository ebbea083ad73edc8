package alerts

import "fmt"

// recordingRules are cluster and subnet rollups so that overview panels and subnet alerts read
// a few hundred series instead of every node's (5,000 nodes x ENIs x states). Each keeps the
// cluster label in its `by` when one is configured, so that several clusters never merge.
func (x builder) recordingRules() []Recording {
	var out []Recording
	rec := func(name, expr string) {
		out = append(out, Recording{Group: GroupRecording, Record: name, Expr: expr})
	}
	n, s := perNode, perSubnet
	rec("node:ipamwatch_capacity_used:ratio", fmt.Sprintf(`
		%s
		/
		%s`,
		x.agg("sum", n, x.s("ipamwatch_ip_addresses", `state="assigned"`)),
		x.agg("max", n, x.s("ipamwatch_capacity_max_pod_ips")+" > 0")))
	rec("subnet_id:ipamwatch_subnet_node_held_addresses:sum", x.agg("sum", s, x.s("ipamwatch_subnet_node_held_addresses")))
	rec("subnet_id:ipamwatch_subnet_cidr_addresses:max", x.agg("max", s, x.s("ipamwatch_subnet_cidr_addresses")))
	rec("subnet_id:ipamwatch_subnet_node_held_addresses:ratio", fmt.Sprintf(`
		subnet_id:ipamwatch_subnet_node_held_addresses:sum
		/ on (%s)
		subnet_id:ipamwatch_subnet_cidr_addresses:max`, x.by(s)))
	rec("subnet_id_state:ipamwatch_eni_ip_addresses:sum", x.agg("sum", s, x.s("ipamwatch_eni_ip_addresses"), "state"))
	rec("subnet_id:ipamwatch_nodes:count", x.agg("count", s, x.agg("count", s, x.s("ipamwatch_eni_info"), "node")))
	rec("ceiling:ipamwatch_binding_ceiling:count", x.agg("sum", perCluster, x.s("ipamwatch_binding_ceiling"), "ceiling"))
	rec("cause_severity:ipamwatch_finding:count", x.agg("sum", perCluster, x.s("ipamwatch_finding"), "cause", "severity"))
	rec("state:ipamwatch_ip_addresses:sum", x.agg("sum", perCluster, x.s("ipamwatch_ip_addresses"), "state"))
	rec("network:ipamwatch_pods:sum", x.agg("sum", perCluster, x.s("ipamwatch_pods"), "network"))
	for _, m := range []string{"headroom_pods", "pods_pending_ip", "capacity_max_pod_ips", "capacity_attached_pod_ips", "kubelet_max_pods", "ipv4_prefixes", "enis_attached", "enis_max"} {
		rec("cluster:ipamwatch_"+m+":sum", x.agg("sum", perCluster, x.s("ipamwatch_"+m)))
	}
	rec("class:ipamwatch_log_events:rate5m", x.agg("sum", perCluster, fmt.Sprintf("rate(%s[5m])", x.s("ipamwatch_log_events_total")), "class"))
	rec("code:ipamwatch_cni_aws_api_errors:rate5m", x.agg("sum", perCluster, fmt.Sprintf("rate(%s[5m])", x.s("ipamwatch_cni_aws_api_errors_total")), "code"))
	rec("cluster:ipamwatch_cni_no_available_ip:rate5m", x.agg("sum", perCluster, fmt.Sprintf("rate(%s[5m])", x.s("ipamwatch_cni_no_available_ip_total"))))
	rec("source:ipamwatch_source_up:sum", x.agg("sum", perCluster, x.s("ipamwatch_source_up"), "source"))
	rec("source:ipamwatch_source_up:count", x.agg("count", perCluster, x.s("ipamwatch_source_up"), "source"))
	return append(out, x.forecastRecordings()...)
}
