package cnimetrics

import (
	"maps"
	"sync"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Tracker turns successive Samples into counter increases. The zero value is ready to use
// and it is safe for concurrent use.
//
// Rules, per series: increase = new - old; when new < old the counter was reset (aws-node
// restarted) and the increase is new; a series that appears after the first poll was created
// since the previous one, so its whole value is the increase; a series that disappears
// contributes nothing and, when it returns, counts from zero again. The very first Update
// reports zero increases: nothing says when the counts before it happened. A series whose
// sample was dropped as impossible (see Parse) is unknown in that scrape, not gone: it adds
// nothing and keeps its previous value, so the next good scrape is not mistaken for a reset.
type Tracker struct {
	mu   sync.Mutex
	prev *Sample
}

// Update records s and returns gauges, cumulative totals and the increases since the
// previous Update. A nil sample returns nil and leaves the tracker unchanged.
func (t *Tracker) Update(s *Sample) *nodestate.CNIMetrics {
	if s == nil {
		return nil
	}
	out := Cumulative(s)
	t.mu.Lock()
	defer t.mu.Unlock()
	next := cloneSample(s)
	if t.prev != nil {
		out.NoAvailableIPIncrease = increase(t.prev.NoAvailableIP, s.NoAvailableIP)
		out.APIErrorIncrease = capKeys(increases(t.prev.APIErrors, s.APIErrors), MaxKeys)
		out.IpamdErrorIncrease = capKeys(increases(t.prev.IpamdErrors, s.IpamdErrors), MaxKeys)
		out.EC2APIErrorIncrease = capKeys(increases(t.prev.EC2APIErrors, s.EC2APIErrors), MaxKeys)
		carryHeld(t.prev, next)
	}
	t.prev = next
	return out
}

// carryHeld copies into next the previous values of the series next holds as unknown.
func carryHeld(prev, next *Sample) {
	if next.held[heldKey(famNoAvailableIP, "")] {
		next.NoAvailableIP = clonePtr(prev.NoAvailableIP)
	}
	for _, f := range []struct {
		fam        string
		prev, next *map[string]float64
	}{
		{famAPIErrors, &prev.APIErrors, &next.APIErrors},
		{famIpamdErrors, &prev.IpamdErrors, &next.IpamdErrors},
		{famEC2APIErrors, &prev.EC2APIErrors, &next.EC2APIErrors},
	} {
		for k, v := range *f.prev {
			if next.held[heldKey(f.fam, k)] {
				if *f.next == nil {
					*f.next = map[string]float64{}
				}
				(*f.next)[k] = v
			}
		}
	}
}

func increase(old, cur *float64) float64 {
	switch {
	case cur == nil:
		return 0
	case old == nil || *cur < *old:
		return *cur
	default:
		return *cur - *old
	}
}

func increases(old, cur map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(cur))
	for k, v := range cur {
		if o, ok := old[k]; ok {
			out[k] = increase(&o, &v)
		} else {
			out[k] = v
		}
	}
	return out
}

func cloneSample(s *Sample) *Sample {
	c := *s
	c.ENIMax, c.IPMax, c.ENIAllocated = clonePtr(s.ENIMax), clonePtr(s.IPMax), clonePtr(s.ENIAllocated)
	c.TotalIPs, c.AssignedIPs, c.TotalIPv4Prefix = clonePtr(s.TotalIPs), clonePtr(s.AssignedIPs), clonePtr(s.TotalIPv4Prefix)
	c.NoAvailableIP = clonePtr(s.NoAvailableIP)
	c.APIErrors, c.IpamdErrors, c.EC2APIErrors = maps.Clone(s.APIErrors), maps.Clone(s.IpamdErrors), maps.Clone(s.EC2APIErrors)
	c.Dropped, c.held = maps.Clone(s.Dropped), maps.Clone(s.held)
	return &c
}
