package agent

import (
	"context"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// RunOnce does one round of everything the agent does continuously and returns its
// diagnosis: each source polled once (concurrently), each log's tail classified once (the
// complete lines of the last LogBackfill bytes, as Run reads them at start), one diagnosis.
// It is the live mode of `ipamwatch diagnose`; a failing source is reported in the
// snapshot's Sources, never fatal. The metrics then reflect that round. The logs are read in
// the first round only: a later round reports them failed (logparse.ErrStopped).
func (a *Agent) RunOnce(ctx context.Context) diagnosis.Report {
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
	rep := a.diagnose()
	a.mu.Lock()
	a.ready = true
	a.mu.Unlock()
	return rep
}
