package ipamd

import (
	"math"
	"testing"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

func TestPerENISlots(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	secondary := &nodestate.IPAMD{ENIs: []nodestate.ENI{{SecondaryIPs: 9, Slots: 9}}}
	prefixed := &nodestate.IPAMD{ENIs: []nodestate.ENI{{Prefixes: 1, Slots: 1}}}
	tests := []struct {
		name        string
		cni         *nodestate.CNIMetrics
		ipamd       *nodestate.IPAMD
		enis, slots int
		ok          bool
	}{
		// m5.large: 3 ENIs x (10 - 1) secondary addresses.
		{"secondary mode", &nodestate.CNIMetrics{ENIMax: f(3), IPMax: f(27)}, secondary, 3, 9, true},
		// Same instance with prefix delegation: ip_max counts 16 addresses per slot.
		{"prefix mode from ipamd", &nodestate.CNIMetrics{ENIMax: f(3), IPMax: f(432)}, prefixed, 3, 9, true},
		{"prefix mode from metrics only", &nodestate.CNIMetrics{ENIMax: f(3), IPMax: f(432), TotalIPv4Prefix: f(2)}, nil, 3, 9, true},
		// Without prefixes anywhere, 432/3 is 144 secondary slots (what the numbers say).
		{"no prefix evidence", &nodestate.CNIMetrics{ENIMax: f(3), IPMax: f(432)}, nil, 3, 144, true},
		// MAX_ENI=2 lowers eni_max and ip_max together.
		{"MAX_ENI lowered", &nodestate.CNIMetrics{ENIMax: f(2), IPMax: f(18)}, secondary, 2, 9, true},
		{"prefix mode not divisible by 16", &nodestate.CNIMetrics{ENIMax: f(3), IPMax: f(27)}, prefixed, 0, 0, false},
		{"uneven division", &nodestate.CNIMetrics{ENIMax: f(4), IPMax: f(27)}, secondary, 0, 0, false},
		{"nil metrics", nil, secondary, 0, 0, false},
		{"missing ip_max", &nodestate.CNIMetrics{ENIMax: f(3)}, secondary, 0, 0, false},
		{"zero eni_max", &nodestate.CNIMetrics{ENIMax: f(0), IPMax: f(27)}, secondary, 0, 0, false},
		{"fractional", &nodestate.CNIMetrics{ENIMax: f(2.5), IPMax: f(27)}, secondary, 0, 0, false},
		{"NaN", &nodestate.CNIMetrics{ENIMax: f(math.NaN()), IPMax: f(27)}, secondary, 0, 0, false},
		{"Inf", &nodestate.CNIMetrics{ENIMax: f(3), IPMax: f(math.Inf(1))}, secondary, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enis, slots, ok := PerENISlots(tc.cni, tc.ipamd)
			if enis != tc.enis || slots != tc.slots || ok != tc.ok {
				t.Errorf("PerENISlots = %d, %d, %v; want %d, %d, %v", enis, slots, ok, tc.enis, tc.slots, tc.ok)
			}
		})
	}
}
