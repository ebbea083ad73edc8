package logparse

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// Rotation kinds the torture writer mixes.
const (
	rotRename   = iota // lumberjack: close, rename to ipamd-<time>.log, create, gzip the backup later
	rotCopy            // logrotate copytruncate: copy aside, truncate in place, keep writing
	rotRecreate        // close, delete, create
	rotKinds
)

// seqSink counts lines carrying "seq=NNNNNNNNN" as the tailer hands them out. Its arrays are
// written only by the handler (Run's goroutine); the writer watches the atomics.
type seqSink struct {
	seen    []uint8
	garbled int
	max     atomic.Int64 // highest sequence number seen, -1 before any
	lines   atomic.Int64
}

func newSeqSink(total int) *seqSink {
	s := &seqSink{seen: make([]uint8, total)}
	s.max.Store(-1)
	return s
}

func (s *seqSink) handle(line []byte) {
	s.lines.Add(1)
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

// tally returns lost and duplicated sequence numbers (first few of each for messages).
func (s *seqSink) tally() (lost, dup int, examples []string) {
	for i, c := range s.seen {
		switch {
		case c == 0:
			lost++
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("lost %d", i))
			}
		case c > 1:
			dup++
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("seq %d seen %d times", i, c))
			}
		}
	}
	return lost, dup, examples
}

// tortureWriter writes sequence-numbered lines at a fixed rate and rotates the file.
type tortureWriter struct {
	t       *testing.T
	dir     string
	path    string
	f       *os.File
	rng     *rand.Rand
	seq     int // next sequence number
	genSeq  int // first sequence number written to the current file
	perSec  int
	base    time.Time
	baseSeq int
	gz      sync.WaitGroup
}

func (w *tortureWriter) create() {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		w.t.Fatalf("creating %s: %v", w.path, err)
	}
	w.f, w.genSeq = f, w.seq
}

// line writes one line; some lines go out in two writes so the tailer sees partial lines.
// With noNewline the line is left unterminated (a file rotated away mid-line).
func (w *tortureWriter) line(noNewline bool) {
	pad := 20 + w.rng.IntN(180)
	b := fmt.Appendf(nil, "seq=%09d level=info msg=%q", w.seq, filler[:pad])
	if !noNewline {
		b = append(b, '\n')
	}
	if w.rng.IntN(8) == 0 {
		cut := 1 + w.rng.IntN(len(b)-1)
		w.write(b[:cut])
		b = b[cut:]
	}
	w.write(b)
	w.seq++
	if w.seq%20 == 0 {
		// Pace to perSec lines a second, measured from the last gate.
		due := w.base.Add(time.Duration(w.seq-w.baseSeq) * time.Second / time.Duration(w.perSec))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
	}
}

func (w *tortureWriter) write(b []byte) {
	if _, err := w.f.Write(b); err != nil {
		w.t.Fatalf("writing: %v", err)
	}
}

func (w *tortureWriter) repace() { w.base, w.baseSeq = time.Now(), w.seq }

// rotate performs one rotation of the given kind.
func (w *tortureWriter) rotate(kind, round int) {
	switch kind {
	case rotRename:
		w.f.Close()
		ts := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).Add(time.Duration(round) * time.Second)
		backup := filepath.Join(w.dir, "ipamd-"+ts.Format("2006-01-02T15-04-05.000")+".log")
		if err := os.Rename(w.path, backup); err != nil {
			w.t.Fatal(err)
		}
		w.create()
		// lumberjack compresses the backup in the background and removes it.
		w.gz.Add(1)
		go func() {
			defer w.gz.Done()
			if err := gzipAndRemove(backup); err != nil {
				w.t.Error(err)
			}
		}()
	case rotCopy:
		src, err := os.Open(w.path)
		if err != nil {
			w.t.Fatal(err)
		}
		dst, err := os.Create(w.path + ".1")
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			w.t.Fatal(err)
		}
		src.Close()
		dst.Close()
		if err := w.f.Truncate(0); err != nil {
			w.t.Fatal(err)
		}
	case rotRecreate:
		w.f.Close()
		if err := os.Remove(w.path); err != nil {
			w.t.Fatal(err)
		}
		w.create()
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
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Remove(path)
}

var filler = func() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789 "[i%37]
	}
	return string(b)
}()

// TestTailRotationTorture runs 100 rounds of mixed lumberjack renames, copytruncates and
// delete-recreates under a writer doing 10k lines/s, and requires every line exactly once.
//
// Before each rotation the writer waits (with a generous bound) for what no tailer can do
// without: for a rename or recreate, that the tailer has reached the current file (ipamd
// rotates at 100 MB, never twice before a reader looks); for a copytruncate, that the
// tailer has read everything (bytes unread at the truncate are gone for any reader). The
// writer does not slow down otherwise.
func TestTailRotationTorture(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"fsnotify", "poll only"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tortureRun(t, mode == "poll only")
		})
	}
}

func tortureRun(t *testing.T, pollOnly bool) {
	const (
		rounds = 100
		perSec = 10000
	)
	rng := rand.New(rand.NewPCG(2, 7))
	// Plan the rounds up front so the sink knows the total.
	type round struct{ kind, lines int }
	plan := make([]round, rounds)
	total := 50 // lines after the last rotation
	count := make([]int, rotKinds)
	for i := range plan {
		plan[i] = round{kind: rng.IntN(rotKinds), lines: 20 + rng.IntN(300)}
		total += plan[i].lines
		count[plan[i].kind]++
	}
	for k, n := range count {
		if n < 20 {
			t.Fatalf("plan has only %d rotations of kind %d", n, k)
		}
	}

	dir := t.TempDir()
	w := &tortureWriter{t: t, dir: dir, path: filepath.Join(dir, "ipamd.log"), rng: rng, perSec: perSec}
	w.create()
	defer func() { w.f.Close() }()

	var opts []TailOption
	if pollOnly {
		ticker := time.NewTicker(5 * time.Millisecond)
		defer ticker.Stop()
		opts = append(opts, withoutFSNotify(), withPollTrigger(ticker.C))
	}
	tl, err := NewTailer(TailConfig{Path: w.path, PollInterval: 50 * time.Millisecond}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sink := newSeqSink(total)
	stop := startRun(t, tl, sink.handle)
	testtools.WaitFor(t, waitLimit, "the tailer to open the file", func() bool { return tl.Stats().Readable })

	w.repace()
	for i, r := range plan {
		for j := range r.lines {
			last := j == r.lines-1
			// Leave some files with an unterminated last line before a rename or recreate.
			w.line(last && r.kind != rotCopy && i%4 == 0)
		}
		switch r.kind {
		case rotCopy:
			testtools.WaitFor(t, waitLimit, fmt.Sprintf("round %d: all lines before the copytruncate", i),
				func() bool { return sink.max.Load() == int64(w.seq-1) })
		default:
			testtools.WaitFor(t, waitLimit, fmt.Sprintf("round %d: the tailer to reach the current file", i),
				func() bool { return sink.max.Load() >= int64(w.genSeq) })
		}
		w.rotate(r.kind, i)
		w.repace()
	}
	for range 50 {
		w.line(false)
	}
	if w.seq != total {
		t.Fatalf("wrote %d lines, planned %d", w.seq, total)
	}
	testtools.WaitFor(t, waitLimit, "the last line", func() bool { return sink.max.Load() == int64(total-1) })
	stop()
	w.gz.Wait()

	lost, dup, examples := sink.tally()
	st := tl.Stats()
	t.Logf("%d lines, %d renames, %d copytruncates, %d recreates: lost %d, duplicated %d, garbled %d; stats %+v",
		total, count[rotRename], count[rotCopy], count[rotRecreate], lost, dup, sink.garbled, st)
	if lost != 0 || dup != 0 || sink.garbled != 0 {
		t.Fatalf("lost %d, duplicated %d, garbled %d lines: %v", lost, dup, sink.garbled, examples)
	}
	if got := sink.lines.Load(); got != int64(total) || st.Lines != uint64(total) {
		t.Errorf("handler saw %d lines, Stats.Lines %d, want %d", got, st.Lines, total)
	}
	if want := uint64(count[rotRename] + count[rotRecreate]); st.Rotations != want {
		t.Errorf("Stats.Rotations = %d, want %d", st.Rotations, want)
	}
	if want := uint64(count[rotCopy]); st.Truncations != want {
		t.Errorf("Stats.Truncations = %d, want %d", st.Truncations, want)
	}
}

// TestTailNoGoroutineLeak is not parallel: goleak compares against the goroutines that
// exist when it starts.
func TestTailNoGoroutineLeak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	dir := t.TempDir()
	path := filepath.Join(dir, "ipamd.log")
	writeFile(t, path, "")
	for _, noWatch := range []bool{false, true} {
		var opts []TailOption
		if noWatch {
			opts = append(opts, withoutFSNotify())
		}
		tl, err := NewTailer(TailConfig{Path: path, PollInterval: 10 * time.Millisecond}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		c := &collector{}
		stop := startRun(t, tl, c.handle)
		testtools.WaitFor(t, waitLimit, "the file to be open", func() bool { return tl.Stats().Readable })
		appendFile(t, path, "a\n")
		testtools.WaitFor(t, waitLimit, "a line", func() bool { return c.count() == 1 })
		mustRename(t, path, filepath.Join(dir, fmt.Sprintf("ipamd-%v.log", noWatch)))
		writeFile(t, path, "b\n")
		testtools.WaitFor(t, waitLimit, "the new file's line", func() bool { return c.count() == 2 })
		stop()
	}
	goleak.VerifyNone(t, ignore)
}

// BenchmarkTailer measures lines per second through the tailer: reading, splitting and
// handing out ipamd-sized JSON lines from a file.
func BenchmarkTailer(b *testing.B) {
	line := []byte(`{"level":"debug","ts":"2026-11-26T12:00:00.000Z","caller":"ipamd/ipamd.go:1234","msg":"IP pool stats for network card 0: Total IPs/Prefixes = 87/0, AssignedIPs/CooldownIPs: 21/0, c.maxIPsPerENI = 29"}` + "\n")
	path := filepath.Join(b.TempDir(), "ipamd.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	block := make([]byte, 0, 1000*len(line))
	for range 1000 {
		block = append(block, line...)
	}
	for n := b.N; n > 0; n -= 1000 {
		if _, err := f.Write(block[:min(n, 1000)*len(line)]); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	tl, err := NewTailer(TailConfig{Path: path, FromStart: true}, withoutFSNotify())
	if err != nil {
		b.Fatal(err)
	}
	defer tl.closeFile()
	var lines int
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	tl.step(context.Background(), func([]byte) { lines++ })
	elapsed := time.Since(start)
	b.StopTimer()
	if lines != b.N {
		b.Fatalf("read %d lines, want %d", lines, b.N)
	}
	b.ReportMetric(float64(lines)/elapsed.Seconds(), "lines/s")
}
