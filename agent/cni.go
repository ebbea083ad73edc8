package agent

import (
	"maps"
	"sync"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// cniCounters are the agent's counters derived from the CNI's: each poll's increases added
// up, monotonic for the agent's lifetime. They have their own lock: a poll sums its
// increases before taking it, and the snapshot lock is never held for this.
type cniCounters struct {
	mu        sync.Mutex
	apiErrors map[string]float64 // by bounded EC2 error code
	noIP      float64
	dropped   map[string]float64 // samples refused, by reason
}

// add adds one poll's increases.
func (c *cniCounters) add(m *nodestate.CNIMetrics) {
	if m == nil {
		return
	}
	apiErrors := make(map[string]float64, len(m.APIErrorIncrease))
	for code, v := range m.APIErrorIncrease {
		apiErrors[boundCode(code)] += v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.apiErrors == nil {
		c.apiErrors, c.dropped = map[string]float64{}, map[string]float64{}
	}
	for code, v := range apiErrors {
		c.apiErrors[code] += v
	}
	c.noIP += m.NoAvailableIPIncrease
	for reason, n := range m.Dropped {
		c.dropped[reason] += float64(n)
	}
}

// snapshot copies the counters for a scrape.
func (c *cniCounters) snapshot() (apiErrors map[string]float64, noIP float64, dropped map[string]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.apiErrors), c.noIP, maps.Clone(c.dropped)
}

// boundCode keeps the `code` label bounded: codes the diagnosis knows, else "other".
func boundCode(code string) string {
	if diagnosis.KnownCode(code) {
		return code
	}
	return "other"
}
