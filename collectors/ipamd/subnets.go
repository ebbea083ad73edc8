package ipamd

import (
	"slices"
	"strings"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// SubnetUsage sums the derived counts of the ENIs in one subnet. With ENABLE_SUBNET_DISCOVERY
// (v1.18+) and custom networking, secondary ENIs may sit in other subnets than the primary,
// so subnet pressure is a per-subnet question.
type SubnetUsage struct {
	// SubnetID is the ENIs' subnet; "" groups ENIs whose subnet is unknown (ipamd before
	// v1.22 does not report it: fill nodestate.ENI.SubnetID from IMDS first).
	SubnetID     string
	ENIs         int
	Slots        int
	Prefixes     int
	SecondaryIPs int
	Addresses    int
	Assigned     int
	Cooldown     int
	Free         int
}

// BySubnet groups the node's ENIs by subnet, sorted by SubnetID ("" first).
func BySubnet(st *nodestate.IPAMD) []SubnetUsage {
	if st == nil {
		return nil
	}
	idx := map[string]int{}
	var out []SubnetUsage
	for _, e := range st.ENIs {
		i, ok := idx[e.SubnetID]
		if !ok {
			i = len(out)
			idx[e.SubnetID] = i
			out = append(out, SubnetUsage{SubnetID: e.SubnetID})
		}
		u := &out[i]
		u.ENIs++
		u.Slots += e.Slots
		u.Prefixes += e.Prefixes
		u.SecondaryIPs += e.SecondaryIPs
		u.Addresses += e.Addresses
		u.Assigned += e.Assigned
		u.Cooldown += e.Cooldown
		u.Free += e.Free
	}
	slices.SortFunc(out, func(a, b SubnetUsage) int { return strings.Compare(a.SubnetID, b.SubnetID) })
	return out
}

// PrefixDelegation reports whether the datastore holds any /28 prefix, the one sign of
// ENABLE_PREFIX_DELEGATION that introspection gives (the env route does not expose it).
func PrefixDelegation(st *nodestate.IPAMD) bool {
	if st == nil {
		return false
	}
	for _, e := range st.ENIs {
		if e.Prefixes > 0 {
			return true
		}
	}
	return false
}
