package agent

import (
	"context"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Once polls every configured source one time, classifies the tail of each log file (the
// complete lines of the last LogBackfill bytes, as the agent reads them at start), and
// diagnoses: the live mode of `ipamwatch diagnose`. A failing source is reported in the
// snapshot's Sources, never fatal.
func Once(ctx context.Context, cfg Config) (diagnosis.Report, nodestate.State, error) {
	a, err := New(cfg)
	if err != nil {
		return diagnosis.Report{}, nodestate.State{}, err
	}
	a.RunOnce(ctx)
	rep, st := a.Report()
	return rep, st, nil
}

// RunOnce does one round of everything the agent does continuously: each source polled once
// (concurrently), each log's tail classified once, one diagnosis. Tests and the one-shot CLI
// use it; the metrics then reflect that round. The logs are read in the first round only: a
// later round reports them failed (logparse.ErrStopped).
func (a *Agent) RunOnce(ctx context.Context) {
	done := make(chan struct{}, len(a.pollers))
	for _, p := range a.pollers {
		go func(p poller) {
			a.pollOnce(ctx, p)
			done <- struct{}{}
		}(p)
	}
	for range a.pollers {
		<-done
	}
	for _, s := range a.streams {
		if err := s.readTail(ctx); err != nil {
			a.setState(func(st *nodestate.State) {
				st.Sources[nodestate.SourceLogs] = nodestate.SourceStatus{Up: false, Err: err.Error()}
			})
		}
	}
	a.diagnose()
	a.mu.Lock()
	a.ready = true
	a.mu.Unlock()
}
