// Package agent owns the node agent's lifecycle: the sources it polls on their own intervals,
// the log streams it tails, the snapshot it diagnoses, the Prometheus registry and the HTTP
// endpoints (/metrics, /diagnosis, /healthz, /readyz), all under one context with a graceful
// shutdown. Scrapes never touch an upstream: they read the last snapshot.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/ipamwatch/ipamwatch/collectors/kube"
	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Config is everything the agent needs; cmd/ipamwatch builds it from flags.
type Config struct {
	// ListenAddresses are the host:port pairs to serve on (":9713"); SystemdSocket takes
	// systemd's sockets instead. WebConfigFile is an exporter-toolkit web config (TLS, basic
	// auth); empty = plain HTTP. MaxConnections caps connections served at once per listener
	// (0 = internal/webserver's default).
	ListenAddresses []string
	SystemdSocket   bool
	WebConfigFile   string
	MaxConnections  int
	// TelemetryPath is where the metrics are served ("/metrics").
	TelemetryPath string

	NodeName string

	IPAMDAddress  string // "http://127.0.0.1:61679" or "unix:/path"; empty disables the source
	CNIMetricsURL string // "http://127.0.0.1:61678/metrics"; empty disables the source
	IMDSEndpoint  string // empty = the SDK default (169.254.169.254)
	DisableIMDS   bool
	// SubnetsURL is the /metrics URL of the cluster-level `ipamwatch subnets` exporter; when set,
	// the diagnosis can confirm fragmentation vs exhaustion with EC2's view. Empty disables.
	SubnetsURL string

	IPAMDLog  string // path; empty disables
	PluginLog string
	// LogBackfill is how many bytes before the end of each log to read at start.
	LogBackfill int64

	// Kubernetes: "auto" (in-cluster when available), "on" (required), "off".
	Kubernetes string
	// KubeAPI, when set, is the API server to use instead of the in-cluster configuration
	// (demo, tests, an agent run outside a pod).
	KubeAPI *kube.Config
	// Events turns on Kubernetes Events on the Node when the binding ceiling or a critical finding changes.
	Events bool

	IntervalIPAMD   time.Duration
	IntervalCNI     time.Duration
	IntervalIMDS    time.Duration
	IntervalKube    time.Duration
	IntervalSubnets time.Duration
	// DiagnoseEvery is how often the diagnosis is recomputed from the snapshot (logs move between polls).
	DiagnoseEvery time.Duration
	// EventWindow is the window of recent log events the diagnosis considers.
	EventWindow time.Duration
	// SourceTimeout bounds each poll.
	SourceTimeout time.Duration

	Diagnosis diagnosis.Options
	Logger    *slog.Logger
	// Now is the clock (tests, demo). Defaults to time.Now.
	Now func() time.Time
}

// Defaults fills zero fields with the production defaults (DefaultConfig). The sources and
// log paths are not filled: empty there means "disabled".
func (c *Config) Defaults() {
	d := DefaultConfig()
	if len(c.ListenAddresses) == 0 && !c.SystemdSocket {
		c.ListenAddresses = d.ListenAddresses
	}
	if c.TelemetryPath == "" {
		c.TelemetryPath = d.TelemetryPath
	}
	if c.Kubernetes == "" {
		c.Kubernetes = d.Kubernetes
	}
	def := func(v *time.Duration, dv time.Duration) {
		if *v <= 0 {
			*v = dv
		}
	}
	def(&c.IntervalIPAMD, d.IntervalIPAMD)
	def(&c.IntervalCNI, d.IntervalCNI)
	def(&c.IntervalIMDS, d.IntervalIMDS)
	def(&c.IntervalKube, d.IntervalKube)
	def(&c.IntervalSubnets, d.IntervalSubnets)
	def(&c.DiagnoseEvery, d.DiagnoseEvery)
	def(&c.EventWindow, d.EventWindow)
	def(&c.SourceTimeout, d.SourceTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports configuration a person must fix before the agent can start.
func (c *Config) Validate() error {
	switch c.Kubernetes {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--kubernetes must be auto, on or off, not %q", c.Kubernetes)
	}
	if !strings.HasPrefix(c.TelemetryPath, "/") || c.TelemetryPath == "/" {
		return fmt.Errorf("--web.telemetry-path must start with / and name a path, not %q", c.TelemetryPath)
	}
	if c.Events && c.Kubernetes == "off" {
		return errors.New("--events needs Kubernetes access; it cannot be used with --kubernetes=off")
	}
	for name, d := range map[string]time.Duration{
		"--interval.ipamd": c.IntervalIPAMD, "--interval.cni": c.IntervalCNI,
		"--interval.imds": c.IntervalIMDS, "--interval.kubernetes": c.IntervalKube, "--interval.subnets": c.IntervalSubnets,
	} {
		if d < time.Second {
			return fmt.Errorf("%s must be at least 1s, got %s", name, d)
		}
	}
	return nil
}

// poller is one polled source.
type poller struct {
	name     string
	interval time.Duration
	poll     func(ctx context.Context) error
}

// sourceHealth is the agent's own bookkeeping of one source.
type sourceHealth struct {
	up          bool
	err         string
	partial     string // what an up source did not answer, see nodestate.SourceStatus
	lastSuccess time.Time
	duration    time.Duration
	errors      uint64
	polled      bool
}

// Agent is one running node agent.
type Agent struct {
	cfg    Config
	logger *slog.Logger
	reg    *prometheus.Registry

	pollers []poller
	streams []*logStream
	events  *eventRecorder

	mu     sync.RWMutex
	state  nodestate.State
	health map[string]*sourceHealth
	report diagnosis.Report
	ready  bool

	cni cniCounters
}

// New builds an agent from cfg. It validates the config and constructs the clients; it does
// not contact any upstream.
func New(cfg Config) (*Agent, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:    cfg,
		logger: cfg.Logger,
		health: map[string]*sourceHealth{},
	}
	a.state.Sources = map[string]nodestate.SourceStatus{}

	if err := a.addSources(); err != nil {
		return nil, err
	}
	if err := a.setupKube(); err != nil {
		return nil, err
	}
	for _, lf := range []struct{ name, path string }{{LogIPAMD, cfg.IPAMDLog}, {LogPlugin, cfg.PluginLog}} {
		if lf.path == "" {
			continue
		}
		s, err := newLogStream(lf.name, lf.path, cfg.LogBackfill, cfg.EventWindow, a.logger, cfg.Now)
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", lf.path, err)
		}
		a.streams = append(a.streams, s)
	}

	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(
		versioncollector.NewCollector("ipamwatch"), // ipamwatch_build_info, the build tags included
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(a),
	)
	return a, nil
}

// jitter spreads d by up to 10% either way.
func jitter(d time.Duration) time.Duration {
	spread := int64(d) / 10
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(rand.Int64N(2*spread+1))
}

func (a *Agent) setState(f func(s *nodestate.State)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.state)
}

// Registry is the agent's Prometheus registry (tests, demo).
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Run polls, tails and serves until ctx is done. It returns the HTTP server's error, or nil
// after a clean shutdown.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := a.server()
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	for _, addr := range srv.Addrs() {
		a.logger.Info("serving", "address", addr.String(), "telemetry_path", a.cfg.TelemetryPath, "web_config_file", a.cfg.WebConfigFile)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	var wg sync.WaitGroup
	a.start(ctx, &wg)
	select {
	case <-ctx.Done():
		err = <-served
	case err = <-served: // without its server the agent has nothing to run for
		cancel()
	}
	wg.Wait()
	return err
}

// start runs the background workers (pollers, log tailers, the diagnosis) until ctx is done;
// wg counts them.
func (a *Agent) start(ctx context.Context, wg *sync.WaitGroup) {
	// First round synchronously-ish: every source once, then the diagnosis, then ready.
	var first sync.WaitGroup
	for _, p := range a.pollers {
		first.Add(1)
		wg.Add(1)
		go func(p poller) {
			defer wg.Done()
			a.pollOnce(ctx, p)
			first.Done()
			// Each wait is the interval +-10%: thousands of agents started by one rollout
			// must not poll the Kubernetes API (or anything else) in lock-step.
			repeat(ctx, func() time.Duration { return jitter(p.interval) }, func() { a.pollOnce(ctx, p) })
		}(p)
	}
	for _, s := range a.streams {
		wg.Add(1)
		go func(s *logStream) {
			defer wg.Done()
			if err := s.run(ctx); err != nil && ctx.Err() == nil {
				a.logger.Error("log tailer stopped", "log", s.name, "err", err)
			}
		}(s)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		first.Wait()
		a.diagnose()
		a.mu.Lock()
		a.ready = true
		a.mu.Unlock()
		repeat(ctx, func() time.Duration { return a.cfg.DiagnoseEvery }, func() { a.diagnose() })
	}()
}

// repeat calls fn after each wait that next returns, until ctx is done.
func repeat(ctx context.Context, next func() time.Duration, fn func()) {
	t := time.NewTimer(next())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
			t.Reset(next())
		}
	}
}

// pollOnce runs one poll with its timeout and records the outcome; it logs once per change
// of state, not once per failure.
func (a *Agent) pollOnce(ctx context.Context, p poller) {
	pctx, cancel := context.WithTimeout(ctx, a.cfg.SourceTimeout)
	start := time.Now()
	err := p.poll(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	d := time.Since(start)
	now := a.cfg.Now()
	a.mu.Lock()
	h := a.health[p.name]
	wasUp, wasPolled, wasPartial := h.up, h.polled, h.partial != ""
	h.polled = true
	h.duration = d
	h.up, h.err, h.partial = true, "", ""
	switch {
	case err != nil && !partial(err):
		h.up, h.err = false, err.Error()
		h.errors++
	case err != nil:
		h.partial = err.Error()
		h.lastSuccess = now
	default:
		h.lastSuccess = now
	}
	a.state.Sources[p.name] = nodestate.SourceStatus{Up: h.up, Err: h.err, Partial: h.partial, LastSuccess: h.lastSuccess, Duration: d}
	up, isPartial := h.up, h.partial != ""
	a.mu.Unlock()
	switch {
	case !up && (wasUp || !wasPolled):
		a.logger.Warn("source failing", "source", p.name, "err", err)
	case up && !wasUp && wasPolled:
		a.logger.Info("source recovered", "source", p.name)
	}
	switch {
	case up && isPartial && !wasPartial:
		a.logger.Warn("source answering in part", "source", p.name, "err", err)
	case up && !isPartial && wasPartial:
		a.logger.Info("source answering in full again", "source", p.name)
	}
}

// diagnose recomputes the report from the current snapshot and returns it.
func (a *Agent) diagnose() diagnosis.Report {
	now := a.cfg.Now()
	logs := a.logSummary(now)
	a.mu.Lock()
	a.state.Time = now
	a.state.Logs = logs
	st := cloneState(a.state)
	a.mu.Unlock()

	opts := a.cfg.Diagnosis
	opts.Now = now
	rep := diagnosis.Diagnose(&st, opts)

	a.mu.Lock()
	prev := a.report
	a.report = rep
	a.mu.Unlock()
	if a.events != nil {
		a.events.observe(prev, rep)
	}
	return rep
}

func (a *Agent) logSummary(now time.Time) *nodestate.LogSummary {
	if len(a.streams) == 0 {
		return nil
	}
	return summarize(a.streams, now, a.cfg.EventWindow)
}

// cloneState copies the top-level struct and the Sources map; the pointed-to source results
// are replaced wholesale by pollers, never mutated, so sharing them is safe.
func cloneState(s nodestate.State) nodestate.State {
	c := s
	c.Sources = make(map[string]nodestate.SourceStatus, len(s.Sources))
	for k, v := range s.Sources {
		c.Sources[k] = v
	}
	return c
}

// Report returns the last diagnosis and the snapshot it was computed from.
func (a *Agent) Report() (diagnosis.Report, nodestate.State) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.report, cloneState(a.state)
}

// Ready reports whether every source was polled once and a diagnosis exists.
func (a *Agent) Ready() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.ready
}
