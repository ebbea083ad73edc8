package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Log stream names, used as the `log` label.
const (
	LogIPAMD  = "ipamd"
	LogPlugin = "plugin"
)

// recentSlots is how many time buckets span the recent window of one class: a flood of error
// lines costs constant memory, and the count is exact but for at most one bucket (a second of
// the default ten-minute window) at the window's old edge.
const recentSlots = 600

// exampleMaxBytes bounds the example line kept per class for evidence.
const exampleMaxBytes = 512

// classCount is the number of logparse classes including None, used to size arrays.
var classCount = len(logparse.Classes()) + 1

// logStream follows one log file (or reads its tail once), classifies each line and keeps
// counters.
type logStream struct {
	name   string
	path   string
	now    func() time.Time // the agent's clock, shared with the tailer
	tailer *logparse.Tailer
	clf    *logparse.Classifier

	window time.Duration // the recent window the diagnosis reads

	mu          sync.Mutex
	counts      []uint64 // by class
	parseErrors uint64
	perClass    []classState
	// hypervisor is "xen" once ipamd said prefix delegation is unsupported on a non-Nitro
	// instance (its only statement about the hypervisor).
	hypervisor string
}

// classState is the per-class memory of one stream.
type classState struct {
	first, last time.Time
	recent      recentCounter
	example     string
	exampleAt   time.Time
	code        string
	subnet, eni string
}

// recentCounter counts events per time bucket over the last window, in a ring of recentSlots
// buckets of window/recentSlots each, allocated on the first event.
type recentCounter struct {
	width  time.Duration
	counts []uint64
	slot   []int64 // the bucket number (unix time / width) each ring entry counts
}

func (r *recentCounter) add(t time.Time, window time.Duration) {
	if r.counts == nil {
		r.width = max(window/recentSlots, time.Millisecond)
		r.counts = make([]uint64, recentSlots)
		r.slot = make([]int64, recentSlots)
	}
	b := t.UnixNano() / int64(r.width)
	i := int(((b % recentSlots) + recentSlots) % recentSlots)
	if r.slot[i] != b {
		r.slot[i], r.counts[i] = b, 0
	}
	r.counts[i]++
}

// since counts the events of the buckets that end after cut.
func (r *recentCounter) since(cut time.Time) int {
	if r.counts == nil {
		return 0
	}
	first := cut.UnixNano() / int64(r.width)
	n := 0
	for i, b := range r.slot {
		if b >= first {
			n += int(r.counts[i])
		}
	}
	return n
}

func newLogStream(name, path string, backfill int64, window time.Duration, logger *slog.Logger, now func() time.Time) (*logStream, error) {
	t, err := logparse.NewTailer(logparse.TailConfig{
		Path:     path,
		Backfill: backfill,
		Logger:   logger.With("log", name),
	}, logparse.WithClock(now))
	if err != nil {
		return nil, err
	}
	return &logStream{
		name:     name,
		path:     path,
		now:      now,
		window:   window,
		tailer:   t,
		clf:      logparse.NewClassifier(),
		counts:   make([]uint64, classCount),
		perClass: make([]classState, classCount),
	}, nil
}

// run tails the file until ctx is done.
func (s *logStream) run(ctx context.Context) error {
	return s.tailer.Run(ctx, s.handle)
}

// readTail classifies the file's tail once, from where run would start to the last complete
// line: the tailer's own first look, so the one-shot mode and the agent's start-up treat a
// backfill that starts mid-line, long lines and a partial last line the same way. A stream
// reads its tail once.
func (s *logStream) readTail(ctx context.Context) error {
	if err := s.tailer.ReadOnce(ctx, s.handle); err != nil {
		return fmt.Errorf("log %s: %w", s.name, err)
	}
	return nil
}

// handle classifies one line. Routine lines take the lock once and allocate nothing.
func (s *logStream) handle(line []byte) {
	ev := s.clf.Classify(line)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Malformed {
		s.parseErrors++
	}
	if ev.Level >= logparse.LevelWarn && logparse.SaysNonNitro(line) {
		s.hypervisor = "xen"
	}
	if ev.Class == logparse.None {
		return
	}
	c := int(ev.Class)
	if c >= len(s.counts) {
		return
	}
	s.counts[c]++
	// The agent reasons in wall-clock time: a line's own time can be old (backfill) or skewed.
	t := s.now()
	cs := &s.perClass[c]
	if cs.first.IsZero() {
		cs.first = t
	}
	cs.last = t
	cs.recent.add(t, s.window)
	if ev.Code != "" {
		cs.code = ev.Code
	}
	if ev.Subnet != "" && ev.Subnet != cs.subnet {
		cs.subnet = ev.Subnet
	}
	if ev.ENI != "" && ev.ENI != cs.eni {
		cs.eni = ev.ENI
	}
	// Keep at most one new example per second per class: evidence, not a log store.
	if cs.example == "" || t.Sub(cs.exampleAt) >= time.Second {
		ex := line
		if len(ex) > exampleMaxBytes {
			ex = ex[:exampleMaxBytes]
		}
		cs.example = string(ex)
		cs.exampleAt = t
	}
}

// snapshot copies the stream's counters.
func (s *logStream) snapshot() (counts []uint64, parseErrors uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.counts...), s.parseErrors
}

// lastSeen returns the last time each class was seen (zero = never).
func (s *logStream) lastSeen() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Time, len(s.perClass))
	for i := range s.perClass {
		out[i] = s.perClass[i].last
	}
	return out
}

// summarize merges the streams into the diagnosis' view of the logs over the recent window.
func summarize(streams []*logStream, now time.Time, window time.Duration) *nodestate.LogSummary {
	sum := &nodestate.LogSummary{Classes: map[string]nodestate.ClassStats{}, Window: window}
	cut := now.Add(-window)
	for _, s := range streams {
		st := s.tailer.Stats()
		sum.Files = append(sum.Files, nodestate.LogFile{
			Path: s.path, Readable: st.Readable, Err: st.Err, Lines: st.Lines, Bytes: st.Bytes,
		})
		s.mu.Lock()
		if s.hypervisor != "" {
			sum.LastHypervisor = s.hypervisor
		}
		for c := 1; c < len(s.perClass); c++ {
			if s.counts[c] == 0 {
				continue
			}
			cs := &s.perClass[c]
			recent := cs.recent.since(cut)
			name := logparse.Class(c).String()
			agg := sum.Classes[name]
			agg.Total += s.counts[c]
			agg.Recent += recent
			if agg.First.IsZero() || cs.first.Before(agg.First) {
				agg.First = cs.first
			}
			if cs.last.After(agg.Last) {
				agg.Last = cs.last
				agg.Example = cs.example
				if cs.code != "" {
					agg.Code = cs.code
				}
				if cs.subnet != "" {
					agg.SubnetID = cs.subnet
				}
				if cs.eni != "" {
					agg.ENI = cs.eni
				}
			}
			sum.Classes[name] = agg
		}
		s.mu.Unlock()
	}
	return sum
}
