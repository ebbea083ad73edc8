package ipamd

import (
	"math"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// PrefixSize is the number of pod addresses one /28 prefix slot holds.
const PrefixSize = 16

// PerENISlots derives the node's limits at run time from what ipamd itself computed, instead
// of from a copied instance-type table.
//
// ipamd exports awscni_eni_max = ENIs it may use (the instance's ENI limit, lowered by MAX_ENI,
// minus unmanaged ENIs) and awscni_ip_max = eni_max x addresses per ENI, where addresses per
// ENI is (IPv4Limit - 1) secondary addresses, times 16 when each slot is a /28 prefix. So:
//
//	maxENIs     = awscni_eni_max
//	slotsPerENI = awscni_ip_max / awscni_eni_max            (secondary-IP mode)
//	slotsPerENI = awscni_ip_max / awscni_eni_max / 16       (prefix delegation)
//
// Example: m5.large (3 ENIs, 10 IPv4 per ENI) exports eni_max 3 and ip_max 27 -> 3 ENIs x 9
// slots; with prefix delegation ip_max 432 -> 3 x 9 slots of 16 addresses.
//
// Prefix mode is recognised from the introspection data (any ENI holding a /28) or, without
// it, from awscni_total_ipv4_prefixes > 0. ok is false when a gauge is missing, not a positive
// whole number, or the division does not come out even (the numbers then contradict the
// arithmetic above and are better not trusted).
func PerENISlots(cni *nodestate.CNIMetrics, ipamd *nodestate.IPAMD) (maxENIs, slotsPerENI int, ok bool) {
	if cni == nil {
		return 0, 0, false
	}
	enis, ok1 := wholePositive(cni.ENIMax)
	ips, ok2 := wholePositive(cni.IPMax)
	if !ok1 || !ok2 || ips%enis != 0 {
		return 0, 0, false
	}
	per := ips / enis
	if prefixMode(cni, ipamd) {
		if per%PrefixSize != 0 {
			return 0, 0, false
		}
		per /= PrefixSize
	}
	return enis, per, true
}

func prefixMode(cni *nodestate.CNIMetrics, ipamd *nodestate.IPAMD) bool {
	if ipamd != nil && len(ipamd.ENIs) > 0 {
		return PrefixDelegation(ipamd)
	}
	return cni.TotalIPv4Prefix != nil && *cni.TotalIPv4Prefix > 0
}

// wholePositive accepts gauges that hold a positive integer of sane size.
func wholePositive(v *float64) (int, bool) {
	if v == nil || math.IsNaN(*v) || *v < 1 || *v > 1<<31 || *v != math.Trunc(*v) {
		return 0, false
	}
	return int(*v), true
}
