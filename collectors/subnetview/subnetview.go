// Package subnetview reads the cluster-level subnet analysis that `ipamwatch subnets` exports
// (ipamwatch_subnet_* series on its /metrics) so a node agent, which has no EC2 permissions,
// can tell a fragmented subnet from an exhausted one. It parses the Prometheus text with
// expfmt, keeps only the few families the diagnosis needs, and bounds the body and the time.
package subnetview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ipamwatch/ipamwatch/forecast"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Family names read from the subnet exporter.
const (
	famSize        = "ipamwatch_subnet_size_addresses"
	famFree        = "ipamwatch_subnet_free_addresses"
	famBlocks      = "ipamwatch_subnet_free_prefix_blocks"
	famLargest     = "ipamwatch_subnet_largest_free_block_addresses"
	famFrag        = "ipamwatch_subnet_fragmentation_ratio"
	famLeaked      = "ipamwatch_subnet_leaked_enis"
	famLeakedAddrs = "ipamwatch_subnet_leaked_eni_addresses"
	famAnalyzed    = "ipamwatch_subnet_analyzed"
	famLastSuccess = "ipamwatch_subnet_last_success_timestamp_seconds"
)

// ErrNoAnalysis means the exporter answered but has not analysed any subnet yet.
var ErrNoAnalysis = errors.New("the subnet exporter has no successful EC2 poll yet")

// ErrNotLeader means the answer came from a standby replica (ipamwatch_subnet_leader 0),
// which exports no subnet series: only the Lease holder polls EC2.
var ErrNotLeader = errors.New("the subnet exporter replica that answered is not the leader")

// famLeader says whether the answering replica holds the Lease.
const famLeader = "ipamwatch_subnet_leader"

// leaderAttempts bounds how often Fetch retries when a standby replica answers. Each attempt
// opens a new connection, so a headless Service's DNS (CoreDNS rotates the answers) or a
// ClusterIP Service's load balancing reaches another replica.
const leaderAttempts = 4

// Options bound one fetch.
type Options struct {
	Timeout      time.Duration // default 5 s
	MaxBodyBytes int64         // default 8 MiB
	HTTPClient   *http.Client
}

// Trend window and bounds: the same look-back as the forecast rules' default window
// (docs/forecast.md), and at least this many distinct EC2 polls over at least this span
// before a trend is reported.
const (
	TrendWindow   = 2 * time.Hour
	trendMinPolls = 3
	trendMinSpan  = 10 * time.Minute
	trendMaxPolls = 256
)

// Client fetches the subnet analysis. It remembers each subnet's free count at the analysis'
// recent EC2 polls (bounded by TrendWindow and trendMaxPolls) to report the trend.
type Client struct {
	url  string
	opts Options
	hc   *http.Client

	mu      sync.Mutex
	history map[string][]poll
}

// poll is one EC2 poll of the analysis as the agent saw it.
type poll struct {
	at   time.Time
	free int
}

// NewClient returns a client for the exporter's metrics URL.
func NewClient(url string, opts Options) (*Client, error) {
	if url == "" {
		return nil, errors.New("subnet exporter URL is empty")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	return &Client{url: url, opts: opts, hc: hc, history: map[string][]poll{}}, nil
}

// Fetch returns the analysis of every subnet the exporter reports, asking again (a few times)
// when a standby replica answers.
func (c *Client) Fetch(ctx context.Context) (map[string]nodestate.SubnetView, error) {
	var err error
	for i := 0; i < leaderAttempts; i++ {
		var v map[string]nodestate.SubnetView
		v, err = c.fetchOnce(ctx)
		if !errors.Is(err, ErrNotLeader) {
			if err == nil {
				c.trend(v)
			}
			return v, err
		}
	}
	return nil, err
}

// trend records each subnet's free count at a new EC2 poll (the analysis' At) and attaches
// the trend over the polls of the last TrendWindow.
func (c *Client) trend(views map[string]nodestate.SubnetView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, v := range views {
		if v.At.IsZero() {
			continue
		}
		h := c.history[id]
		if len(h) == 0 || v.At.After(h[len(h)-1].at) {
			h = append(h, poll{v.At, v.FreeAddresses})
		}
		for len(h) > 0 && (v.At.Sub(h[0].at) > TrendWindow || len(h) > trendMaxPolls) {
			h = h[1:]
		}
		c.history[id] = h
		span := h[len(h)-1].at.Sub(h[0].at)
		if len(h) < trendMinPolls || span < trendMinSpan {
			continue
		}
		xs, ys := make([]float64, len(h)), make([]float64, len(h))
		for i, p := range h {
			xs[i], ys[i] = p.at.Sub(h[0].at).Hours(), float64(p.free)
		}
		if slope, ok := forecast.Slope(xs, ys); ok {
			v.Trend = &nodestate.SubnetTrend{PerHour: -slope, Span: span, Polls: len(h)}
			views[id] = v
		}
	}
	for id := range c.history {
		if _, ok := views[id]; !ok {
			delete(c.history, id) // a subnet the analysis no longer reports
		}
	}
}

func (c *Client) fetchOnce(ctx context.Context) (map[string]nodestate.SubnetView, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: status %d", c.url, resp.StatusCode)
	}
	return Parse(resp.Body, c.opts.MaxBodyBytes)
}

// Parse decodes the exporter's exposition (at most limit bytes).
func Parse(r io.Reader, limit int64) (map[string]nodestate.SubnetView, error) {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(lr)
	if lr.N <= 0 {
		return nil, fmt.Errorf("subnet exporter answer larger than %d bytes", limit)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing the subnet exporter's metrics: %w", err)
	}
	if f := fams[famLeader]; f != nil && len(f.GetMetric()) > 0 && value(f.GetMetric()[0]) == 0 {
		return nil, ErrNotLeader
	}
	var at time.Time
	if f := fams[famLastSuccess]; f != nil && len(f.GetMetric()) > 0 {
		if v := value(f.GetMetric()[0]); v > 0 {
			at = time.Unix(0, int64(v*1e9)).UTC()
		}
	}
	out := map[string]nodestate.SubnetView{}
	get := func(name string, f func(v *nodestate.SubnetView, x float64)) {
		fam := fams[name]
		if fam == nil {
			return
		}
		for _, m := range fam.GetMetric() {
			id, az := "", ""
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "subnet_id":
					id = l.GetValue()
				case "availability_zone":
					az = l.GetValue()
				}
			}
			if id == "" {
				continue
			}
			v := out[id]
			v.SubnetID, v.AvailabilityZone, v.At = id, az, at
			f(&v, value(m))
			out[id] = v
		}
	}
	skipped := map[string]bool{}
	get(famAnalyzed, func(v *nodestate.SubnetView, x float64) {
		if x == 0 {
			skipped[v.SubnetID] = true
		}
	})
	get(famSize, func(v *nodestate.SubnetView, x float64) { v.Size = int(x) })
	get(famFree, func(v *nodestate.SubnetView, x float64) { v.FreeAddresses = int(x) })
	get(famBlocks, func(v *nodestate.SubnetView, x float64) { v.FreePrefixBlocks = int(x) })
	get(famLargest, func(v *nodestate.SubnetView, x float64) { v.LargestFreeBlock = int(x) })
	get(famFrag, func(v *nodestate.SubnetView, x float64) { v.FragmentationRatio = x })
	get(famLeaked, func(v *nodestate.SubnetView, x float64) { v.LeakedENIs = int(x) })
	get(famLeakedAddrs, func(v *nodestate.SubnetView, x float64) { v.LeakedAddresses = int(x) })
	for id := range skipped {
		delete(out, id) // IPv6-only subnets: nothing to say about IPv4 space
	}
	if len(out) == 0 {
		return nil, ErrNoAnalysis
	}
	return out, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}
