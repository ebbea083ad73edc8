package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipamwatch/ipamwatch/collectors/cnimetrics"
	"github.com/ipamwatch/ipamwatch/collectors/imds"
	"github.com/ipamwatch/ipamwatch/collectors/ipamd"
	"github.com/ipamwatch/ipamwatch/collectors/kube"
	"github.com/ipamwatch/ipamwatch/collectors/subnetview"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// addSources builds the client of each configured node-local source and its poller, in one
// place: each source says how its client is made and where its answer goes in the snapshot.
// A failed poll of ipamd or the CNI metrics clears their part (stale numbers would mislead
// the diagnosis); instance metadata and the subnet analysis change slowly and keep the last
// good answer. Kubernetes, which may be off or unavailable, is set up by setupKube.
func (a *Agent) addSources() error {
	cfg := a.cfg
	sources := []struct {
		name, client string
		on           bool
		interval     time.Duration
		build        func() (func(context.Context) error, error)
	}{
		{nodestate.SourceIPAMD, "ipamd introspection client", cfg.IPAMDAddress != "", cfg.IntervalIPAMD, func() (func(context.Context) error, error) {
			c, err := ipamd.NewClient(cfg.IPAMDAddress, ipamd.Options{Timeout: cfg.SourceTimeout})
			if err != nil {
				return nil, err
			}
			// A partial answer (optional routes failed) is kept and reported: see pollInto.
			return pollInto(a, c.Fetch, false, func(s *nodestate.State, v *nodestate.IPAMD) { s.IPAMD = v }), nil
		}},
		{nodestate.SourceCNIMetrics, "CNI metrics client", cfg.CNIMetricsURL != "", cfg.IntervalCNI, func() (func(context.Context) error, error) {
			c, err := cnimetrics.NewClient(cfg.CNIMetricsURL, cnimetrics.Options{Timeout: cfg.SourceTimeout})
			if err != nil {
				return nil, err
			}
			fetch := func(ctx context.Context) (*nodestate.CNIMetrics, error) {
				m, err := c.Fetch(ctx)
				a.cni.add(m) // the increases since the last poll: nil (nothing) on a failure
				return m, err
			}
			return pollInto(a, fetch, false, func(s *nodestate.State, m *nodestate.CNIMetrics) { s.CNI = m }), nil
		}},
		{nodestate.SourceIMDS, "instance metadata client", !cfg.DisableIMDS, cfg.IntervalIMDS, func() (func(context.Context) error, error) {
			c, err := imds.NewClient(imds.Options{Endpoint: cfg.IMDSEndpoint})
			if err != nil {
				return nil, err
			}
			return pollInto(a, c.Fetch, true, func(s *nodestate.State, v *nodestate.Metadata) { s.Metadata = v }), nil
		}},
		{nodestate.SourceSubnets, "subnet analysis client", cfg.SubnetsURL != "", cfg.IntervalSubnets, func() (func(context.Context) error, error) {
			c, err := subnetview.NewClient(cfg.SubnetsURL, subnetview.Options{Timeout: cfg.SourceTimeout})
			if err != nil {
				return nil, err
			}
			return pollInto(a, c.Fetch, true, func(s *nodestate.State, v map[string]nodestate.SubnetView) { s.Subnets = v }), nil
		}},
	}
	for _, src := range sources {
		if !src.on {
			continue
		}
		poll, err := src.build()
		if err != nil {
			return fmt.Errorf("%s: %w", src.client, err)
		}
		a.addPoller(src.name, src.interval, poll)
	}
	return nil
}

func (a *Agent) setupKube() error {
	cfg := a.cfg
	if cfg.Kubernetes == "off" {
		return nil
	}
	if cfg.NodeName == "" {
		if cfg.Kubernetes == "on" {
			return errors.New("--kubernetes=on needs --node-name (or NODE_NAME from the downward API)")
		}
		a.logger.Info("Kubernetes source off: no node name (set --node-name or NODE_NAME)")
		return nil
	}
	api, err := kubeAPI(cfg)
	var c *kube.Client
	if err == nil {
		c, err = kube.NewClient(api, kube.Options{NodeName: cfg.NodeName})
	}
	if err != nil {
		if cfg.Kubernetes == "on" {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		a.logger.Info("Kubernetes source off", "reason", err.Error())
		return nil
	}
	a.addPoller(nodestate.SourceKube, cfg.IntervalKube, pollInto(a, c.Fetch, true,
		func(s *nodestate.State, v *nodestate.Kube) { s.Kube = v }))
	if cfg.Events {
		a.events = newEventRecorder(api, cfg.NodeName, a.logger)
	}
	return nil
}

// kubeAPI is the API client for cfg.KubeAPI, or for the pod's in-cluster configuration. One
// client serves the poller and the Events: one connection, one token.
func kubeAPI(cfg Config) (*kube.API, error) {
	var kcfg kube.Config
	if cfg.KubeAPI != nil {
		kcfg = *cfg.KubeAPI
	} else {
		var err error
		if kcfg, err = kube.InClusterConfig(); err != nil {
			return nil, err
		}
	}
	if kcfg.Timeout == 0 {
		kcfg.Timeout = cfg.SourceTimeout
	}
	return kube.NewAPI(kcfg)
}

// pollInto turns a client's Fetch into a poll that stores the result in the snapshot. On a
// failure the part is kept (keepOnError: slow-changing facts) or cleared (ipamd's datastore and
// the CNI's counters: stale numbers would mislead the diagnosis).
func pollInto[T any](a *Agent, fetch func(context.Context) (T, error), keepOnError bool, set func(*nodestate.State, T)) func(context.Context) error {
	return func(ctx context.Context) error {
		v, err := fetch(ctx)
		if err != nil && !partial(err) {
			if !keepOnError {
				var zero T
				a.setState(func(s *nodestate.State) { set(s, zero) })
			}
			return err
		}
		a.setState(func(s *nodestate.State) { set(s, v) })
		return err
	}
}

// partial reports an error that comes with a usable answer: ipamd answered /v1/enis while
// optional routes failed. The source is up; what failed is shown in its status and /diagnosis.
func partial(err error) bool { return errors.Is(err, ipamd.ErrPartial) }

func (a *Agent) addPoller(name string, interval time.Duration, fn func(ctx context.Context) error) {
	a.pollers = append(a.pollers, poller{name: name, interval: interval, poll: fn})
	a.health[name] = &sourceHealth{}
}
