package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRecentCountNotCapped: a flood of 40,001 failure lines within the window is counted in
// full (it used to stop at 4,096 while the total said 40,001), lines older than the window
// are not, and the memory per class stays the same however many lines arrive.
// Not parallel: AllocsPerRun.
func TestRecentCountNotCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipamd.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const window = 10 * time.Minute
	start := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	clock := start
	now := func() time.Time { return clock }
	s, err := newLogStream(LogIPAMD, path, 0, window, slog.New(slog.DiscardHandler), now)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(`{"level":"error","ts":"2026-11-26T02:13:00.000Z","caller":"ipamd/ipamd.go:801","msg":"Failed to increase pool size: api error InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses."}`)
	// 500 lines spread over the 20 minutes before the window, then 40,001 within it.
	for i := range 500 {
		clock = start.Add(time.Duration(i) * 2 * time.Second)
		s.handle(line)
	}
	flood := start.Add(30 * time.Minute)
	for i := range 40_001 {
		clock = flood.Add(time.Duration(i) * 10 * time.Millisecond) // 400 s of flood
		s.handle(line)
	}
	sum := summarize([]*logStream{s}, clock, window)
	cs := sum.Classes["subnet_exhausted"]
	if cs.Total != 40_501 {
		t.Errorf("total = %d, want 40,501", cs.Total)
	}
	if cs.Recent != 40_001 {
		t.Errorf("recent = %d, want 40,001 (every line within the window, none before it)", cs.Recent)
	}
	if got := len(s.perClass[1].recent.counts) + len(s.perClass[2].recent.counts); got > 2*recentSlots {
		t.Errorf("%d buckets per class, want at most %d", got, recentSlots)
	}
	if n := testing.AllocsPerRun(1000, func() { s.handle(line) }); n != 0 {
		t.Errorf("a routine failure line allocates %.0f times, want 0", n)
	}
}
