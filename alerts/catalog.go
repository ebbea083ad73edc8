package alerts

import (
	"fmt"
	"strings"
)

// md turns the text of a runbook written in a Go raw string into Markdown: Go raw strings
// cannot hold a backquote, so runbooks write inline code between ¦ marks and fences as ~~~.
// Go indentation is tabs and is dropped; indentation that matters in Markdown is spaces.
func md(s string) string {
	lines := strings.Split(strings.Trim(s, "\n\t "), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimLeft(l, "\t"), " \t")
	}
	return strings.ReplaceAll(strings.Join(lines, "\n"), "¦", "`")
}

// Build returns the catalog for p. p must be valid (Groups validates; tests call Build directly
// with DefaultParams).
func Build(p Params) Catalog {
	x := b{p: p}
	w := p.FailureWindow
	node := func(metric string, m ...string) string { return x.keyed("node", metric, m...) }
	sub := func(metric string, m ...string) string { return x.keyed("subnet_id", metric, m...) }

	// Numbers quoted by many descriptions.
	headroom := count("node", "sum("+node("ipamwatch_headroom_pods")+")", "unknown")
	pending := count("node", "sum("+node("ipamwatch_pods_pending_ip")+")", "unknown")
	ceiling := lbl("node", node("ipamwatch_binding_ceiling")+" == 1", "ceiling", "unknown")
	nodeSubnet := lbl("node", node("ipamwatch_node_info"), "subnet_id", "unknown")
	instanceType := lbl("node", node("ipamwatch_node_info"), "instance_type", "unknown")
	capMax := count("node", "max("+node("ipamwatch_capacity_max_pod_ips")+")", "unknown")
	maxPods := count("node", "max("+node("ipamwatch_kubelet_max_pods")+")", "unknown")
	logEvents := func(class string) string {
		return count("node", fmt.Sprintf("sum(increase(%s[%s]))", node("ipamwatch_log_events_total", `class=~"`+class+`"`), w), "0")
	}
	apiErrors := func(codes string) string {
		return count("node", fmt.Sprintf("sum(increase(%s[%s]))", node("ipamwatch_cni_aws_api_errors_total", `code=~"`+codes+`"`), w), "0")
	}
	finding := func(cause string) string {
		return fmt.Sprintf("max by (node) (%s) == 1", x.s("ipamwatch_finding", fmt.Sprintf("cause=%q", cause)))
	}
	agent := x.agentCommands
	held := "sum(" + node("ipamwatch_subnet_node_held_addresses") + ")"

	var c Catalog
	rec := func(group, name, expr string) {
		c.Recordings = append(c.Recordings, Recording{Group: group, Record: name, Expr: trim(expr)})
	}
	add := func(a Alert) {
		a.Expr = trim(a.Expr)
		a.Runbook = Runbook{Symptom: md(a.Runbook.Symptom), Confirm: md(a.Runbook.Confirm), Fix: md(a.Runbook.Fix), Verify: md(a.Runbook.Verify)}
		c.Alerts = append(c.Alerts, a)
	}

	// Recording rules: cluster and subnet rollups so that overview panels and subnet alerts read
	// a few hundred series instead of every node's (5,000 nodes x ENIs x states).
	rec(GroupRecording, "node:ipamwatch_capacity_used:ratio", fmt.Sprintf(`
		sum by (node) (%s)
		/
		max by (node) (%s > 0)`, x.s("ipamwatch_ip_addresses", `state="assigned"`), x.s("ipamwatch_capacity_max_pod_ips")))
	rec(GroupRecording, "subnet_id:ipamwatch_subnet_node_held_addresses:sum", fmt.Sprintf(`sum by (subnet_id) (%s)`, x.s("ipamwatch_subnet_node_held_addresses")))
	rec(GroupRecording, "subnet_id:ipamwatch_subnet_cidr_addresses:max", fmt.Sprintf(`max by (subnet_id) (%s)`, x.s("ipamwatch_subnet_cidr_addresses")))
	rec(GroupRecording, "subnet_id:ipamwatch_subnet_node_held_addresses:ratio", `
		subnet_id:ipamwatch_subnet_node_held_addresses:sum
		/ on (subnet_id)
		subnet_id:ipamwatch_subnet_cidr_addresses:max`)
	rec(GroupRecording, "subnet_id_state:ipamwatch_eni_ip_addresses:sum", fmt.Sprintf(`sum by (subnet_id, state) (%s)`, x.s("ipamwatch_eni_ip_addresses")))
	rec(GroupRecording, "subnet_id:ipamwatch_nodes:count", fmt.Sprintf(`count by (subnet_id) (count by (subnet_id, node) (%s))`, x.s("ipamwatch_eni_info")))
	rec(GroupRecording, "ceiling:ipamwatch_binding_ceiling:count", fmt.Sprintf(`sum by (ceiling) (%s)`, x.s("ipamwatch_binding_ceiling")))
	rec(GroupRecording, "cause_severity:ipamwatch_finding:count", fmt.Sprintf(`sum by (cause, severity) (%s)`, x.s("ipamwatch_finding")))
	rec(GroupRecording, "state:ipamwatch_ip_addresses:sum", fmt.Sprintf(`sum by (state) (%s)`, x.s("ipamwatch_ip_addresses")))
	rec(GroupRecording, "network:ipamwatch_pods:sum", fmt.Sprintf(`sum by (network) (%s)`, x.s("ipamwatch_pods")))
	for _, m := range []string{"headroom_pods", "pods_pending_ip", "capacity_max_pod_ips", "capacity_attached_pod_ips", "kubelet_max_pods", "ipv4_prefixes", "enis_attached", "enis_max"} {
		rec(GroupRecording, "cluster:ipamwatch_"+m+":sum", fmt.Sprintf(`sum(%s)`, x.s("ipamwatch_"+m)))
	}
	rec(GroupRecording, "class:ipamwatch_log_events:rate5m", fmt.Sprintf(`sum by (class) (rate(%s[5m]))`, x.s("ipamwatch_log_events_total")))
	rec(GroupRecording, "code:ipamwatch_cni_aws_api_errors:rate5m", fmt.Sprintf(`sum by (code) (rate(%s[5m]))`, x.s("ipamwatch_cni_aws_api_errors_total")))
	rec(GroupRecording, "cluster:ipamwatch_cni_no_available_ip:rate5m", fmt.Sprintf(`sum(rate(%s[5m]))`, x.s("ipamwatch_cni_no_available_ip_total")))
	rec(GroupRecording, "source:ipamwatch_source_up:sum", fmt.Sprintf(`sum by (source) (%s)`, x.s("ipamwatch_source_up")))
	rec(GroupRecording, "source:ipamwatch_source_up:count", fmt.Sprintf(`count by (source) (%s)`, x.s("ipamwatch_source_up")))

	// --- Pods failing now: the symptom, whatever the cause.
	add(Alert{
		Name: "IpamwatchPodIPAllocationFailing", Group: GroupNode, Severity: "critical", For: "5m",
		// A burst that outruns the warm pool fails a few pod ADDs and is over in seconds: the
		// alert needs failures in the window AND pods still waiting for an IP (when the agent
		// knows; without the Kubernetes source the failures alone count).
		Expr: fmt.Sprintf(`
			(
			  sum by (node) (increase(%s[%s])) > 0
			  or
			  sum by (node) (increase(%s[%s])) > 0
			  or
			  %s
			)
			unless on (node)
			(sum by (node) (%s) == 0)`,
			x.s("ipamwatch_log_events_total", `class=~"ip_pool_empty|alloc_failed"`), w,
			x.s("ipamwatch_cni_no_available_ip_total"), w,
			finding("ip_pool_empty"),
			x.s("ipamwatch_pods_pending_ip")),
		Summary: "Pods on a node cannot get an IP address.",
		Description: fmt.Sprintf("{{ $labels.node }}: pods could not get an IP in the last %s: %s allocation-failure lines in the CNI logs (ip_pool_empty, alloc_failed) and %s pod ADDs that found no free IP (awscni_no_available_ip_addresses). %s pods wait for an IP; the binding ceiling is %s and headroom is %s pods. The node's other ipamwatch alerts and /diagnosis name the cause.",
			w, logEvents("ip_pool_empty|alloc_failed"),
			count("node", fmt.Sprintf("sum(increase(%s[%s]))", node("ipamwatch_cni_no_available_ip_total"), w), "0"),
			pending, ceiling, headroom),
		Meaning: "Pods on the node fail to get an IP now (CNI log errors, the CNI's no-available-IP counter, or an empty pool). A symptom: look for the cause alert on the same node.",
		Cause:   "ip_pool_empty",
		Runbook: Runbook{
			Symptom: `
				Pods on the node stay in ¦ContainerCreating¦ with events like
				¦failed to assign an IP address to container¦ or
				¦DataStore has no available IP/Prefix addresses¦. ipamd has no free address to hand out.
				This alert is the symptom; the cause is the node's binding ceiling.`,
			Confirm: agent("ip_pool_empty") + `
				~~~sh
				kubectl get events -A --field-selector reason=FailedCreatePodSandBox | grep "$NODE"
				kubectl get pods -A --field-selector spec.nodeName="$NODE" | grep -v Running
				~~~
				PromQL: ¦ipamwatch_binding_ceiling{node="$NODE"} == 1¦ names the ceiling,
				¦ipamwatch_headroom_pods{node="$NODE"}¦ the pods that still fit.`,
			Fix: `
				Follow the runbook of the cause alert firing on the same node (subnet exhausted, prefix
				fragmentation, ENI limit, max-pods, throttling, IAM, IMDS). If none fires:
				the pool only lags behind a burst; ipamd refills it within seconds to minutes. Raise
				¦WARM_IP_TARGET¦/¦MINIMUM_IP_TARGET¦ (or ¦WARM_PREFIX_TARGET¦) on the aws-node DaemonSet
				if bursts are normal for this node group.`,
			Verify: `
				¦sum(increase(ipamwatch_log_events_total{node="$NODE",class=~"ip_pool_empty|alloc_failed"}[10m]))¦
				returns 0, ¦ipamwatch_pods_pending_ip{node="$NODE"}¦ is 0 and the pending pods run.`,
		},
	})

	add(Alert{
		Name: "IpamwatchSubnetExhausted", Group: GroupNode, Severity: "critical", For: "2m",
		Expr:    finding("subnet_exhausted"),
		Summary: "The node's subnet has no free IP addresses left.",
		Description: fmt.Sprintf("{{ $labels.node }}: EC2 refuses new addresses because the subnet is full (%s InsufficientFreeAddressesInSubnet lines in %s). The node's subnet is %s and the node holds %s addresses in its subnets; headroom is %s pods and %s pods wait for an IP.",
			logEvents("subnet_exhausted"), w, nodeSubnet, count("node", held, "unknown"), headroom, pending),
		Meaning: "EC2 answered InsufficientFreeAddressesInSubnet: the subnet the node allocates from is full, so no node there can grow its pool.",
		Cause:   "subnet_exhausted",
		Runbook: Runbook{
			Symptom: `
				ipamd cannot attach addresses, prefixes or ENIs because the subnet has no free address:
				ipamd.log shows ¦InsufficientFreeAddressesInSubnet¦ (or ¦There aren't sufficient free
				Ipv4 addresses or prefixes¦) and backs off for two minutes. Every node that allocates
				from that subnet is affected, not only this one.`,
			Confirm: agent("subnet_exhausted") + `
				~~~sh
				SUBNET=<subnet_id from the diagnosis evidence>
				aws ec2 describe-subnets --subnet-ids "$SUBNET" \
				  --query 'Subnets[].[SubnetId,CidrBlock,AvailableIpAddressCount]' --output table
				kubectl debug node/"$NODE" -it --image=busybox -- \
				  grep -c InsufficientFreeAddressesInSubnet /host/var/log/aws-routed-eni/ipamd.log
				~~~
				¦AvailableIpAddressCount¦ at or near 0 confirms it. If it is high, the subnet is
				fragmented instead (see IpamwatchPrefixFragmented).`,
			Fix: `
				- Short term: free addresses. Lower the warm pool (¦WARM_ENI_TARGET=0¦ with
				  ¦WARM_IP_TARGET¦/¦MINIMUM_IP_TARGET¦, or a smaller ¦WARM_PREFIX_TARGET¦), scale down
				  idle node groups in the subnet, delete unused ENIs
				  (¦aws ec2 describe-network-interfaces --filters Name=subnet-id,Values=$SUBNET Name=status,Values=available¦).
				- Lasting: give pods more address space. Add a secondary VPC CIDR (for example from
				  100.64.0.0/10) with larger subnets and enable custom networking
				  (¦AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=true¦ and one ENIConfig per zone), or tag extra
				  subnets ¦kubernetes.io/role/cni=1¦ with subnet discovery (CNI v1.18+), then recycle nodes.`,
			Verify: `
				The describe-subnets count rises, ¦ipamwatch_finding{cause="subnet_exhausted"}¦ returns
				to 0 on the affected nodes and ¦ipamwatch_headroom_pods¦ grows again.`,
		},
	})

	add(Alert{
		Name: "IpamwatchPrefixFragmented", Group: GroupNode, Severity: "critical", For: "5m",
		Expr:    finding("prefix_fragmented"),
		Summary: "EC2 finds no free contiguous /28 block for a new prefix.",
		Description: fmt.Sprintf("{{ $labels.node }}: EC2 found no free aligned /28 for a new prefix (%s InsufficientCidrBlocks lines in %s) although the subnet may still have free addresses. The node's subnet is %s; headroom is %s pods and %s pods wait for an IP.",
			logEvents("prefix_fragmented"), w, nodeSubnet, headroom, pending),
		Meaning: "With prefix delegation, EC2 answered InsufficientCidrBlocks: the subnet's free addresses are scattered, no whole /28 is left.",
		Cause:   "prefix_fragmented",
		Runbook: Runbook{
			Symptom: `
				Under prefix delegation every new slot needs a free, aligned /28. When secondary IPs and
				ENI primaries are scattered over the subnet, EC2 answers ¦InsufficientCidrBlocks¦ even
				though ¦AvailableIpAddressCount¦ is still high. The node cannot grow; pods wait.`,
			Confirm: agent("prefix_fragmented") + `
				~~~sh
				SUBNET=<subnet_id from the diagnosis evidence>
				aws ec2 describe-subnets --subnet-ids "$SUBNET" \
				  --query 'Subnets[].[CidrBlock,AvailableIpAddressCount]' --output table
				aws ec2 get-subnet-cidr-reservations --subnet-id "$SUBNET"
				kubectl debug node/"$NODE" -it --image=busybox -- \
				  grep -c InsufficientCidrBlocks /host/var/log/aws-routed-eni/ipamd.log
				~~~
				Many free addresses but ¦InsufficientCidrBlocks¦ confirms fragmentation; few free
				addresses means the subnet is simply full (IpamwatchSubnetExhausted).`,
			Fix: `
				- Reserve space for prefixes: create a subnet CIDR reservation of type ¦prefix¦
				  (¦aws ec2 create-subnet-cidr-reservation --subnet-id $SUBNET --cidr <free range> --reservation-type prefix¦)
				  so that only /28 prefixes are carved from it.
				- Better: give prefix-delegation nodes a dedicated subnet (custom networking or subnet
				  discovery) where no /32 secondary addresses are handed out.
				- Recycle nodes in secondary-IP mode that share the subnet, so their scattered /32s return.`,
			Verify: `
				No new ¦InsufficientCidrBlocks¦ lines, ¦ipamwatch_finding{cause="prefix_fragmented"}¦
				back to 0, ¦ipamwatch_ipv4_prefixes{node="$NODE"}¦ grows when pods arrive.`,
		},
	})

	add(Alert{
		Name: "IpamwatchENILimitPodsWaiting", Group: GroupNode, Severity: "critical", For: "10m",
		Expr: fmt.Sprintf(`
			max by (node) (%s) > 0
			and on (node)
			(max by (node) (%s) >= max by (node) (%s))
			and on (node)
			sum by (node) (%s) == 0`,
			x.s("ipamwatch_pods_pending_ip"), x.s("ipamwatch_enis_attached"), x.s("ipamwatch_enis_max"),
			x.s("ipamwatch_ip_addresses", `state="free"`)),
		Summary: "A node has every ENI it may use attached and pods wait for an IP.",
		Description: fmt.Sprintf("{{ $labels.node }} (%s) has all %s ENIs it may use attached and {{ $value | printf \"%%.0f\" }} pods wait for an IP. It holds %s pod addresses (%s assigned) of the %s it can ever hold; kubelet max-pods is %s.",
			instanceType, count("node", "max("+node("ipamwatch_enis_max")+")", "unknown"),
			count("node", "sum("+node("ipamwatch_ip_addresses")+")", "unknown"),
			count("node", "sum("+node("ipamwatch_ip_addresses", `state="assigned"`)+")", "unknown"),
			capMax, maxPods),
		Meaning: "The node reached its instance type's ENI limit (or MAX_ENI), has no free address left and pods are still waiting: kubelet admits more pods than the ENIs can address.",
		Cause:   "eni_limit",
		Runbook: Runbook{
			Symptom: `
				All ENIs the instance type allows (after ¦MAX_ENI¦, a trunk ENI and the primary ENI under
				custom networking) are attached and full. ipamd logs ¦Skipping ENI allocation as the max
				ENI limit is already reached¦ at DEBUG, or EC2 answers ¦AttachmentLimitExceeded¦. New
				pods stay in ¦ContainerCreating¦.`,
			Confirm: agent("eni_limit") + `
				~~~sh
				TYPE=$(kubectl get node "$NODE" -o jsonpath='{.metadata.labels.node\.kubernetes\.io/instance-type}')
				aws ec2 describe-instance-types --instance-types "$TYPE" \
				  --query 'InstanceTypes[].NetworkInfo.[MaximumNetworkInterfaces,Ipv4AddressesPerInterface]'
				kubectl get node "$NODE" -o jsonpath='{.status.allocatable.pods}{"\n"}'
				kubectl -n kube-system get ds aws-node -o yaml | grep -A1 -E 'MAX_ENI|ENABLE_PREFIX_DELEGATION'
				~~~
				¦ipamwatch_enis_attached¦ equal to ¦ipamwatch_enis_max¦ with
				¦ipamwatch_pods_pending_ip > 0¦ confirms it.`,
			Fix: `
				- Make max-pods match what the ENIs can address: ¦ipamwatch maxpods¦ prints the right
				  value; set it in the node group (AL2023 nodeadm ¦maxPods¦, Bottlerocket ¦max-pods¦,
				  Karpenter ¦kubelet.maxPods¦) so the scheduler stops sending pods the node cannot address.
				- Or raise density: enable prefix delegation on Nitro instances
				  (¦ENABLE_PREFIX_DELEGATION=true¦), remove a too low ¦MAX_ENI¦, or use a larger type.`,
			Verify: `
				¦ipamwatch_pods_pending_ip{node="$NODE"}¦ returns to 0 and
				¦ipamwatch_headroom_pods{node="$NODE"}¦ is positive on new nodes.`,
		},
	})

	add(Alert{
		Name: "IpamwatchENIQuotaExceeded", Group: GroupNode, Severity: "critical", For: "5m",
		Expr:    finding("eni_quota"),
		Summary: "The account's regional network-interface quota is used up.",
		Description: fmt.Sprintf("{{ $labels.node }}: EC2 refused to create an ENI because the account's regional network-interface quota is reached (%s NetworkInterfaceLimitExceeded lines in %s). Every node in the region that needs a new ENI is blocked; headroom here is %s pods and %s pods wait.",
			logEvents("eni_quota"), w, headroom, pending),
		Meaning: "EC2 answered NetworkInterfaceLimitExceeded: the region's ENI quota is exhausted, no node can add ENIs.",
		Cause:   "eni_quota",
		Runbook: Runbook{
			Symptom: `
				¦CreateNetworkInterface¦ fails with ¦NetworkInterfaceLimitExceeded¦: the account has as
				many ENIs in the region as its quota allows. No node anywhere in the region can grow by
				ENIs; nodes with room on their existing ENIs still work.`,
			Confirm: agent("eni_quota") + `
				~~~sh
				aws service-quotas get-service-quota --service-code vpc --quota-code L-DF5E4CA3 \
				  --query 'Quota.Value'
				aws ec2 describe-network-interfaces --query 'length(NetworkInterfaces)'
				aws ec2 describe-network-interfaces --filters Name=status,Values=available \
				  --query 'length(NetworkInterfaces)'
				~~~
				The count at the quota confirms it; many ¦available¦ (detached) ENIs point to leaks.`,
			Fix: `
				- Delete leaked, detached ENIs (status ¦available¦) left by terminated nodes after
				  checking they belong to no running workload.
				- Request a higher "Network interfaces per Region" quota (¦L-DF5E4CA3¦) in Service Quotas.
				- Use prefix delegation so each ENI carries 16 times the addresses.`,
			Verify: `
				¦ipamwatch_finding{cause="eni_quota"}¦ returns to 0 and ¦ipamwatch_enis_attached¦ grows on
				nodes that need it.`,
		},
	})

	add(Alert{
		Name: "IpamwatchIPPoolNearCeiling", Group: GroupNode, Severity: "warning", For: "15m",
		Expr: fmt.Sprintf(`
			node:ipamwatch_capacity_used:ratio > %g
			and on (node)
			max by (node) (%s) == 1`,
			p.PoolCeilingRatio, x.s("ipamwatch_binding_ceiling", `ceiling!~"none|max_pods"`)),
		Summary: "A node uses most of the pod IPs it can ever hold and cannot grow its pool.",
		Description: fmt.Sprintf("{{ $labels.node }} uses {{ $value | humanizePercentage }} of the %s pod IPs it can ever hold (%s assigned) and cannot grow its pool: the binding ceiling is %s. Headroom is %s pods.",
			capMax, count("node", "sum("+node("ipamwatch_ip_addresses", `state="assigned"`)+")", "unknown"), ceiling, headroom),
		Meaning: fmt.Sprintf("More than %.0f%% of the node's IP ceiling is assigned and a ceiling other than max-pods stops the pool from growing.", p.PoolCeilingRatio*100),
		Runbook: Runbook{
			Symptom: `
				The node is close to the most pod IPs it can ever hold
				(¦ipamwatch_capacity_max_pod_ips¦) and something other than kubelet max-pods (ENIs,
				the subnet, fragmentation, throttling, branch ENIs) stops growth. The next burst of pods
				will wait for IPs.`,
			Confirm: agent("") + `
				PromQL:
				~~~promql
				node:ipamwatch_capacity_used:ratio{node="$NODE"}
				ipamwatch_binding_ceiling{node="$NODE"} == 1
				ipamwatch_headroom_pods{node="$NODE"}
				~~~`,
			Fix: `
				Act on the binding ceiling: ¦eni¦ -> right-size max-pods or enable prefix delegation;
				¦subnet¦ or ¦prefix_fragmentation¦ -> add address space (see IpamwatchSubnetExhausted,
				IpamwatchPrefixFragmented); ¦throttling¦ -> IpamwatchEC2Throttled; ¦branch_eni¦ ->
				IpamwatchBranchENIBudgetLow. Spreading pods over more nodes (cluster autoscaler or
				Karpenter limits) relieves the node meanwhile.`,
			Verify: `
				¦node:ipamwatch_capacity_used:ratio{node="$NODE"}¦ falls below the threshold or the
				binding ceiling becomes ¦none¦ or ¦max_pods¦.`,
		},
	})

	add(Alert{
		Name: "IpamwatchMaxPodsNotRaised", Group: GroupNode, Severity: "warning", For: "30m",
		Expr:    finding("max_pods_not_raised"),
		Summary: "Prefix delegation is on but kubelet max-pods still has the secondary-IP value.",
		Description: fmt.Sprintf("{{ $labels.node }} runs prefix delegation and could hold %s pod IPs, but kubelet max-pods is still %s, the secondary-IP value: density did not change. %s pods run there.",
			capMax, maxPods, count("node", "sum("+node("ipamwatch_pods")+")", "unknown")),
		Meaning: "Prefix delegation was enabled without raising kubelet max-pods, so kubelet still caps the node at the old density.",
		Cause:   "max_pods_not_raised",
		Runbook: Runbook{
			Symptom: `
				¦ENABLE_PREFIX_DELEGATION=true¦ gives each ENI slot 16 addresses, but the node's bootstrap
				still set max-pods to the secondary-IP value (for example 29 on m5.large). Pods stay
				Pending with ¦Too many pods¦ while the node has addresses to spare.`,
			Confirm: agent("max_pods_not_raised") + `
				~~~sh
				kubectl get node "$NODE" -o jsonpath='{.status.allocatable.pods}{"\n"}'
				kubectl -n kube-system get ds aws-node -o yaml | grep -A1 ENABLE_PREFIX_DELEGATION
				ipamwatch maxpods --prefix-delegation --enis <ENIs> --ips-per-eni <IPv4 per ENI> --vcpus <vCPUs> --nitro
				~~~`,
			Fix: `
				Set max-pods in the node group's launch configuration: AL2023 nodeadm
				¦kubelet.config.maxPods¦, AL2 ¦--use-max-pods false --kubelet-extra-args '--max-pods=110'¦,
				Bottlerocket ¦settings.kubernetes.max-pods¦, Karpenter ¦spec.kubelet.maxPods¦. Use 110 for
				up to 30 vCPUs, 250 above (the EKS recommendation), then replace the nodes.`,
			Verify: `
				¦ipamwatch_kubelet_max_pods{node="$NODE"}¦ shows the new value on replaced nodes and
				¦ipamwatch_finding{cause="max_pods_not_raised"}¦ is 0.`,
		},
	})

	add(Alert{
		Name: "IpamwatchMaxPodsAboveIPCapacity", Group: GroupNode, Severity: "warning", For: "30m",
		Expr:    finding("max_pods_exceeds_ip_capacity"),
		Summary: "kubelet admits more pods than the node can ever get IPs for.",
		Description: fmt.Sprintf("kubelet on {{ $labels.node }} admits up to %s pods but the node can ever hold only %s pod IPs (%s host-network pods need none): pods beyond that stall in ContainerCreating. %s pods wait for an IP now.",
			maxPods, capMax, count("node", "sum("+node("ipamwatch_pods", `network="host"`)+")", "unknown"), pending),
		Meaning: "kubelet max-pods is higher than the pod IPs the node's ENIs can ever provide (for example a static 110 without prefix delegation).",
		Cause:   "max_pods_exceeds_ip_capacity",
		Runbook: Runbook{
			Symptom: `
				The scheduler sends more pods than the node can address: once every ENI is full the extra
				pods stay in ¦ContainerCreating¦ with ¦failed to assign an IP address to container¦.
				Typical cause: a fixed ¦--max-pods=110¦ on a node without prefix delegation.`,
			Confirm: agent("max_pods_exceeds_ip_capacity") + `
				~~~sh
				kubectl get node "$NODE" -o jsonpath='{.status.allocatable.pods}{"\n"}'
				TYPE=$(kubectl get node "$NODE" -o jsonpath='{.metadata.labels.node\.kubernetes\.io/instance-type}')
				aws ec2 describe-instance-types --instance-types "$TYPE" \
				  --query 'InstanceTypes[].NetworkInfo.[MaximumNetworkInterfaces,Ipv4AddressesPerInterface]'
				~~~
				ENIs x (addresses per ENI - 1) + 2 below max-pods confirms it.`,
			Fix: `
				Either lower max-pods to what ¦ipamwatch maxpods¦ computes for the node, or raise the IP
				capacity: prefix delegation on Nitro instances, a larger instance type, no ¦MAX_ENI¦.`,
			Verify: `
				¦ipamwatch_kubelet_max_pods <= ipamwatch_capacity_max_pod_ips + ipamwatch_pods{network="host"}¦
				on the node and the finding is 0.`,
		},
	})

	add(Alert{
		Name: "IpamwatchEC2Throttled", Group: GroupNode, Severity: "warning", For: "10m",
		Expr:    finding("ec2_throttled"),
		Summary: "EC2 throttles ipamd's API calls.",
		Description: fmt.Sprintf("{{ $labels.node }}: EC2 throttles ipamd: %s throttling lines in the CNI logs and %s throttled EC2 calls counted by the CNI in %s. Allocation is delayed; headroom is %s pods and %s pods wait.",
			logEvents("ec2_throttled"), apiErrors("RequestLimitExceeded|Throttling|ThrottlingException"), w, headroom, pending),
		Meaning: "EC2 answers RequestLimitExceeded to ipamd (after the SDK's retries): address allocation slows down on this node and usually on many others of the account.",
		Cause:   "ec2_throttled",
		Runbook: Runbook{
			Symptom: `
				EC2 API rate limits are per account and region. When ipamd's calls (AssignPrivateIpAddresses,
				CreateNetworkInterface, DescribeNetworkInterfaces, ...) are throttled after the SDK's
				retries, pools refill late and pods wait. Node churn (many nodes starting at once) and
				other tools calling EC2 are the usual sources.`,
			Confirm: agent("ec2_throttled") + `
				~~~sh
				aws cloudtrail lookup-events --max-results 50 \
				  --lookup-attributes AttributeKey=EventSource,AttributeValue=ec2.amazonaws.com \
				  --query 'Events[].CloudTrailEvent' --output text | grep -c RequestLimitExceeded
				~~~
				PromQL: ¦sum by (node) (increase(ipamwatch_cni_aws_api_errors_total{code="RequestLimitExceeded"}[15m]))¦
				shows how many nodes are throttled.`,
			Fix: `
				- Lower the churn: smaller warm targets mean fewer calls per node; stagger node launches.
				- Find other callers of the EC2 API in CloudTrail (by ¦userIdentity¦) and slow them down.
				- Ask AWS Support for a higher EC2 API rate limit for the mutating calls if the cluster is large.`,
			Verify: `
				¦increase(ipamwatch_cni_aws_api_errors_total{code="RequestLimitExceeded"}[15m])¦ returns 0 and the
				finding clears.`,
		},
	})

	add(Alert{
		Name: "IpamwatchIAMDenied", Group: GroupNode, Severity: "critical", For: "5m",
		Expr:    finding("unauthorized"),
		Summary: "EC2 denies ipamd's API calls: the aws-node role lacks permissions.",
		Description: fmt.Sprintf("{{ $labels.node }}: EC2 denies ipamd's calls (%s UnauthorizedOperation/AccessDenied lines in the logs, %s denied calls counted by the CNI in %s): the node cannot add ENIs or addresses. Headroom is %s pods.",
			logEvents("unauthorized"), apiErrors("UnauthorizedOperation|AccessDenied"), w, headroom),
		Meaning: "EC2 answered UnauthorizedOperation / AccessDenied: the IAM role used by aws-node misses permissions (AmazonEKS_CNI_Policy), so no address can be added.",
		Cause:   "unauthorized",
		Runbook: Runbook{
			Symptom: `
				ipamd's EC2 calls fail with ¦UnauthorizedOperation¦ or ¦not authorized to perform¦: the role
				aws-node runs with (IRSA / Pod Identity role of the aws-node service account, or the node
				role) lacks the ¦AmazonEKS_CNI_Policy¦ permissions (or the IPv6 policy in IPv6 clusters).
				The aws-node pod may carry a ¦MissingIAMPermissions¦ event.`,
			Confirm: agent("unauthorized") + `
				~~~sh
				kubectl -n kube-system get sa aws-node -o jsonpath='{.metadata.annotations.eks\.amazonaws\.com/role-arn}{"\n"}'
				kubectl -n kube-system get events --field-selector reason=MissingIAMPermissions
				aws iam simulate-principal-policy --policy-source-arn <role ARN> \
				  --action-names ec2:AssignPrivateIpAddresses ec2:AttachNetworkInterface \
				  ec2:CreateNetworkInterface ec2:DescribeNetworkInterfaces ec2:DescribeInstances \
				  --query 'EvaluationResults[].[EvalActionName,EvalDecision]' --output table
				~~~`,
			Fix: `
				Attach ¦arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy¦ to the role aws-node uses (or restore
				the IRSA annotation / Pod Identity association), check SCPs and permission boundaries that
				deny EC2 actions, then restart aws-node on the node
				(¦kubectl -n kube-system delete pod -l k8s-app=aws-node --field-selector spec.nodeName=$NODE¦).`,
			Verify: `
				simulate-principal-policy shows ¦allowed¦ for every action and
				¦ipamwatch_finding{cause="unauthorized"}¦ returns to 0.`,
		},
	})

	add(Alert{
		Name: "IpamwatchIMDSFailing", Group: GroupNode, Severity: "warning", For: "10m",
		Expr:    finding("imds_failure"),
		Summary: "Instance metadata lookups fail on the node.",
		Description: fmt.Sprintf("{{ $labels.node }}: instance metadata lookups fail (%s IMDS lines in the CNI logs in %s; the agent's own IMDS poll is %s). ipamd cannot discover or reconcile its ENIs.",
			logEvents("imds"), w,
			fmt.Sprintf("{{ with printf %#q $labels.node | query }}{{ if eq (. | first | value) 1.0 }}up{{ else }}down{{ end }}{{ else }}unknown{{ end }}", node("ipamwatch_source_up", `source="imds"`))),
		Meaning: "The CNI (and maybe the agent) cannot read instance metadata: ENI discovery and reconciliation fail.",
		Cause:   "imds_failure",
		Runbook: Runbook{
			Symptom: `
				ipamd logs ¦failed to retrieve ... from instance metadata¦, ¦Unable to discover attached ENI
				from metadata service¦ or ¦IMDSRequestError¦. It cannot see new ENIs or addresses, so pods
				can fail to get IPs even when EC2 allocated them.`,
			Confirm: agent("imds_failure") + `
				~~~sh
				INSTANCE=$(kubectl get node "$NODE" -o jsonpath='{.spec.providerID}' | awk -F/ '{print $NF}')
				aws ec2 describe-instances --instance-ids "$INSTANCE" \
				  --query 'Reservations[].Instances[].MetadataOptions'
				kubectl debug node/"$NODE" -it --image=busybox -- \
				  grep -c -E 'instance metadata|IMDSRequestError' /host/var/log/aws-routed-eni/ipamd.log
				~~~
				¦HttpEndpoint: disabled¦ or a failing token request confirms it.`,
			Fix: `
				Enable the metadata endpoint (¦aws ec2 modify-instance-metadata-options --instance-id $INSTANCE --http-endpoint enabled¦)
				in the launch template; keep ¦HttpPutResponseHopLimit¦ >= 1 (aws-node is hostNetwork);
				check host firewalls (iptables rules dropping 169.254.169.254). Transient IMDS errors clear
				by themselves.`,
			Verify: `¦ipamwatch_source_up{source="imds",node="$NODE"}¦ is 1 and the finding is 0.`,
		},
	})

	add(Alert{
		Name: "IpamwatchIpamdUnreachable", Group: GroupNode, Severity: "warning", For: "5m",
		Expr:    finding("ipamd_unreachable"),
		Summary: "ipamd (aws-node) does not answer on the node.",
		Description: fmt.Sprintf("{{ $labels.node }}: ipamd's introspection endpoint does not answer (last successful poll: %s). If aws-node is down, no new pod on this node gets an IP (%s pods wait now).",
			age("node", "max("+node("ipamwatch_source_last_success_timestamp_seconds", `source="ipamd"`)+" > 0)", "never"), pending),
		Meaning: "The agent cannot reach ipamd's introspection API: aws-node is down, restarting, or introspection is disabled or bound elsewhere.",
		Cause:   "ipamd_unreachable",
		Runbook: Runbook{
			Symptom: `
				ipamd (the aws-node container) does not answer on its introspection address (default
				¦127.0.0.1:61679¦). Either aws-node is crash-looping, which stops all pod networking set-up
				on the node, or introspection is off (¦DISABLE_INTROSPECTION=true¦) or moved
				(¦INTROSPECTION_BIND_ADDRESS¦).`,
			Confirm: `
				~~~sh
				NODE=<the node label of the alert>
				AWSNODE=$(kubectl -n kube-system get pods -l k8s-app=aws-node --field-selector spec.nodeName="$NODE" -o name)
				kubectl -n kube-system get "$AWSNODE" -o wide
				kubectl -n kube-system logs "$AWSNODE" -c aws-node --tail=50
				kubectl -n kube-system get ds aws-node -o yaml | grep -A1 -E 'DISABLE_INTROSPECTION|INTROSPECTION_BIND_ADDRESS'
				~~~`,
			Fix: `
				If aws-node crash-loops, its log names the reason (IAM, IMDS, ¦Initialization failure:¦);
				fix that and delete the pod. If introspection is disabled or bound to another address,
				enable it or point the agent at the address (agent flags).`,
			Verify: `¦ipamwatch_source_up{source="ipamd",node="$NODE"}¦ is 1 and the finding is 0.`,
		},
	})

	add(Alert{
		Name: "IpamwatchBranchENIBudgetLow", Group: GroupNode, Severity: "warning", For: "15m",
		Expr: fmt.Sprintf(`
			max by (node) (%s)
			/
			max by (node) (%s > 0)
			>= %g
			or
			%s`,
			x.s("ipamwatch_branch_eni_requested"), x.s("ipamwatch_branch_eni_capacity"), p.BranchENIRatio, finding("branch_eni_exhausted")),
		Summary: "The node's branch-ENI budget (security groups for pods) is nearly used up.",
		Description: fmt.Sprintf("{{ $labels.node }}: pods request %s of the %s branch ENIs (vpc.amazonaws.com/pod-eni) the node advertises; pods that need security groups for pods stay pending once the budget is gone.",
			count("node", "max("+node("ipamwatch_branch_eni_requested")+")", "unknown"), count("node", "max("+node("ipamwatch_branch_eni_capacity")+")", "unknown")),
		Meaning: fmt.Sprintf("Pods with security groups for pods use %.0f%% or more of the node's branch ENIs, or branch ENI allocation already failed.", p.BranchENIRatio*100),
		Cause:   "branch_eni_exhausted",
		Runbook: Runbook{
			Symptom: `
				Each pod matched by a SecurityGroupPolicy needs a branch ENI on the node's trunk ENI. The
				instance type limits them (m5.large 9, c5.xlarge 18). Once they are used, such pods stay
				Pending (¦Insufficient vpc.amazonaws.com/pod-eni¦) or fail with ¦BranchAllocationFailed¦.`,
			Confirm: `
				~~~sh
				NODE=<the node label of the alert>
				kubectl get node "$NODE" -o jsonpath='{.status.allocatable.vpc\.amazonaws\.com/pod-eni}{"\n"}'
				kubectl describe node "$NODE" | grep -A8 'Allocated resources' | grep pod-eni
				kubectl get events -A --field-selector reason=BranchAllocationFailed
				~~~`,
			Fix: `
				Spread SecurityGroupPolicy pods over more nodes (topology spread, a dedicated node group),
				use instance types with more branch interfaces, or apply security groups for pods only to
				the pods that need them.`,
			Verify: `¦ipamwatch_branch_eni_requested / ipamwatch_branch_eni_capacity¦ on the node falls below the threshold.`,
		},
	})

	add(Alert{
		Name: "IpamwatchWarmTargetConflict", Group: GroupNode, Severity: "warning", For: "30m",
		Expr:    finding("warm_target_conflict"),
		Summary: "The aws-node warm-pool settings conflict.",
		Description: fmt.Sprintf("{{ $labels.node }}: the aws-node warm settings conflict (%s; prefix delegation %s): ipamd ignores some of them and over- or under-allocates.",
			fmt.Sprintf("{{ range $i, $s := printf %#q $labels.node | query | sortByLabel \"setting\" }}{{ if $i }}, {{ end }}{{ $s.Labels.setting }}={{ $s.Value }}{{ else }}no warm settings exported{{ end }}", node("ipamwatch_config_warm_target")),
			lbl("node", node("ipamwatch_config_info"), "prefix_delegation", "unknown")),
		Meaning: "WARM_IP_TARGET/MINIMUM_IP_TARGET are combined with WARM_PREFIX_TARGET under prefix delegation, targets are zero with prefix delegation, or another documented conflict.",
		Cause:   "warm_target_conflict",
		Runbook: Runbook{
			Symptom: `
				The CNI documents that ¦WARM_IP_TARGET¦/¦MINIMUM_IP_TARGET¦, when set, override
				¦WARM_PREFIX_TARGET¦, that zero warm targets are unsupported with prefix delegation and that
				¦MINIMUM_IP_TARGET¦ overrides ¦WARM_ENI_TARGET¦. Settings that fight make ipamd hold far more
				or far fewer addresses than intended.`,
			Confirm: agent("warm_target_conflict") + `
				~~~sh
				kubectl -n kube-system get ds aws-node -o jsonpath='{range .spec.template.spec.containers[?(@.name=="aws-node")].env[*]}{.name}={.value}{"\n"}{end}' \
				  | grep -E 'WARM_|MINIMUM_IP_TARGET|ENABLE_PREFIX_DELEGATION'
				~~~`,
			Fix: `
				Pick one scheme. Prefix delegation: ¦WARM_PREFIX_TARGET=1¦ alone, or ¦WARM_IP_TARGET¦ plus
				¦MINIMUM_IP_TARGET¦ (both non-zero) for tight pools. Secondary IPs: ¦WARM_ENI_TARGET¦, or
				¦WARM_IP_TARGET¦ with ¦MINIMUM_IP_TARGET¦. Apply with
				¦kubectl -n kube-system set env ds/aws-node NAME=value¦ (or the EKS add-on configuration).`,
			Verify: `¦ipamwatch_config_warm_target{node="$NODE"}¦ shows the new values and the finding is 0.`,
		},
	})

	add(Alert{
		Name: "IpamwatchCustomNetworkingNotApplied", Group: GroupNode, Severity: "warning", For: "30m",
		Expr:    finding("custom_networking_not_applied"),
		Summary: "Custom networking is on, but the node still places pods in its own subnet.",
		Description: fmt.Sprintf("{{ $labels.node }}: custom networking is on (ENIConfig %s) but pods still get addresses from the node's subnet %s (%s pod addresses on the primary ENI): the node predates the change and must be replaced.",
			lbl("node", node("ipamwatch_config_info"), "eniconfig", "unknown"), nodeSubnet,
			count("node", "sum("+node("ipamwatch_eni_ip_addresses", `state="assigned"`)+" and on (node, eni) "+x.s("ipamwatch_eni_info", `primary="true"`)+")", "0")),
		Meaning: "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG is on, yet pods sit on the primary ENI or in the node's subnet: custom networking applies only to nodes launched after it was enabled.",
		Cause:   "custom_networking_not_applied",
		Runbook: Runbook{
			Symptom: `
				Custom networking only affects ENIs attached after it is enabled. Nodes launched before
				keep pods on the node subnet (and on the primary ENI), so the address space the change was
				meant to free stays used.`,
			Confirm: agent("custom_networking_not_applied") + `
				~~~sh
				kubectl get node "$NODE" -o jsonpath='{.metadata.creationTimestamp}{" "}{.metadata.labels.topology\.kubernetes\.io/zone}{"\n"}'
				kubectl get eniconfigs.crd.k8s.amazonaws.com
				kubectl get pods -A -o wide --field-selector spec.nodeName="$NODE" | head
				~~~
				Pod IPs inside the node's subnet CIDR confirm it.`,
			Fix: `
				Check that an ENIConfig exists for the node's zone (name or ¦ENI_CONFIG_LABEL_DEF¦), then
				cordon, drain and replace the node (roll the node group), so its ENIs are attached under
				custom networking.`,
			Verify: `New nodes show no pod addresses on their primary ENI and the finding is 0.`,
		},
	})

	add(Alert{
		Name: "IpamwatchPrefixDelegationUnsupported", Group: GroupNode, Severity: "warning", For: "30m",
		Expr:    finding("prefix_delegation_unsupported"),
		Summary: "Prefix delegation is requested on an instance that cannot use it.",
		Description: fmt.Sprintf("{{ $labels.node }} (%s) is not a Nitro instance: ENABLE_PREFIX_DELEGATION is ignored and the node runs in secondary-IP mode with at most %s pod IPs; kubelet max-pods is %s.",
			instanceType, capMax, maxPods),
		Meaning: "ENABLE_PREFIX_DELEGATION=true on a Xen (non-Nitro) instance: ipamd falls back to secondary IPs, so the expected density is not there.",
		Cause:   "prefix_delegation_unsupported",
		Runbook: Runbook{
			Symptom: `
				Prefix delegation needs the Nitro hypervisor. On Xen instance types ipamd logs a warning
				and keeps secondary IPs, so a max-pods raised for prefixes overshoots the node's IPs.`,
			Confirm: agent("prefix_delegation_unsupported") + `
				~~~sh
				TYPE=$(kubectl get node "$NODE" -o jsonpath='{.metadata.labels.node\.kubernetes\.io/instance-type}')
				aws ec2 describe-instance-types --instance-types "$TYPE" --query 'InstanceTypes[].Hypervisor'
				~~~`,
			Fix:    `Move the node group to a Nitro instance type, or set max-pods to the secondary-IP value for this type.`,
			Verify: `¦ipamwatch_node_info{node="$NODE"}¦ shows ¦ip_mode="prefix"¦ on the replaced node and the finding is 0.`,
		},
	})

	// --- Subnets seen from the nodes' own data (lower bounds).
	add(Alert{
		Name: "IpamwatchWarmPoolHoarding", Group: GroupSubnet, Severity: "warning", For: "1h",
		Expr: fmt.Sprintf(`
			subnet_id_state:ipamwatch_eni_ip_addresses:sum{state="free"}
			/ on (subnet_id)
			subnet_id:ipamwatch_subnet_cidr_addresses:max
			> %g
			and on (subnet_id)
			subnet_id_state:ipamwatch_eni_ip_addresses:sum{state="free"} >= %d`,
			p.HoardingSubnetRatio, p.HoardingMinIdle),
		Summary: "Warm pools hold a large share of a subnet idle.",
		Description: fmt.Sprintf("Nodes hold %s idle warm addresses in subnet {{ $labels.subnet_id }}, {{ $value | humanizePercentage }} of its %s addresses, while pods use %s there; %s nodes report warm-pool hoarding.",
			count("subnet_id", `sum(subnet_id_state:ipamwatch_eni_ip_addresses:sum{state="free",subnet_id=%q})`, "unknown"),
			count("subnet_id", `max(subnet_id:ipamwatch_subnet_cidr_addresses:max{subnet_id=%q})`, "unknown"),
			count("subnet_id", `sum(subnet_id_state:ipamwatch_eni_ip_addresses:sum{state="assigned",subnet_id=%q})`, "unknown"),
			count("subnet_id", "sum("+x.s("ipamwatch_finding", `cause="warm_pool_hoarding"`)+" and on (node) "+sub("ipamwatch_eni_info")+")", "0")),
		Meaning: fmt.Sprintf("Idle (free) addresses held by nodes' warm pools exceed %.0f%% of a subnet: other nodes may run out while these sit unused.", p.HoardingSubnetRatio*100),
		Cause:   "warm_pool_hoarding",
		Runbook: Runbook{
			Symptom: `
				With the default ¦WARM_ENI_TARGET=1¦ every node keeps a whole spare ENI of addresses (for
				example 49 on an m5.4xlarge). Across many nodes that idles a large share of the subnet and
				starves nodes that need addresses.`,
			Confirm: `
				PromQL:
				~~~promql
				subnet_id_state:ipamwatch_eni_ip_addresses:sum{subnet_id="<subnet>"}
				topk(20, sum by (node) (ipamwatch_eni_ip_addresses{subnet_id="<subnet>",state="free"}))
				~~~
				~~~sh
				kubectl -n kube-system get ds aws-node -o jsonpath='{range .spec.template.spec.containers[?(@.name=="aws-node")].env[*]}{.name}={.value}{"\n"}{end}' | grep -E 'WARM_|MINIMUM_IP_TARGET'
				~~~`,
			Fix: `
				Size the warm pool to real churn: ¦WARM_IP_TARGET¦ (a few addresses) with
				¦MINIMUM_IP_TARGET¦ (the usual pod count), or a smaller ¦WARM_PREFIX_TARGET¦ under prefix
				delegation. Mind EC2 throttling: very small targets mean more API calls.`,
			Verify: `The idle share of the subnet falls below the threshold within an hour of the change.`,
		},
	})

	add(Alert{
		Name: "IpamwatchSubnetNodeHeldHigh", Group: GroupSubnet, Severity: "warning", For: "15m",
		Expr:    fmt.Sprintf(`subnet_id:ipamwatch_subnet_node_held_addresses:ratio > %g`, p.SubnetHeldRatio),
		Summary: "Nodes hold most of a subnet's addresses.",
		Description: fmt.Sprintf("Nodes hold at least %s of the %s addresses of subnet {{ $labels.subnet_id }} ({{ $value | humanizePercentage }}); AWS reserves 5 more and other users of the subnet are not counted. %s nodes have ENIs there; new ENIs and prefixes will soon fail.",
			count("subnet_id", `max(subnet_id:ipamwatch_subnet_node_held_addresses:sum{subnet_id=%q})`, "unknown"),
			count("subnet_id", `max(subnet_id:ipamwatch_subnet_cidr_addresses:max{subnet_id=%q})`, "unknown"),
			count("subnet_id", `max(subnet_id:ipamwatch_nodes:count{subnet_id=%q})`, "unknown")),
		Meaning: fmt.Sprintf("The addresses nodes hold in a subnet (ENI primaries, secondary IPs, prefixes) exceed %.0f%% of its size: a lower bound, the subnet is at least this full.", p.SubnetHeldRatio*100),
		Runbook: Runbook{
			Symptom: `
				Summed over nodes, ¦ipamwatch_subnet_node_held_addresses¦ approaches the subnet's size. It
				is a lower bound: load balancers, other node groups without the agent, Lambda or RDS in the
				same subnet use more. Allocation will soon fail with ¦InsufficientFreeAddressesInSubnet¦.`,
			Confirm: `
				~~~sh
				SUBNET=<subnet_id label of the alert>
				aws ec2 describe-subnets --subnet-ids "$SUBNET" \
				  --query 'Subnets[].[CidrBlock,AvailableIpAddressCount]' --output table
				aws ec2 describe-network-interfaces --filters Name=subnet-id,Values="$SUBNET" \
				  --query 'NetworkInterfaces[].[InterfaceType,Description]' --output text | sort | uniq -c | sort -rn | head
				~~~`,
			Fix: `
				Free or add address space: reduce warm pools (IpamwatchWarmPoolHoarding), move pods to
				larger subnets with custom networking or subnet discovery, or add subnets from a secondary
				VPC CIDR and spread node groups over them.`,
			Verify: `¦subnet_id:ipamwatch_subnet_node_held_addresses:ratio{subnet_id="$SUBNET"}¦ falls below the threshold.`,
		},
	})

	// --- The agent itself.
	jobSel := fmt.Sprintf(`job=~%q`, p.Job)
	add(Alert{
		Name: "IpamwatchAgentAbsent", Group: GroupAgent, Severity: "warning", For: "15m",
		Expr:    fmt.Sprintf(`absent(%s == 1)`, x.s("up", jobSel)),
		Summary: "No ipamwatch agent is scraped successfully.",
		Description: fmt.Sprintf("No target of job %q is up (%s targets known to Prometheus): every ipamwatch alert is blind.",
			p.Job, fmt.Sprintf("{{ with query `count(%s)` }}{{ . | first | value | printf \"%%.0f\" }}{{ else }}0{{ end }}", x.s("up", jobSel))),
		Meaning: "Prometheus scrapes no healthy ipamwatch target: the DaemonSet is missing, the scrape config (ServiceMonitor/PodMonitor) is wrong, or every agent is down.",
		Runbook: Runbook{
			Symptom: `
				No ¦up¦ series of the agent's job is 1. Without the agent no other ipamwatch alert can
				fire, so IP exhaustion would go unnoticed.`,
			Confirm: fmt.Sprintf(`
				~~~sh
				kubectl -n %[1]s get ds,pods -l %[2]s -o wide
				kubectl get servicemonitors,podmonitors -A | grep -i ipamwatch
				~~~
				Prometheus UI, Status -> Targets: look for the job ¦%[3]s¦ and its last error.`, p.Namespace, p.PodSelector, p.Job),
			Fix: `
				Deploy the DaemonSet (¦kubectl apply -k manifests/¦ or the Helm chart) and the scrape
				configuration; check that the Prometheus instance selects the ServiceMonitor/PodMonitor
				labels and that network policies let Prometheus reach the agent's port.`,
			Verify: `¦up{job=~"<job>"} == 1¦ returns one series per node.`,
		},
	})

	add(Alert{
		Name: "IpamwatchAgentDown", Group: GroupAgent, Severity: "warning", For: "15m",
		Expr:    fmt.Sprintf(`min by (node) (%s) == 0`, x.s("up", jobSel)),
		Summary: "The ipamwatch agent on a node cannot be scraped.",
		Description: fmt.Sprintf("The ipamwatch agent on {{ $labels.node }} cannot be scraped (up == 0); %s of %s agents are down.",
			fmt.Sprintf("{{ with query `count(%s == 0)` }}{{ . | first | value | printf \"%%.0f\" }}{{ else }}0{{ end }}", x.s("up", jobSel)),
			fmt.Sprintf("{{ with query `count(%s)` }}{{ . | first | value | printf \"%%.0f\" }}{{ else }}0{{ end }}", x.s("up", jobSel))),
		Meaning: "One agent's scrape fails: the pod crashed, is not scheduled, or its port is unreachable. IP alerts for that node are blind.",
		Runbook: Runbook{
			Symptom: `Prometheus cannot scrape the agent on one node, so its IP findings are unknown.`,
			Confirm: fmt.Sprintf(`
				~~~sh
				NODE=<the node label of the alert>
				POD=$(kubectl -n %[1]s get pods -l %[2]s --field-selector spec.nodeName="$NODE" -o name)
				kubectl -n %[1]s get "$POD" -o wide
				kubectl -n %[1]s describe "$POD" | tail -20
				kubectl -n %[1]s logs "$POD" --previous --tail=50
				~~~`, p.Namespace, p.PodSelector),
			Fix: `
				Fix what the pod's status or log says (image pull, crash, OOM: raise the memory limit;
				taints the DaemonSet does not tolerate). The agent never fails because a source fails, so a
				crash is a bug: please report it with the log.`,
			Verify: `¦up{node="$NODE"}¦ of the agent's job is 1.`,
		},
	})

	add(Alert{
		Name: "IpamwatchSourceDown", Group: GroupAgent, Severity: "warning", For: "15m",
		Expr:    fmt.Sprintf(`max by (node, source) (%s) == 0`, x.s("ipamwatch_source_up", `source!="ipamd"`)),
		Summary: "The agent cannot read one of its sources.",
		Description: fmt.Sprintf("On {{ $labels.node }} the agent cannot read {{ $labels.source }}: %s failed polls in %s, last success %s. Findings that need it are missing or stale.",
			count("source node", fmt.Sprintf("sum(increase(%s[%s]))", x.s("ipamwatch_source_errors_total", "source=%q", "node=%q"), w), "0"),
			w,
			age("source node", "max("+x.s("ipamwatch_source_last_success_timestamp_seconds", "source=%q", "node=%q")+" > 0)", "never")),
		Meaning: "A source of the agent (CNI metrics, instance metadata, Kubernetes API, logs) fails for a long time; ipamd itself is covered by IpamwatchIpamdUnreachable.",
		Runbook: Runbook{
			Symptom: `
				The agent keeps serving what other sources know, but the failing source's numbers are
				stale and findings that depend on it cannot fire. Sources: ¦cni_metrics¦ (aws-node
				¦:61678/metrics¦), ¦imds¦, ¦kubernetes¦ (the API server, RBAC), ¦logs¦ (the ipamd/plugin log files).`,
			Confirm: agent("") + `
				~~~sh
				kubectl -n ` + p.Namespace + ` logs "$POD" --tail=100
				~~~
				PromQL: ¦ipamwatch_source_up{node="$NODE"}¦, ¦increase(ipamwatch_source_errors_total{node="$NODE"}[15m])¦.`,
			Fix: `
				¦cni_metrics¦: aws-node has ¦DISABLE_METRICS=true¦ or is down. ¦imds¦: see IpamwatchIMDSFailing.
				¦kubernetes¦: check the agent's ServiceAccount RBAC (get nodes, list pods on its node) and
				API server reachability. ¦logs¦: see IpamwatchLogTailStalled.`,
			Verify: `¦ipamwatch_source_up{node="$NODE"}¦ is 1 for every source.`,
		},
	})

	stall := seconds(p.LogStall)
	add(Alert{
		Name: "IpamwatchLogTailStalled", Group: GroupAgent, Severity: "warning", For: "15m",
		Expr: fmt.Sprintf(`
			time() - max by (node, log) (%s) > %d
			or
			max by (node, log) (%s) == 0`,
			x.s("ipamwatch_log_last_read_timestamp_seconds", `log="ipamd"`), stall, x.s("ipamwatch_log_file_readable", `log="ipamd"`)),
		Summary: "The agent reads no new lines from ipamd.log.",
		Description: fmt.Sprintf("On {{ $labels.node }} the log tail of ipamd.log is stuck: last line read %s (file readable: %s; %s lines read in %s). ipamd writes several lines a minute, so the tail is stuck or ipamd is down; log-based findings cannot fire.",
			age("node", "max("+node("ipamwatch_log_last_read_timestamp_seconds", `log="ipamd"`)+" > 0)", "never"),
			fmt.Sprintf("{{ with printf %#q $labels.node | query }}{{ if eq (. | first | value) 1.0 }}yes{{ else }}no{{ end }}{{ else }}unknown{{ end }}", node("ipamwatch_log_file_readable", `log="ipamd"`)),
			count("node", fmt.Sprintf("sum(increase(%s[%s]))", node("ipamwatch_log_lines_total", `log="ipamd"`), w), "0"), w),
		Meaning: fmt.Sprintf("No line read from ipamd.log for %s, or the file cannot be read: the log tail is stuck, ipamd is down or logs elsewhere.", p.LogStall),
		Runbook: Runbook{
			Symptom: `
				ipamd writes several lines a minute (every introspection request alone logs one). No new
				line means the agent's tail lost the file, cannot read it (CNI v1.16+ creates it mode 0600,
				owned by root), or ipamd logs to stdout (¦AWS_VPC_K8S_CNI_LOG_FILE=stdout¦).`,
			Confirm: agent("") + `
				~~~sh
				kubectl debug node/"$NODE" -it --image=busybox -- ls -l /host/var/log/aws-routed-eni/
				kubectl -n kube-system get ds aws-node -o yaml | grep -A1 AWS_VPC_K8S_CNI_LOG_FILE
				~~~
				PromQL: ¦ipamwatch_log_file_readable{node="$NODE"}¦, ¦ipamwatch_log_rotations_total{node="$NODE"}¦.`,
			Fix: `
				Run the agent as UID 0 or with ¦CAP_DAC_READ_SEARCH¦ and mount ¦/var/log/aws-routed-eni¦
				read-only; if ipamd logs to stdout, set ¦AWS_VPC_K8S_CNI_LOG_FILE¦ back to the file path or
				silence this alert for the cluster (the agent then relies on metrics and introspection).
				If the file is fine, restart the agent pod and report the stall with the agent's log.`,
			Verify: `¦time() - ipamwatch_log_last_read_timestamp_seconds{node="$NODE",log="ipamd"}¦ stays below a minute.`,
		},
	})

	// --- Cluster-level subnet series (subnets work stream): separate group, names in Params.
	sm := p.SubnetMetrics
	add(Alert{
		Name: "IpamwatchSubnetFreeAddressesLow", Group: GroupSubnets, Severity: "warning", For: "15m",
		Expr: fmt.Sprintf(`
			max by (subnet_id) (%s)
			/
			max by (subnet_id) (%s > 0)
			< %g`,
			x.s(sm.FreeAddresses), x.s(sm.Size), p.SubnetFreeRatio),
		Summary: "A subnet used by the cluster has few free addresses left.",
		Description: fmt.Sprintf("Subnet {{ $labels.subnet_id }} has %s free addresses left ({{ $value | humanizePercentage }} of %s, from the cluster's subnet analysis); nodes running ipamwatch hold %s addresses there.",
			count("subnet_id", "max("+sub(sm.FreeAddresses)+")", "unknown"),
			count("subnet_id", "max("+sub(sm.Size)+")", "unknown"),
			count("subnet_id", `max(subnet_id:ipamwatch_subnet_node_held_addresses:sum{subnet_id=%q})`, "unknown")),
		Meaning: fmt.Sprintf("The subnet analysis finds fewer than %.0f%% of the subnet's addresses free: node pools there will soon stop growing.", p.SubnetFreeRatio*100),
		Runbook: Runbook{
			Symptom: `
				EC2's free-address count of a subnet the nodes use is low. The next scale-up will meet
				¦InsufficientFreeAddressesInSubnet¦.`,
			Confirm: `
				~~~sh
				SUBNET=<subnet_id label of the alert>
				aws ec2 describe-subnets --subnet-ids "$SUBNET" \
				  --query 'Subnets[].[CidrBlock,AvailableIpAddressCount]' --output table
				ipamwatch subnets
				~~~`,
			Fix:    `See IpamwatchSubnetExhausted: shrink warm pools, add address space (secondary CIDR with custom networking or subnet discovery).`,
			Verify: `The free share rises above the threshold.`,
		},
	})

	add(Alert{
		Name: "IpamwatchSubnetFreePrefixBlocksLow", Group: GroupSubnets, Severity: "warning", For: "15m",
		Expr: fmt.Sprintf(`
			max by (subnet_id) (%s) < %d
			and on (subnet_id)
			max by (subnet_id) (%s) >= %d
			and on (subnet_id)
			count by (subnet_id) (%s and on (node) %s)`,
			x.s(sm.FreePrefixBlocks), p.SubnetFreePrefixBlocksMin,
			x.s(sm.FreeAddresses), 16*p.SubnetFreePrefixBlocksMin,
			x.s("ipamwatch_eni_info"), x.s("ipamwatch_config_info", `prefix_delegation="true"`)),
		Summary: "A subnet used with prefix delegation has free addresses but almost no free /28 blocks.",
		Description: fmt.Sprintf("Subnet {{ $labels.subnet_id }} has %s free addresses but only {{ $value | printf \"%%.0f\" }} free aligned /28 blocks (fragmentation %s): nodes with prefix delegation cannot add prefixes there.",
			count("subnet_id", "max("+sub(sm.FreeAddresses)+")", "unknown"),
			pct("subnet_id", "max("+sub(sm.FragmentationRatio)+")", "unknown")),
		Meaning: fmt.Sprintf("Fewer than %d free /28 blocks although the free addresses would fill them: prefix delegation nodes in the subnet will fail with InsufficientCidrBlocks.", p.SubnetFreePrefixBlocksMin),
		Runbook: Runbook{
			Symptom: `
				The subnet's free addresses are scattered: no aligned /28 is entirely free, so every new
				prefix fails with ¦InsufficientCidrBlocks¦ while ¦AvailableIpAddressCount¦ looks healthy.`,
			Confirm: `
				~~~sh
				SUBNET=<subnet_id label of the alert>
				ipamwatch subnets
				aws ec2 get-subnet-cidr-reservations --subnet-id "$SUBNET"
				~~~`,
			Fix:    `See IpamwatchPrefixFragmented: a prefix-type subnet CIDR reservation, or a dedicated subnet for prefix-delegation nodes.`,
			Verify: `¦` + sm.FreePrefixBlocks + `{subnet_id="$SUBNET"}¦ rises above the threshold.`,
		},
	})

	add(Alert{
		Name: "IpamwatchSubnetAnalysisStale", Group: GroupSubnets, Severity: "warning", For: "15m",
		Expr:    fmt.Sprintf(`time() - max(%s) > %d`, x.s(sm.LastSuccess), seconds(p.SubnetStale)),
		Summary: "The cluster-level subnet analysis has not succeeded for a long time.",
		Description: fmt.Sprintf("The subnet analysis (ipamwatch subnets) last succeeded %s; %s failed EC2 polls in %s and %s replicas hold the leader lease. Subnet free-address and /28 alerts use stale numbers.",
			fmt.Sprintf("{{ with query `time() - max(%s > 0)` }}{{ . | first | value | humanizeDuration }} ago{{ else }}never{{ end }}", x.s(sm.LastSuccess)),
			fmt.Sprintf("{{ with query `sum(increase(%s[%s]))` }}{{ . | first | value | printf \"%%.0f\" }}{{ else }}0{{ end }}", x.s(sm.Errors), w), w,
			fmt.Sprintf("{{ with query `sum(%s)` }}{{ . | first | value | printf \"%%.0f\" }}{{ else }}0{{ end }}", x.s(sm.Leader))),
		Meaning: fmt.Sprintf("The subnet analysis' last successful EC2 poll is older than %s (or it never succeeded): EC2 access, IAM or leader election fails.", p.SubnetStale),
		Runbook: Runbook{
			Symptom: `
				The subnet analysis polls EC2 (DescribeSubnets, DescribeNetworkInterfaces, subnet CIDR
				reservations) from one leader replica. When it fails, the cluster-level subnet series keep
				their last values and ¦IpamwatchSubnetFreeAddressesLow¦/¦IpamwatchSubnetFreePrefixBlocksLow¦
				judge stale numbers.`,
			Confirm: fmt.Sprintf(`
				~~~sh
				kubectl -n %[1]s get pods -l app.kubernetes.io/component=subnets -o wide
				kubectl -n %[1]s logs -l app.kubernetes.io/component=subnets --tail=50
				kubectl -n %[1]s get lease
				~~~
				PromQL: ¦%[2]s¦ (1 on the leader), ¦increase(%[3]s[15m])¦.`, p.Namespace, sm.Leader, sm.Errors),
			Fix: `
				Throttling (¦RequestLimitExceeded¦): poll less often. ¦UnauthorizedOperation¦: grant the
				subnets ServiceAccount's role ¦ec2:DescribeSubnets¦, ¦ec2:DescribeNetworkInterfaces¦ and
				¦ec2:GetSubnetCidrReservations¦. No leader: check that the replicas may get and update
				Leases in their namespace.`,
			Verify: `¦time() - max(` + sm.LastSuccess + `)¦ stays below the poll interval.`,
		},
	})

	return c
}

// agentCommands returns the commands that fetch the agent's diagnosis for the alert's node, and
// the finding of cause when cause is not empty.
func (x b) agentCommands(cause string) string {
	filter := `'.findings[]'`
	if cause != "" {
		filter = fmt.Sprintf(`'.findings[] | select(.cause == %q)'`, cause)
	}
	return fmt.Sprintf(`
~~~sh
NODE=<the node label of the alert>
POD=$(kubectl -n %[1]s get pods -l %[2]s --field-selector spec.nodeName="$NODE" -o name)
kubectl -n %[1]s port-forward "$POD" %[3]d:%[3]d >/dev/null & PF=$!; sleep 2
curl -s localhost:%[3]d/diagnosis | jq %[4]s
kill "$PF"
~~~
The finding's ¦evidence¦ holds the numbers and log lines, ¦confirm¦ the command that proves it.
`, x.p.Namespace, x.p.PodSelector, x.p.Port, filter)
}
