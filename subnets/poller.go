package subnets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"sync"
	"time"
)

// Source reads the subnets of a cluster from EC2 and analyses them.
type Source struct {
	API       EC2API
	Discovery Discovery
	// ClusterName names the cluster whose CNI-tagged ENIs count as cluster nodes.
	ClusterName string
	// Nodes, when set, returns the cluster's nodes as instance id -> node name (from the
	// Kubernetes API). Without it only the ENI tags tell which instances are nodes.
	Nodes func(ctx context.Context) (map[string]string, error)
	// RecommendLimit caps the recommendations per subnet (default 5).
	RecommendLimit int
	// Workload, when set, reads the nodes' instance types, max pods and pods and the aws-node
	// env from Kubernetes for the what-if (ReadWorkload). Without it the what-if counts what
	// nodes hold now.
	Workload func(ctx context.Context) (Workload, []string, error)
}

// SubnetResult is the outcome for one subnet.
type SubnetResult struct {
	Subnet          Subnet
	Analysis        *Analysis // nil when Skipped
	Skipped         string    // why the subnet was not analysed
	Recommendations []Recommendation
	// WhatIf is how many more nodes of each kind the subnet takes (nil without cluster nodes).
	WhatIf *WhatIf
}

// Snapshot is one complete poll.
type Snapshot struct {
	Time     time.Time
	Duration time.Duration
	Results  []SubnetResult
	// Warnings are problems that did not fail the poll (e.g. the node list was unavailable).
	Warnings []string
}

// Summaries returns the SubnetSummary of every analysed subnet.
func (s *Snapshot) Summaries() []SubnetSummary {
	var out []SubnetSummary
	for _, r := range s.Results {
		if r.Analysis != nil {
			out = append(out, Summarize(r.Analysis))
		}
	}
	return out
}

// Snapshot discovers the subnets and analyses each: DescribeSubnets, one paginated
// DescribeNetworkInterfaces for all of them, and GetSubnetCidrReservations per IPv4 subnet.
func (s *Source) Snapshot(ctx context.Context, now func() time.Time) (*Snapshot, error) {
	start := now()
	snap := &Snapshot{Time: start}
	subnets, err := DiscoverSubnets(ctx, s.API, s.Discovery)
	if err != nil {
		return nil, err
	}
	if len(subnets) == 0 {
		return nil, errors.New("discovery found no subnets (check --subnet-ids / --cluster-name and the subnet tags)")
	}
	cluster := Cluster{Name: s.ClusterName, Nodes: map[string]string{}}
	if s.Nodes != nil {
		nodes, err := s.Nodes(ctx)
		if err != nil {
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("listing nodes: %v (cluster nodes known from ENI tags only)", err))
		}
		for id, name := range nodes {
			cluster.Nodes[id] = name
		}
	}
	var work Workload
	limits := map[string]InstanceType{}
	if s.Workload != nil {
		w, warns, err := s.Workload(ctx)
		snap.Warnings = append(snap.Warnings, warns...)
		if err != nil {
			snap.Warnings = append(snap.Warnings, fmt.Sprintf("reading the workload: %v (the what-if counts what nodes hold now)", err))
		} else {
			work = w
		}
		if types := instanceTypesOf(work); len(types) > 0 && work.Env != nil {
			its, err := DescribeInstanceTypes(ctx, s.API, types)
			if err != nil {
				snap.Warnings = append(snap.Warnings, fmt.Sprintf("describing instance types: %v (the what-if counts what nodes hold now)", err))
			}
			for _, it := range its {
				limits[it.Name] = it
			}
		}
	}
	var ids []string
	for _, sub := range subnets {
		if sub.CIDR != "" {
			ids = append(ids, sub.ID)
		}
	}
	enis, err := ListNetworkInterfaces(ctx, s.API, ids)
	if err != nil {
		return nil, err
	}
	limit := s.RecommendLimit
	if limit <= 0 {
		limit = 5
	}
	for _, sub := range subnets {
		res := SubnetResult{Subnet: sub}
		if sub.CIDR == "" {
			res.Skipped = ErrNoIPv4CIDR.Error()
			snap.Results = append(snap.Results, res)
			continue
		}
		reservations, err := ListReservations(ctx, s.API, sub.ID)
		if err != nil {
			return nil, err
		}
		a, err := Analyze(Input{Subnet: sub, ENIs: enis[sub.ID], Reservations: reservations, Cluster: cluster, Now: snap.Time})
		if err != nil {
			res.Skipped = err.Error()
		} else {
			res.Analysis = a
			res.Recommendations = Recommend(a, limit)
			res.WhatIf = computeWhatIf(a, work, limits)
		}
		snap.Results = append(snap.Results, res)
	}
	snap.Duration = now().Sub(start)
	return snap, nil
}

// Poller polls a Source slowly and keeps the last snapshot for the collector.
type Poller struct {
	Source   *Source
	Logger   *slog.Logger
	Interval time.Duration // default 5 min
	// Jitter spreads polls by up to +/- Jitter*Interval (default 0.1), so that restarts of
	// many clusters in one account do not poll EC2 in step.
	Jitter float64
	// MinBackoff is the first wait after a failed poll (default 30 s); it doubles per
	// consecutive failure up to Interval, on top of the SDK's own retries.
	MinBackoff time.Duration
	// Now and Wait are the clock; tests replace them. Wait returns false when ctx ended.
	Now  func() time.Time
	Wait func(ctx context.Context, d time.Duration) bool
	Rand *rand.Rand

	mu          sync.Mutex
	last        *Snapshot
	lastSuccess time.Time
	lastErr     error
	errors      uint64
	leader      bool
	failures    int
}

func (p *Poller) defaults() {
	if p.Interval <= 0 {
		p.Interval = 5 * time.Minute
	}
	if p.Jitter < 0 || p.Jitter >= 1 {
		p.Jitter = 0.1
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = 30 * time.Second
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Wait == nil {
		p.Wait = sleepCtx
	}
	if p.Rand == nil {
		p.Rand = rand.New(rand.NewSource(time.Now().UnixNano()))
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// NextDelay is the wait before the next poll: the interval with jitter after a success,
// an exponential backoff (MinBackoff * 2^(failures-1), at most the interval) after failures.
func NextDelay(interval time.Duration, jitter float64, minBackoff time.Duration, failures int, r *rand.Rand) time.Duration {
	d := interval
	if failures > 0 {
		d = minBackoff
		for i := 1; i < failures && d < interval; i++ {
			d *= 2
		}
		d = min(d, interval)
	}
	if jitter > 0 {
		d += time.Duration((r.Float64()*2 - 1) * jitter * float64(d))
	}
	return d
}

// PollOnce runs one poll and records its outcome.
func (p *Poller) PollOnce(ctx context.Context) error {
	p.defaults()
	snap, err := p.Source.Snapshot(ctx, p.Now)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.errors++
		p.failures++
		if p.lastErr == nil || p.lastErr.Error() != err.Error() {
			p.Logger.Error("subnet poll failed", "err", err, "consecutive_failures", p.failures)
		}
		p.lastErr = err
		return err
	}
	if p.lastErr != nil {
		p.Logger.Info("subnet poll recovered", "subnets", len(snap.Results))
	}
	for _, w := range snap.Warnings {
		p.Logger.Warn("subnet poll warning", "warning", w)
	}
	p.lastErr, p.failures = nil, 0
	p.last, p.lastSuccess = snap, snap.Time
	p.Logger.Debug("subnet poll done", "subnets", len(snap.Results), "duration_seconds", snap.Duration.Seconds())
	return nil
}

// Run polls until ctx ends: once at once, then after NextDelay each time.
func (p *Poller) Run(ctx context.Context) {
	p.defaults()
	for {
		_ = p.PollOnce(ctx) // recorded and logged by PollOnce
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		d := NextDelay(p.Interval, p.Jitter, p.MinBackoff, p.failures, p.Rand)
		p.mu.Unlock()
		if !p.Wait(ctx, d) {
			return
		}
	}
}

// SetLeader records whether this replica leads. A replica that stops leading forgets its
// snapshot, so two replicas never export the same subnets.
func (p *Poller) SetLeader(leader bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leader = leader
	if !leader {
		p.last = nil
	}
}

// state is what the collector reads, copied under the lock.
type pollerState struct {
	last        *Snapshot
	lastSuccess time.Time
	errors      uint64
	leader      bool
}

func (p *Poller) state() pollerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pollerState{last: p.last, lastSuccess: p.lastSuccess, errors: p.errors, leader: p.leader}
}

// Last returns the last successful snapshot (nil before the first).
func (p *Poller) Last() *Snapshot { return p.state().last }
