package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Rotation kinds, mixed at random (seeded) over the rounds.
const (
	rotRename   = iota // lumberjack: close, rename to ipamd-<time>.log, create anew, gzip the backup later
	rotCopy            // logrotate copytruncate: copy aside, truncate in place, the writer keeps its fd
	rotRecreate        // close, delete, create anew
	rotKinds
)

// Scenario is one torture run: Rounds rotations under a writer doing Rate lines a second.
type Scenario struct {
	Rounds int
	Rate   int
	Seed   uint64
	// GateTimeout bounds the wait before each rotation (see run). After three timeouts in a
	// row the follower is marked stalled and the writer stops waiting for it.
	GateTimeout time.Duration
	// Settle is how long to wait for the last lines without any progress.
	Settle time.Duration
	// Kinds restricts the rotations to these kinds (nil: all three, mixed).
	Kinds []int
}

// kindNames are the rotation kinds by constant, as accepted by -kinds.
var kindNames = []string{"rename", "copytruncate", "recreate"}

// DefaultScenario is the comparison recorded in docs/design-tailer.md.
var DefaultScenario = Scenario{Rounds: 100, Rate: 10000, Seed: 1, GateTimeout: 2 * time.Second, Settle: 3 * time.Second}

// Result is what one follower did in one scenario.
type Result struct {
	Impl                       string
	Written                    int
	Delivered                  int64
	Lost, Dup, Garbled         int
	LineErrs                   int64
	Renames, Copies, Recreates int
	GateTimeouts               int
	Stalled                    bool
	Wall                       time.Duration
	CPU                        time.Duration // process user+sys time over the run, writer included
	Examples                   []string
}

// sink counts sequence numbers as the follower delivers them. seen and garbled are
// written only by the follower's delivering goroutine and read after it returned.
type sink struct {
	seen      []uint8
	garbled   int
	max       atomic.Int64
	delivered atomic.Int64
	lineErrs  atomic.Int64
	warm      atomic.Bool
}

func (s *sink) handle(line []byte) {
	if string(line) == "warm-up" {
		s.warm.Store(true)
		return
	}
	s.delivered.Add(1)
	if len(line) < 13 || string(line[:4]) != "seq=" {
		s.garbled++
		return
	}
	n, err := strconv.Atoi(string(line[4:13]))
	if err != nil || n < 0 || n >= len(s.seen) {
		s.garbled++
		return
	}
	if s.seen[n] < 255 {
		s.seen[n]++
	}
	if int64(n) > s.max.Load() {
		s.max.Store(int64(n))
	}
}

// writer appends sequence-numbered lines at a fixed rate and rotates the file.
type writer struct {
	dir, path string
	f         *os.File
	rng       *rand.Rand
	seq       int // next sequence number
	genSeq    int // first sequence number written to the current file
	rate      int
	base      time.Time
	baseSeq   int
	gz        sync.WaitGroup
	gzErr     atomic.Value
}

func (w *writer) create() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w.f, w.genSeq = f, w.seq
	return nil
}

const filler = "abcdefghijklmnopqrstuvwxyz0123456789 abcdefghijklmnopqrstuvwxyz0123456789 abcdefghijklmnopqrstuvwxyz0123456789 abcdefghijklmnopqrstuvwxyz0123456789 abcdefghijklmnopqrstuvwxyz0123456789 abcdefghijklmnopqrstuvwxyz"

// line writes one line, one write call like zap does; one in eight goes out in two writes
// so followers see partial lines.
func (w *writer) line() error {
	b := fmt.Appendf(nil, "seq=%09d level=info msg=%q\n", w.seq, filler[:20+w.rng.IntN(180)])
	if w.rng.IntN(8) == 0 {
		cut := 1 + w.rng.IntN(len(b)-1)
		if _, err := w.f.Write(b[:cut]); err != nil {
			return err
		}
		b = b[cut:]
	}
	if _, err := w.f.Write(b); err != nil {
		return err
	}
	w.seq++
	if w.seq%20 == 0 {
		due := w.base.Add(time.Duration(w.seq-w.baseSeq) * time.Second / time.Duration(w.rate))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
	return nil
}

func (w *writer) repace() { w.base, w.baseSeq = time.Now(), w.seq }

func (w *writer) rotate(kind, round int) error {
	switch kind {
	case rotRename:
		w.f.Close()
		ts := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(round) * time.Second)
		backup := filepath.Join(w.dir, "ipamd-"+ts.Format("2006-01-02T15-04-05.000")+".log")
		if err := os.Rename(w.path, backup); err != nil {
			return err
		}
		w.gz.Add(1)
		go func() {
			defer w.gz.Done()
			if err := gzipAndRemove(backup); err != nil {
				w.gzErr.Store(err)
			}
		}()
		return w.create()
	case rotCopy:
		src, err := os.Open(w.path)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.Create(w.path + ".1")
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			return err
		}
		if err := dst.Close(); err != nil {
			return err
		}
		return w.f.Truncate(0)
	default:
		w.f.Close()
		if err := os.Remove(w.path); err != nil {
			return err
		}
		return w.create()
	}
}

func gzipAndRemove(path string) error {
	in, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := os.Create(path + ".gz")
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	if _, err := zw.Write(in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Remove(path)
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run drives one follower through the scenario in dir and counts what it lost and
// duplicated.
//
// Before each rotation the writer waits, up to GateTimeout, for what no follower can do
// without. For a rename or recreate: that the follower has delivered a line of the current
// file (ipamd rotates at 100 MB, so a reader always reaches a file before it is rotated
// away again). For a copytruncate: that it has delivered every line (bytes unread when the
// file is truncated are gone for any reader). The writer does not slow down otherwise.
func run(sc Scenario, im impl, dir string) (Result, error) {
	rng := rand.New(rand.NewPCG(sc.Seed, 0x1fa3))
	type round struct{ kind, lines int }
	plan := make([]round, sc.Rounds)
	res := Result{Impl: im.name, Written: 50}
	if sc.Rounds < 1 || sc.Rate < 1 {
		return res, errors.New("rounds and rate must be positive")
	}
	for i := range plan {
		kind := rng.IntN(rotKinds)
		if len(sc.Kinds) > 0 {
			kind = sc.Kinds[kind%len(sc.Kinds)]
		}
		plan[i] = round{kind: kind, lines: 20 + rng.IntN(300)}
		res.Written += plan[i].lines
		switch plan[i].kind {
		case rotRename:
			res.Renames++
		case rotCopy:
			res.Copies++
		default:
			res.Recreates++
		}
	}
	w := &writer{dir: dir, path: filepath.Join(dir, "ipamd.log"), rng: rng, rate: sc.Rate}
	if err := w.create(); err != nil {
		return res, err
	}
	defer func() { w.f.Close() }()

	s := &sink{seen: make([]uint8, res.Written)}
	s.max.Store(-1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	startCPU, start := cpuTime(), time.Now()
	go func() {
		done <- im.follow(ctx, w.path, s.handle, func(error) { s.lineErrs.Add(1) })
	}()
	// A follower starts at the end: write warm-up lines until it delivers one, so its start
	// position is settled before the counted lines begin.
	ready := false
	for range 500 {
		if _, err := w.f.WriteString("warm-up\n"); err != nil {
			return res, err
		}
		if ready = waitUntil(10*time.Millisecond, func() bool { return s.warm.Load() }); ready {
			break
		}
	}
	if !ready {
		return res, errors.New("follower delivered no warm-up line within 5s")
	}

	ends := make([]int, len(plan)) // ends[i] is the first sequence number after round i
	timeoutsInRow := 0
	gate := func(cond func() bool) {
		if res.Stalled {
			return
		}
		if waitUntil(sc.GateTimeout, cond) {
			timeoutsInRow = 0
			return
		}
		res.GateTimeouts++
		if timeoutsInRow++; timeoutsInRow >= 3 {
			res.Stalled = true
		}
	}
	w.repace()
	for i, r := range plan {
		ends[i] = w.seq + r.lines
		for range r.lines {
			if err := w.line(); err != nil {
				return res, err
			}
		}
		if r.kind == rotCopy {
			last := int64(w.seq - 1)
			gate(func() bool { return s.max.Load() >= last })
		} else {
			gen := int64(w.genSeq)
			gate(func() bool { return s.max.Load() >= gen })
		}
		if err := w.rotate(r.kind, i); err != nil {
			return res, fmt.Errorf("round %d: %w", i, err)
		}
		w.repace()
	}
	for range 50 {
		if err := w.line(); err != nil {
			return res, err
		}
	}
	// Wait for the last line, or until nothing has arrived for Settle.
	last, lastChange := s.delivered.Load(), time.Now()
	for s.max.Load() < int64(res.Written-1) && time.Since(lastChange) < sc.Settle {
		time.Sleep(5 * time.Millisecond)
		if d := s.delivered.Load(); d != last {
			last, lastChange = d, time.Now()
		}
	}
	res.Wall = time.Since(start)
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			res.Examples = append(res.Examples, "follower returned "+err.Error())
		}
	case <-time.After(10 * time.Second):
		return res, errors.New("follower did not stop within 10s of cancel")
	}
	res.CPU = cpuTime() - startCPU
	w.gz.Wait()
	if err, ok := w.gzErr.Load().(error); ok {
		return res, fmt.Errorf("compressing a backup: %w", err)
	}

	res.Delivered, res.Garbled, res.LineErrs = s.delivered.Load(), s.garbled, s.lineErrs.Load()
	for i, c := range s.seen {
		switch {
		case c == 0:
			res.Lost++
			if res.Lost == 1 {
				r := 0
				for r < len(ends) && i >= ends[r] {
					r++
				}
				what := "after the last rotation"
				if r < len(plan) {
					what = fmt.Sprintf("in round %d, before a %s", r, kindNames[plan[r].kind])
				}
				res.Examples = append(res.Examples, fmt.Sprintf("first lost seq %d %s", i, what))
			}
		case c > 1:
			res.Dup++
			if len(res.Examples) < 6 {
				res.Examples = append(res.Examples, fmt.Sprintf("seq %d delivered %d times", i, c))
			}
		}
	}
	return res, nil
}
