package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

func TestCNICountersAddUp(t *testing.T) {
	t.Parallel()
	var c cniCounters
	c.add(nil) // a failed poll adds nothing
	c.add(&nodestate.CNIMetrics{
		APIErrorIncrease:      map[string]float64{"InsufficientFreeAddressesInSubnet": 2, "SomethingNew": 1, "AnotherNew": 4},
		NoAvailableIPIncrease: 3,
		Dropped:               map[string]int{"nan": 1},
	})
	c.add(&nodestate.CNIMetrics{
		APIErrorIncrease:      map[string]float64{"InsufficientFreeAddressesInSubnet": 1},
		NoAvailableIPIncrease: 1,
		Dropped:               map[string]int{"nan": 2, "negative": 1},
	})
	apiErrors, noIP, dropped := c.snapshot()
	if diff := cmp.Diff(map[string]float64{"InsufficientFreeAddressesInSubnet": 3, "other": 5}, apiErrors); diff != "" {
		t.Errorf("API errors (-want +got):\n%s", diff)
	}
	if noIP != 4 {
		t.Errorf("no-IP = %v, want 4", noIP)
	}
	if diff := cmp.Diff(map[string]float64{"nan": 3, "negative": 1}, dropped); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
	apiErrors["other"] = 100 // a scrape's copy, not the counters
	if again, _, _ := c.snapshot(); again["other"] != 5 {
		t.Errorf("the snapshot shares its map with the counters: other = %v", again["other"])
	}
}
