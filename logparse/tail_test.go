package logparse

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// stepTailer builds a Tailer driven only by explicit calls to step: no fsnotify, no
// ticker, a fixed clock (unless opts bring another). Tests move files around between steps
// and assert exactly what each step delivered.
func stepTailer(t *testing.T, cfg TailConfig, opts ...TailOption) (*Tailer, *collector) {
	t.Helper()
	fixed := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	tl, err := NewTailer(cfg, append([]TailOption{withoutFSNotify(), WithClock(fixed)}, opts...)...)
	if err != nil {
		t.Fatalf("NewTailer: %v", err)
	}
	t.Cleanup(tl.closeFile)
	return tl, &collector{}
}

// deniedOpen is a file system whose open fails with permission denied while *denied.
func deniedOpen(denied *bool) TailOption {
	return withFileSystem(os.Stat, func(name string) (*os.File, error) {
		if *denied {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return os.Open(name)
	})
}

// collector records handed-out lines; it copies them because the slice is reused.
type collector struct {
	mu    sync.Mutex
	lines []string
}

func (c *collector) handle(line []byte) {
	c.mu.Lock()
	c.lines = append(c.lines, string(line))
	c.mu.Unlock()
}

// take returns the lines collected since the last take.
func (c *collector) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.lines
	c.lines = nil
	return got
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// stepExpect runs one step and compares the delivered lines.
func stepExpect(t *testing.T, tl *Tailer, c *collector, want ...string) {
	t.Helper()
	tl.step(context.Background(), c.handle)
	if diff := cmp.Diff(want, c.take()); diff != "" {
		t.Fatalf("lines after step (-want +got):\n%s", diff)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func TestNewTailerValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  TailConfig
		want string
	}{
		{"empty path", TailConfig{}, "empty path"},
		{"negative backfill", TailConfig{Path: "x", Backfill: -1}, "negative backfill"},
		{"negative poll", TailConfig{Path: "x", PollInterval: -time.Second}, "negative poll interval"},
		{"negative max line", TailConfig{Path: "x", MaxLineBytes: -1}, "negative max line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewTailer(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewTailer(%+v) error = %v, want one containing %q", tc.cfg, err, tc.want)
			}
		})
	}
	tl, err := NewTailer(TailConfig{Path: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if tl.cfg.PollInterval != DefaultPollInterval || tl.cfg.MaxLineBytes != DefaultMaxLineBytes {
		t.Errorf("defaults not applied: poll %s, max line %d", tl.cfg.PollInterval, tl.cfg.MaxLineBytes)
	}
}

// startCase is a file's content, a configuration, and the lines the first look delivers.
type startCase struct {
	name    string
	content string
	cfg     TailConfig
	want    []string
}

// tailer writes the content to a new file and returns a step-driven Tailer for it.
func (tc startCase) tailer(t *testing.T, opts ...TailOption) (*Tailer, *collector, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	writeFile(t, path, tc.content)
	tc.cfg.Path = path
	tl, c := stepTailer(t, tc.cfg, opts...)
	return tl, c, path
}

func TestTailStartPosition(t *testing.T) {
	t.Parallel()
	const content = "line1\nline2\nline3\n" // 18 bytes, lines start at 0, 6, 12
	for _, tc := range []startCase{
		{"end", content, TailConfig{}, nil},
		{"end mid-line skips the partial line", "line1\nlin", TailConfig{}, nil},
		{"backfill to a line start", content, TailConfig{Backfill: 12}, []string{"line2", "line3"}},
		{"backfill mid-line skips to the next line", content, TailConfig{Backfill: 8}, []string{"line3"}},
		{"backfill one byte before a line start", content, TailConfig{Backfill: 7}, []string{"line3"}},
		{"backfill beyond the start", content, TailConfig{Backfill: 1 << 20}, []string{"line1", "line2", "line3"}},
		{"from start", content, TailConfig{FromStart: true, Backfill: 3}, []string{"line1", "line2", "line3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tl, c, path := tc.tailer(t)
			var want []string
			want = append(want, tc.want...)
			stepExpect(t, tl, c, want...)
			// Whatever follows is delivered whole, including the rest of a skipped line.
			appendFile(t, path, "rest\nnext\n")
			if strings.HasSuffix(tc.content, "\n") {
				stepExpect(t, tl, c, "rest", "next")
			} else {
				stepExpect(t, tl, c, "next")
			}
			if st := tl.Stats(); !st.Readable || st.Err != "" {
				t.Errorf("Stats = %+v, want readable without error", st)
			}
		})
	}
}

// The start point is the file's size when following began, not when it could be opened.
func TestTailStartPointIsFixedAtFirstLook(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	writeFile(t, path, "old1\nold2\n")
	denied := true
	tl, c := stepTailer(t, TailConfig{Path: path}, deniedOpen(&denied))
	stepExpect(t, tl, c)
	appendFile(t, path, "new1\n")
	denied = false
	stepExpect(t, tl, c, "new1")
}

// When the first look cannot tell whether the file exists (e.g. the directory is not
// searchable yet), the first file opened is treated as pre-existing: start at its end
// rather than replay its history.
func TestTailFirstLookInconclusive(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	writeFile(t, path, "old1\nold2\n")
	denied := true
	tl, c := stepTailer(t, TailConfig{Path: path, Backfill: 5}, withFileSystem(func(name string) (os.FileInfo, error) {
		if denied {
			return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrPermission}
		}
		return os.Stat(name)
	}, os.Open))
	stepExpect(t, tl, c)
	if st := tl.Stats(); st.Readable || !strings.Contains(st.Err, "permission denied") {
		t.Fatalf("Stats = %+v, want permission denied", st)
	}
	denied = false
	stepExpect(t, tl, c, "old2")
	appendFile(t, path, "new\n")
	stepExpect(t, tl, c, "new")
}

// A file truncated in place between the first look and the open is read from its start.
func TestTailTruncatedBeforeOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	writeFile(t, path, "old1\nold2\n")
	denied := true
	tl, c := stepTailer(t, TailConfig{Path: path}, deniedOpen(&denied))
	stepExpect(t, tl, c)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "n\n")
	denied = false
	stepExpect(t, tl, c, "n")
	appendFile(t, path, "m\n")
	stepExpect(t, tl, c, "m")
	if st := tl.Stats(); st.Truncations != 1 {
		t.Errorf("truncations %d, want 1", st.Truncations)
	}
}

func TestTailPartialLineHeldUntilNewline(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	writeFile(t, path, "")
	tl, c := stepTailer(t, TailConfig{Path: path})
	stepExpect(t, tl, c)
	appendFile(t, path, `{"level":"error","msg":"fail`)
	stepExpect(t, tl, c)
	appendFile(t, path, `ed"}`)
	stepExpect(t, tl, c)
	appendFile(t, path, "\nnext\npart")
	stepExpect(t, tl, c, `{"level":"error","msg":"failed"}`, "next")
	if st := tl.Stats(); st.Lines != 2 || st.Bytes != uint64(len(`{"level":"error","msg":"failed"}`)+len("\nnext\npart")) {
		t.Errorf("Stats lines %d bytes %d", st.Lines, st.Bytes)
	}
}

func TestTailLumberjackRename(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		oldTail   string // written to the old file just before the rename
		removeOld bool   // lumberjack gzips the backup and removes it before we look
		want      []string
	}{
		{"drains the old file first", "3\n", false, []string{"3", "new"}},
		{"flushes a last line without newline", "3\n4", false, []string{"3", "4", "new"}},
		{"backup already gzipped and removed", "3\n", true, []string{"3", "new"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "ipamd.log")
			writeFile(t, path, "1\n")
			tl, c := stepTailer(t, TailConfig{Path: path})
			stepExpect(t, tl, c)
			appendFile(t, path, "2\n")
			stepExpect(t, tl, c, "2")
			appendFile(t, path, tc.oldTail)
			backup := filepath.Join(dir, "ipamd-2026-11-26T12-00-00.000.log")
			mustRename(t, path, backup)
			writeFile(t, path, "new\n")
			if tc.removeOld {
				mustRemove(t, backup)
			}
			stepExpect(t, tl, c, tc.want...)
			appendFile(t, path, "more\n")
			stepExpect(t, tl, c, "more")
			if st := tl.Stats(); st.Rotations != 1 || st.Truncations != 0 {
				t.Errorf("rotations %d truncations %d, want 1 and 0", st.Rotations, st.Truncations)
			}
		})
	}
}

// Between lumberjack's rename and its create the name does not exist: keep the old file.
func TestTailRenameBeforeNewFileExists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ipamd.log")
	writeFile(t, path, "")
	tl, c := stepTailer(t, TailConfig{Path: path})
	stepExpect(t, tl, c)
	appendFile(t, path, "a\nb")
	backup := filepath.Join(dir, "ipamd-2026-11-26T12-00-00.000.log")
	mustRename(t, path, backup)
	stepExpect(t, tl, c, "a")
	if st := tl.Stats(); !st.Readable || st.Err != "" {
		t.Errorf("Stats while the name is gone = %+v, want still readable (old file held)", st)
	}
	appendFile(t, backup, "c\n") // a writer that had not moved on yet
	stepExpect(t, tl, c, "bc")
	writeFile(t, path, "d\n")
	stepExpect(t, tl, c, "d")
}

func TestTailCopyTruncate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rewrite string // written after truncating to 0, before the tailer looks
		want    []string
	}{
		{"shorter than before", "c\n", []string{"c"}},
		{"nothing yet", "", nil},
		{"rewritten past the old offset", "cccccccccccccccccccc\nd\n", []string{"cccccccccccccccccccc", "d"}},
		{"rewritten to the same length", "xxxxxxxxxx\n", []string{"xxxxxxxxxx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "ipamd.log")
			writeFile(t, path, "")
			tl, c := stepTailer(t, TailConfig{Path: path})
			stepExpect(t, tl, c)
			appendFile(t, path, "aaaa\nbbbbb\n") // 11 bytes
			stepExpect(t, tl, c, "aaaa", "bbbbb")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, tc.rewrite)
			stepExpect(t, tl, c, tc.want...)
			appendFile(t, path, "after\n")
			stepExpect(t, tl, c, "after")
			if st := tl.Stats(); st.Truncations != 1 || st.Rotations != 0 {
				t.Errorf("truncations %d rotations %d, want 1 and 0", st.Truncations, st.Rotations)
			}
		})
	}
}

// A copytruncate followed by a rename before the tailer looked: the old file must be
// reread from 0, not from the old offset.
func TestTailTruncatedThenRenamed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ipamd.log")
	writeFile(t, path, "")
	tl, c := stepTailer(t, TailConfig{Path: path})
	stepExpect(t, tl, c)
	appendFile(t, path, "aaaa\nbbbb\n")
	stepExpect(t, tl, c, "aaaa", "bbbb")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "cccccccccccc\ndd\n")
	mustRename(t, path, filepath.Join(dir, "ipamd-2026-11-26T12-00-00.000.log"))
	writeFile(t, path, "e\n")
	stepExpect(t, tl, c, "cccccccccccc", "dd", "e")
	if st := tl.Stats(); st.Truncations != 1 || st.Rotations != 1 {
		t.Errorf("truncations %d rotations %d, want 1 and 1", st.Truncations, st.Rotations)
	}
}

func TestTailDeleteAndRecreate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	writeFile(t, path, "")
	tl, c := stepTailer(t, TailConfig{Path: path})
	stepExpect(t, tl, c)

	// A writer that still holds the deleted file keeps writing to it.
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString("a\n"); err != nil {
		t.Fatal(err)
	}
	mustRemove(t, path)
	stepExpect(t, tl, c, "a")
	if _, err := w.WriteString("b\n"); err != nil {
		t.Fatal(err)
	}
	stepExpect(t, tl, c, "b")
	writeFile(t, path, "x\n")
	stepExpect(t, tl, c, "x")
	if st := tl.Stats(); st.Rotations != 1 || !st.Readable {
		t.Errorf("Stats = %+v, want 1 rotation and readable", st)
	}
}

func TestTailFileCreatedLater(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "aws-routed-eni") // the directory is missing too
	path := filepath.Join(dir, "ipamd.log")
	tl, c := stepTailer(t, TailConfig{Path: path, Backfill: 0})
	stepExpect(t, tl, c)
	st := tl.Stats()
	if st.Readable || !strings.Contains(st.Err, "no such file") || !strings.Contains(st.Err, "waiting for it to be created") {
		t.Fatalf("Stats for a missing file = %+v", st)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A file that appears after we started is new: all of it is read.
	writeFile(t, path, "first\nsecond\n")
	stepExpect(t, tl, c, "first", "second")
	if st := tl.Stats(); !st.Readable || st.Err != "" {
		t.Errorf("Stats = %+v, want readable", st)
	}
}

// A name that stays gone (the file deleted, or its whole directory removed) makes the file
// unreadable once the grace for lumberjack's rename-then-create has passed, while the file
// it named is still drained; it is readable again when a file reappears.
func TestTailVanishedNameTurnsUnreadable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		remove func(dir, path string) error
	}{
		{"file deleted", func(_, path string) error { return os.Remove(path) }},
		{"directory removed", func(dir, _ string) error { return os.RemoveAll(dir) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "aws-routed-eni")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "ipamd.log")
			writeFile(t, path, "old\n")
			now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
			tl, c := stepTailer(t, TailConfig{Path: path}, WithClock(func() time.Time { return now }))
			stepExpect(t, tl, c)
			appendFile(t, path, "last\n")
			if err := tc.remove(dir, path); err != nil {
				t.Fatal(err)
			}
			stepExpect(t, tl, c, "last")
			now = now.Add(vanishGrace - time.Millisecond)
			stepExpect(t, tl, c)
			if st := tl.Stats(); !st.Readable {
				t.Fatalf("Stats within the grace = %+v, want still readable", st)
			}
			now = now.Add(time.Millisecond)
			stepExpect(t, tl, c)
			if st := tl.Stats(); st.Readable || !strings.Contains(st.Err, "no such file") {
				t.Fatalf("Stats after the grace = %+v, want unreadable: no such file", st)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, "new\n")
			stepExpect(t, tl, c, "new")
			if st := tl.Stats(); !st.Readable || st.Err != "" || st.Rotations != 1 {
				t.Errorf("Stats after the file came back = %+v, want readable after 1 rotation", st)
			}
		})
	}
}

// ReadOnce delivers what Run's first look delivers: the same start (a backfill that lands
// on a line start keeps that line), long lines cut the same way, a partial last line held.
func TestTailReadOnceMatchesRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []startCase{
		{"backfill to a line start", "line1\nline2\nline3\n", TailConfig{Backfill: 12}, []string{"line2", "line3"}},
		{"backfill mid-line", "line1\nline2\nline3\n", TailConfig{Backfill: 8}, []string{"line3"}},
		{"backfill covers the file", "line1\nline2\n", TailConfig{Backfill: 1 << 20}, []string{"line1", "line2"}},
		{"long line cut", "0123456789abc\nok\n", TailConfig{FromStart: true, MaxLineBytes: 8}, []string{"01234567", "ok"}},
		{"partial last line held", "a\nb\npart", TailConfig{FromStart: true}, []string{"a", "b"}},
		{"at the end", "a\nb\n", TailConfig{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			once, onceLines, _ := tc.tailer(t)
			if err := once.ReadOnce(context.Background(), onceLines.handle); err != nil {
				t.Fatalf("ReadOnce: %v", err)
			}
			tick := make(chan time.Time)
			run, runLines, _ := tc.tailer(t, withPollTrigger(tick))
			stop := startRun(t, run, runLines.handle)
			tick <- time.Time{} // taken once the first look is done
			stop()
			got := onceLines.take()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReadOnce lines (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(runLines.take(), got); diff != "" {
				t.Errorf("ReadOnce vs Run's first look (-run +once):\n%s", diff)
			}
			if diff := cmp.Diff(run.Stats(), once.Stats()); diff != "" {
				t.Errorf("Stats (-run +once):\n%s", diff)
			}
		})
	}
}

func TestTailReadOnceErrors(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	tl, c := stepTailer(t, TailConfig{Path: path})
	if err := tl.ReadOnce(context.Background(), c.handle); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadOnce of a missing file = %v, want fs.ErrNotExist", err)
	}
	if st := tl.Stats(); st.Readable || !strings.Contains(st.Err, "no such file") {
		t.Errorf("Stats = %+v, want unreadable", st)
	}
	if err := tl.ReadOnce(context.Background(), c.handle); !errors.Is(err, ErrStopped) {
		t.Errorf("second ReadOnce = %v, want ErrStopped", err)
	}
	if err := tl.Run(context.Background(), c.handle); !errors.Is(err, ErrStopped) {
		t.Errorf("Run after ReadOnce = %v, want ErrStopped", err)
	}
	writeFile(t, path, "a\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tl, c = stepTailer(t, TailConfig{Path: path, FromStart: true})
	if err := tl.ReadOnce(ctx, c.handle); !errors.Is(err, context.Canceled) || c.count() != 0 {
		t.Errorf("ReadOnce with a cancelled context = %v after %d lines, want context.Canceled and none", err, c.count())
	}
}

// recordHandler keeps slog records for assertions.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) atLeast(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level >= level {
			out = append(out, r.Level.String()+" "+r.Message)
		}
	}
	return out
}

func TestTailUnreadableFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	writeFile(t, path, "before\n")
	h := &recordHandler{}
	denied := true
	tl, c := stepTailer(t, TailConfig{Path: path, Logger: slog.New(h)}, deniedOpen(&denied))
	for range 3 {
		stepExpect(t, tl, c)
	}
	st := tl.Stats()
	if st.Readable || !strings.Contains(st.Err, "permission denied") || !strings.Contains(st.Err, "CAP_DAC_READ_SEARCH") {
		t.Fatalf("Stats = %+v, want a permission error with the fix", st)
	}
	if diff := cmp.Diff([]string{"WARN cannot follow log file"}, h.atLeast(slog.LevelInfo)); diff != "" {
		t.Errorf("logged once per state change (-want +got):\n%s", diff)
	}
	appendFile(t, path, "after\n")
	denied = false
	stepExpect(t, tl, c, "after")
	if st := tl.Stats(); !st.Readable || st.Err != "" {
		t.Errorf("Stats after recovery = %+v", st)
	}
	want := []string{"WARN cannot follow log file", "INFO following log file again"}
	if diff := cmp.Diff(want, h.atLeast(slog.LevelInfo)); diff != "" {
		t.Errorf("log records (-want +got):\n%s", diff)
	}
}

// TestTailUnreadableFileForReal uses file permissions instead of an injected error. Root
// reads any file, so as root the check runs in a child process as an unprivileged user.
func TestTailUnreadableFileForReal(t *testing.T) {
	t.Parallel()
	if os.Getenv(childEnv) != "" {
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ipamd.log")
	writeFile(t, path, "secret\n")
	if os.Geteuid() == 0 {
		runAsNobody(t, dir, path)
		return
	}
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	checkPermissionDenied(t, path)
}

func checkPermissionDenied(t *testing.T, path string) {
	t.Helper()
	tl, c := stepTailer(t, TailConfig{Path: path, FromStart: true})
	stepExpect(t, tl, c)
	st := tl.Stats()
	if st.Readable || !strings.Contains(st.Err, "permission denied") {
		t.Fatalf("Stats = %+v, want permission denied", st)
	}
}

func TestTailNotARegularFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	tl, c := stepTailer(t, TailConfig{Path: path})
	stepExpect(t, tl, c)
	if st := tl.Stats(); st.Readable || !strings.Contains(st.Err, "not a regular file") {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestTailLongLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	writeFile(t, path, "")
	tl, c := stepTailer(t, TailConfig{Path: path, MaxLineBytes: 8})
	stepExpect(t, tl, c)
	appendFile(t, path, "0123456789abc\nshort\n12345678\n")
	stepExpect(t, tl, c, "01234567", "short", "12345678")
	// A long line that arrives in pieces is cut the same way.
	appendFile(t, path, "abcdef")
	stepExpect(t, tl, c)
	appendFile(t, path, "ghijkl")
	stepExpect(t, tl, c)
	appendFile(t, path, "mn\nok\n")
	stepExpect(t, tl, c, "abcdefgh", "ok")
	if st := tl.Stats(); st.LongLines != 2 || st.Lines != 5 {
		t.Errorf("long lines %d lines %d, want 2 and 5", st.LongLines, st.Lines)
	}
}

// referenceLines splits data the plain way: every newline-terminated line, plus a final
// unterminated one.
func referenceLines(data []byte) [][]byte {
	parts := bytes.Split(data, []byte("\n"))
	if last := len(parts) - 1; len(parts[last]) == 0 {
		parts = parts[:last]
	}
	return parts
}

// splitReference is what the tailer must deliver for data read from the start of a file
// that is then rotated away: the reference lines, each cut at max bytes.
func splitReference(data []byte, max int) []string {
	var out []string
	for _, p := range referenceLines(data) {
		out = append(out, string(p[:min(len(p), max)]))
	}
	return out
}

// FuzzTailSplit checks that however the bytes arrive, the lines are the same.
func FuzzTailSplit(f *testing.F) {
	f.Add([]byte("a\nbb\nccc"), []byte{1, 2, 3}, uint8(2))
	f.Add([]byte("{\"level\":\"error\"}\n\n\nx"), []byte{0, 7}, uint8(0))
	f.Add([]byte("no newline at all"), []byte{5}, uint8(4))
	f.Add(bytes.Repeat([]byte("0123456789\n"), 40), []byte{200, 13, 255}, uint8(9))
	f.Fuzz(func(t *testing.T, data, cuts []byte, maxLine uint8) {
		max := int(maxLine) + 1
		split := lineSplitter{max: max}
		var got []string
		var nLong uint64
		handle := func(line []byte, cut bool) {
			got = append(got, string(line))
			if cut {
				nLong++
			}
		}
		feed := func(chunk []byte) {
			for line, cut := range split.lines(chunk) {
				handle(line, cut)
			}
		}
		rest := data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			feed(rest[:n])
			rest = rest[n:]
		}
		feed(rest)
		if line, cut, ok := split.last(); ok {
			handle(line, cut)
		}
		want := splitReference(data, max)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("lines (-want +got):\n%s", diff)
		}
		var long uint64
		for _, l := range referenceLines(data) {
			if len(l) > max {
				long++
			}
		}
		if nLong != long {
			t.Fatalf("long lines counted %d, want %d", nLong, long)
		}
	})
}

func TestTailRunFollowsWithFSNotify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "ipamd.log")
	writeFile(t, path, "old\n")
	// A poll interval far beyond the test's bounds: only fsnotify can wake the tailer.
	tl, err := NewTailer(TailConfig{Path: path, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	stop := startRun(t, tl, c.handle)
	testtools.WaitFor(t, waitLimit, "the file to be open", func() bool { return tl.Stats().Readable })
	appendFile(t, path, "1\n2\n")
	testtools.WaitFor(t, waitLimit, "two lines", func() bool { return c.count() == 2 })
	mustRename(t, path, filepath.Join(dir, "ipamd-2026-11-26T12-00-00.000.log"))
	writeFile(t, path, "3\n")
	testtools.WaitFor(t, waitLimit, "the line of the new file", func() bool { return c.count() == 3 })
	stop()
	if diff := cmp.Diff([]string{"1", "2", "3"}, c.take()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if st := tl.Stats(); st.Rotations != 1 {
		t.Errorf("rotations %d, want 1", st.Rotations)
	}
}

func TestTailRunPollsWithoutFSNotify(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	tick := make(chan time.Time)
	tl, err := NewTailer(TailConfig{Path: path}, withoutFSNotify(), withPollTrigger(tick))
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	stop := startRun(t, tl, c.handle)
	tick <- time.Time{} // the first look (missing file) is done once the tick is taken
	writeFile(t, path, "a\n")
	tick <- time.Time{}
	testtools.WaitFor(t, waitLimit, "the line", func() bool { return c.count() == 1 })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "b\n")
	tick <- time.Time{}
	testtools.WaitFor(t, waitLimit, "the line after truncation", func() bool { return c.count() == 2 })
	stop()
	if diff := cmp.Diff([]string{"a", "b"}, c.take()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

func TestTailRunTwice(t *testing.T) {
	t.Parallel()
	tick := make(chan time.Time)
	tl, err := NewTailer(TailConfig{Path: filepath.Join(t.TempDir(), "ipamd.log")}, withoutFSNotify(), withPollTrigger(tick))
	if err != nil {
		t.Fatal(err)
	}
	stop := startRun(t, tl, func([]byte) {})
	tick <- time.Time{} // Run is in its loop
	if err := tl.Run(context.Background(), func([]byte) {}); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
	}
	stop()
}

// startRun runs tl in a goroutine and returns a function that cancels it, waits for Run
// to return and checks it returned nil. It is also registered as cleanup.
func startRun(t *testing.T, tl *Tailer, handle func([]byte)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx, handle) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v, want nil after cancel", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitLimit bounds each wait of a tailer following a local file.
const waitLimit = 20 * time.Second

// childEnv carries the file path to the unprivileged child of TestTailUnreadableFileForReal.
const childEnv = "IPAMWATCH_TAIL_UNREADABLE_PATH"

// runAsNobody reruns the test binary as UID/GID 65534 to check a root-owned 0600 file, the
// way a non-root ipamwatch meets aws-node's logs.
func runAsNobody(t *testing.T, dir, path string) {
	t.Helper()
	// The child must reach the file and run a copy of this binary.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "logparse.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestTailUnreadableChild$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("cannot start a child as an unprivileged user here: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestTailUnreadableChild") {
		t.Fatalf("unprivileged child failed (%v):\n%s", err, out)
	}
}

// TestTailUnreadableChild is the unprivileged half of TestTailUnreadableFileForReal.
func TestTailUnreadableChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper run by TestTailUnreadableFileForReal")
	}
	checkPermissionDenied(t, path)
}
