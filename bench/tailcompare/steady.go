package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// steady measures the CPU a follower costs on a steady log without rotations (the agent's
// normal case): the process CPU over d with the writer alone, then with writer and
// follower; the difference is the follower's. It returns millicores (CPU ms per second).
func steady(out io.Writer, im impl, rate int, d time.Duration) error {
	measure := func(withFollower bool) (float64, int64, error) {
		dir, err := os.MkdirTemp("", "tailcompare-steady")
		if err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(dir)
		w := &writer{dir: dir, path: filepath.Join(dir, "ipamd.log"), rng: rand.New(rand.NewPCG(1, 2)), rate: rate}
		if err := w.create(); err != nil {
			return 0, 0, err
		}
		defer w.f.Close()
		s := &sink{seen: make([]uint8, rate*int(d/time.Second+2))}
		s.max.Store(-1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		if withFollower {
			go func() { done <- im.follow(ctx, w.path, s.handle, func(error) {}) }()
			time.Sleep(500 * time.Millisecond) // let it open the file and settle
		} else {
			close(done)
		}
		cpu0, start := cpuTime(), time.Now()
		w.repace()
		for time.Since(start) < d && w.seq < len(s.seen) {
			if err := w.line(); err != nil {
				cancel()
				return 0, 0, err
			}
		}
		elapsed := time.Since(start)
		cpu := cpuTime() - cpu0
		cancel()
		if err := <-done; err != nil {
			return 0, 0, fmt.Errorf("%s: %w", im.name, err)
		}
		return float64(cpu.Milliseconds()) / elapsed.Seconds(), s.delivered.Load(), nil
	}
	base, _, err := measure(false)
	if err != nil {
		return err
	}
	with, delivered, err := measure(true)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "steady %d lines/s for %s: writer alone %.1f m, writer+%s %.1f m: follower %.1f millicores (%d lines delivered)\n",
		rate, d, base, im.name, with, with-base, delivered)
	return nil
}
