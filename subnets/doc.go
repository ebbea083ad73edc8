// Package subnets owns the cluster-level subnet view of ipamwatch: it discovers the cluster's
// subnets in EC2, reads their network interfaces and CIDR reservations, and works out what
// EC2's AvailableIpAddressCount does not say: how many aligned /28 blocks are still free for
// prefix delegation, how fragmented the free space is, and who holds the blocks.
//
// The parts are kept apart so each can be tested alone:
//   - model.go: plain, SDK-independent inputs (Subnet, NetworkInterface, Reservation).
//   - blocks.go: the address bitmap and the /28 block arithmetic (pure functions).
//   - ec2.go: the small EC2 interface, the SDK client, discovery and pagination.
//   - report.go: the block map, recommendations and the text/JSON output of --once.
//   - collector.go, poller.go: the Prometheus view of the last snapshot and the slow poll loop.
//   - leader.go: one active replica through a Kubernetes Lease.
package subnets
