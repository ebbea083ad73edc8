package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Once polls every configured source one time, classifies the tail of each log file (the
// last LogBackfill bytes), and diagnoses: the live mode of `ipamwatch diagnose`. A failing
// source is reported in the snapshot's Sources, never fatal.
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
// use it; the metrics then reflect that round.
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
		if err := s.readTail(a.cfg.LogBackfill, a.cfg.Now); err != nil {
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

// readTail classifies the last n bytes of the stream's file once (no following).
func (s *logStream) readTail(n int64, now func() time.Time) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("log %s: %w", s.name, err)
	}
	defer f.Close()
	seeked := false
	if fi, err := f.Stat(); err == nil && n > 0 && fi.Size() > n {
		if _, err := f.Seek(fi.Size()-n, io.SeekStart); err != nil {
			return fmt.Errorf("log %s: %w", s.name, err)
		}
		seeked = true
	}
	_, err = logparse.ReadLines(f, 0, func(i uint64, line []byte) error {
		if i > 1 || !seeked { // the first line after a seek is partial
			s.handle(line, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("log %s: %w", s.name, err)
	}
	return nil
}
