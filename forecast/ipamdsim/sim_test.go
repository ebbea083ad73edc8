package ipamdsim

import (
	"errors"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/forecast"
)

var m5large = forecast.Limits{InstanceType: "m5.large", ENIs: 3, IPv4PerENI: 10, MaxPods: 29}

func TestSubnetAllOrNothing(t *testing.T) {
	t.Parallel()
	s, err := NewSubnet("s", 40, 2) // 8 loose addresses, two whole /28s
	if err != nil {
		t.Fatal(err)
	}
	if err := s.takeSingles(41); !errors.Is(err, ErrSubnetFull) || s.Free != 40 || s.Refusals != 1 {
		t.Fatalf("asking for more than is free: err %v, free %d, refusals %d", err, s.Free, s.Refusals)
	}
	if err := s.takeSingles(9); err != nil || s.FreeBlocks != 1 {
		t.Fatalf("9 singles with 8 loose must break one block: err %v, blocks %d", err, s.FreeBlocks)
	}
	if err := s.takePrefixes(2); !errors.Is(err, ErrSubnetFull) || s.FreeBlocks != 1 {
		t.Fatalf("2 prefixes with one block: err %v, blocks %d", err, s.FreeBlocks)
	}
	if err := s.takePrefixes(1); err != nil || s.Free != 40-9-16 || s.FreeBlocks != 0 {
		t.Fatalf("one prefix: err %v, free %d, blocks %d", err, s.Free, s.FreeBlocks)
	}
	if _, err := NewSubnet("bad", 20, 2); err == nil {
		t.Error("2 blocks cannot fit in 20 addresses")
	}
}

// TestNodeAccounting: what a node holds is what its subnet lost, ENI states add up, and
// terminating the node gives everything back.
func TestNodeAccounting(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]forecast.Settings{
		"warm eni":     forecast.DefaultSettings(),
		"warm ip":      {WarmIPTarget: 2, MinimumIPTarget: 10},
		"prefix":       {PrefixDelegation: true, WarmPrefixTarget: 1},
		"custom+trunk": {WarmENITarget: 1, CustomNetworking: true, PodENI: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			node, _ := NewSubnet("node", 4096, 200)
			pods, _ := NewSubnet("pods", 4096, 200)
			l := m5large
			if s.PrefixDelegation {
				l.MaxPods = 110
			}
			n, err := Launch(s, l, node, pods, 3)
			if err != nil {
				t.Fatal(err)
			}
			n.ScaleTo(17, time.Minute)
			n.ScaleTo(5, 2*time.Minute)
			st := n.State()
			if got := st.Held["node"] + st.Held["pods"]; got != 2*4096-node.Free-pods.Free {
				t.Errorf("node holds %d, subnets lost %d", got, 2*4096-node.Free-pods.Free)
			}
			assigned, addrs := 0, 0
			for _, e := range n.ENIs() {
				assigned += e.Assigned
				addrs += e.Assigned + e.Free + e.Cooldown
			}
			if assigned != st.Assigned || assigned != 5 || addrs != st.PodAddresses {
				t.Errorf("ENI states: %d assigned of %d addresses; node: %d assigned of %d", assigned, addrs, st.Assigned, st.PodAddresses)
			}
			n.Terminate()
			if node.Free != 4096 || pods.Free != 4096 || node.FreeBlocks != 200 || pods.FreeBlocks != 200 {
				t.Errorf("after terminating: %d and %d free, %d and %d blocks", node.Free, pods.Free, node.FreeBlocks, pods.FreeBlocks)
			}
		})
	}
}

// TestLaunchFailsInAFullSubnet: an instance needs its primary address.
func TestLaunchFailsInAFullSubnet(t *testing.T) {
	t.Parallel()
	s, _ := NewSubnet("s", 0, 0)
	if _, err := Launch(forecast.DefaultSettings(), m5large, s, nil, 1); !errors.Is(err, ErrSubnetFull) {
		t.Errorf("got %v, want ErrSubnetFull", err)
	}
	if _, err := Launch(forecast.Settings{CustomNetworking: true}, m5large, s, nil, 1); err == nil {
		t.Error("custom networking without a pod subnet must fail")
	}
}

// TestCooldownHoldsAddress: a released address is not handed out for 30 s.
func TestCooldownHoldsAddress(t *testing.T) {
	t.Parallel()
	s, _ := NewSubnet("s", 100, 0)
	n, err := Launch(forecast.Settings{WarmIPTarget: 0, MinimumIPTarget: 1}, m5large, s, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := n.AddPod()
	if !ok {
		t.Fatal("the one address was not handed out")
	}
	n.RemovePod(id)
	if _, ok := n.AddPod(); ok {
		t.Fatal("an address in cooldown was handed out")
	}
	for range 7 {
		n.Tick()
	}
	if _, ok := n.AddPod(); !ok {
		t.Fatal("the address is still held after the cooldown")
	}
}
