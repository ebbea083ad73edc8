package ipamdsim

import "time"

// retryTicks bounds how long a pod waits for an address before the drive gives up on it:
// longer than the insufficient-CIDR cooldown, so a pool that can still grow does.
const retryTicks = int(2*insufficientCooldown/LoopInterval) + 2

// ScaleTo changes the node's pods one at a time to p, with one pool-manager round after each
// (kubelet retries a pod that found no address every round, as sandbox creation does), then
// lets the node settle for settle. It returns the state with the most held addresses seen
// while settling (ipamd can free and re-add an ENI or prefix forever; the peak is what the
// subnet must have). Pods that found no address within retryTicks rounds are dropped.
func (n *Node) ScaleTo(p int, settle time.Duration) State {
	for len(n.pods) < p {
		placed := false
		for range retryTicks {
			if _, ok := n.AddPod(); ok {
				placed = true
				break
			}
			n.Tick()
		}
		if !placed {
			break
		}
		n.Tick()
	}
	for len(n.pods) > p {
		n.RemoveRandomPod()
		n.Tick()
	}
	return n.Settle(settle)
}

// Settle runs the pool manager for d and returns the peak state (most held addresses).
func (n *Node) Settle(d time.Duration) State {
	_, peak := n.SettleRange(d)
	return peak
}

// SettleRange runs the pool manager for d and returns the states with the fewest and the most
// held addresses seen, the current one included.
func (n *Node) SettleRange(d time.Duration) (low, peak State) {
	low, peak = n.State(), n.State()
	for range int(d / LoopInterval) {
		n.Tick()
		st := n.State()
		if heldSum(st) > heldSum(peak) {
			peak = st
		}
		if heldSum(st) < heldSum(low) {
			low = st
		}
	}
	return low, peak
}

func heldSum(st State) int {
	t := 0
	for _, v := range st.Held {
		t += v
	}
	return t
}
