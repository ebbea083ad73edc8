package alerts

// AlertmanagerExample is a route and inhibit rules to paste into an Alertmanager configuration:
// one notification per incident (grouped by alert and by what one alert stands for: cluster,
// subnet, node), and the cause silencing what it explains. `cluster` is the cluster label (use
// yours; a label no alert carries compares equal). docs/alerts.md shows it; a test runs
// `amtool check-config` on it and the end-to-end test routes with its inhibit rules.
func AlertmanagerExample() string {
	return `route:
  receiver: default
  routes:
    - matchers: ['alertname=~"Ipamwatch.*"']
      receiver: default
      group_by: [alertname, cluster, subnet_id, node]
      group_wait: 1m
      repeat_interval: 4h
receivers:
  - name: default
inhibit_rules:
  # A cause that pages for the cluster or a subnet explains "pods cannot get an IP" in the
  # cluster: one page per incident. (A second, unrelated failure in the same cluster is then
  # only in the cause alert's node list and the silenced symptom's.)
  - source_matchers: ['alertname=~"IpamwatchSubnetExhausted|IpamwatchPrefixFragmented|IpamwatchENIQuotaExceeded|IpamwatchIAMDenied|IpamwatchAWSNodeRBACDenied"']
    target_matchers: ['alertname="IpamwatchPodIPAllocationFailing"']
    equal: [cluster]
  # The nodes see the subnet full: the cluster-level view's warning adds nothing.
  - source_matchers: ['alertname="IpamwatchSubnetExhausted"']
    target_matchers: ['alertname=~"IpamwatchSubnetFreeAddressesLow|IpamwatchSubnetNodeHeldHigh"']
    equal: [cluster, subnet_id]
  - source_matchers: ['alertname="IpamwatchPrefixFragmented"']
    target_matchers: ['alertname="IpamwatchSubnetFreePrefixBlocksLow"']
    equal: [cluster, subnet_id]
  # No agent is up: the per-node "agent down" alerts add nothing.
  - source_matchers: ['alertname="IpamwatchAgentAbsent"']
    target_matchers: ['alertname="IpamwatchAgentDown"']
    equal: [cluster]
  # The node is at its ENI limit with pods waiting: "pool near ceiling" says less.
  - source_matchers: ['alertname="IpamwatchENILimitPodsWaiting"']
    target_matchers: ['alertname="IpamwatchIPPoolNearCeiling"']
    equal: [cluster, node]
  # ipamd is down: its log stops too.
  - source_matchers: ['alertname="IpamwatchIpamdUnreachable"']
    target_matchers: ['alertname="IpamwatchLogTailStalled"']
    equal: [cluster, node]
`
}
