// Package forecast owns ipamwatch's look ahead: how many subnet addresses a node claims for a
// given instance type, warm settings and pod count (the claim model), and how many more nodes
// and pods a subnet can take at that claim (the what-if headroom). The PromQL that forecasts
// when a subnet runs out is the alert generator's (package alerts, group_forecast.go).
//
// The claim model follows ipamd's allocation decisions in amazon-vpc-cni-k8s v1.23.0
// (pkg/ipamd/ipamd.go and pkg/ipamd/datastore/data_store.go); each rule cites the function it
// comes from. It is arithmetic, not a replay: the brute-force simulator in package ipamdsim
// steps pods one by one through the same decisions, and the tests hold the two against each
// other, against the worked tables of the CNI's docs and against random cases.
//
// The parts:
//   - claim.go: Settings, Limits and Claim, the steady state a node settles in.
//   - headroom.go: what a subnet with F free addresses can still take, per node group, and
//     what other warm settings would change.
//
// Everything here is pure: no I/O, no clock, no global state.
package forecast
