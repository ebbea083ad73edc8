package alerts

// AlertmanagerExample is a route and inhibit rules to paste into an Alertmanager configuration:
// group ipamwatch alerts per node or subnet, and silence the alerts that a firing, more specific
// one already explains. docs/alerts.md shows it; a test runs `amtool check-config` on it.
func AlertmanagerExample() string {
	return `route:
  receiver: default
  routes:
    - matchers: ['alertname=~"Ipamwatch.*"']
      receiver: default
      group_by: [alertname, node, subnet_id]
      group_wait: 1m
      repeat_interval: 4h
receivers:
  - name: default
inhibit_rules:
  # No agent is up: the per-node "agent down" alerts add nothing.
  - source_matchers: ['alertname="IpamwatchAgentAbsent"']
    target_matchers: ['alertname="IpamwatchAgentDown"']
  # The node is at its ENI limit with pods waiting: "pool near ceiling" says less.
  - source_matchers: ['alertname="IpamwatchENILimitPodsWaiting"']
    target_matchers: ['alertname="IpamwatchIPPoolNearCeiling"']
    equal: [node]
  # ipamd is down: its log stops too.
  - source_matchers: ['alertname="IpamwatchIpamdUnreachable"']
    target_matchers: ['alertname="IpamwatchLogTailStalled"']
    equal: [node]
`
}
