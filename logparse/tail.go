package logparse

// The tailer follows one log file by name the way ipamd's logs are rotated in practice:
// lumberjack renames ipamd.log aside and creates a new one (later gzipping the backup),
// logrotate may copy and truncate in place, and people delete and recreate files. Design
// notes and the evidence for writing our own follower instead of using hpcloud/tail or
// nxadm/tail are in docs/design-tailer.md.
//
// This file decides when to look at the file, what happened to it since the last look and
// where to read from; lines.go cuts what was read into lines.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// DefaultPollInterval is how often the tailer looks at the file when no change event
	// arrived. It bounds the detection delay when fsnotify is unavailable or misses events.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultMaxLineBytes is the longest line handed to the handler; the rest is dropped.
	DefaultMaxLineBytes = 64 << 10

	// readChunk is the size of one read from the file.
	readChunk = 64 << 10
	// markLen is how many bytes just before the read offset are remembered to notice a
	// file that was truncated and rewritten past the offset between two looks.
	markLen = 64
	// eventCoalesce is the shortest time between two looks triggered by change events: an
	// isolated write is read at once, a busy log costs at most 1/eventCoalesce looks a
	// second instead of one per write (measured in docs/design-tailer.md).
	eventCoalesce = 100 * time.Millisecond
	// vanishGrace is how long the name may stay missing, while the file it named is still
	// open, before the file counts as unreadable. lumberjack renames and then creates, so a
	// look can fall between the two; a name still missing seconds later was deleted, or its
	// directory removed.
	vanishGrace = 5 * time.Second
)

var (
	// ErrAlreadyRunning is returned by Run and ReadOnce while the Tailer is running.
	ErrAlreadyRunning = errors.New("tailer is already running")
	// ErrStopped is returned by Run and ReadOnce once the Tailer has run: it does not
	// resume where it stopped, so make a new one.
	ErrStopped = errors.New("tailer has already run")
)

// TailConfig configures a Tailer.
type TailConfig struct {
	// Path of the file to follow by name.
	Path string
	// Backfill starts this many bytes before the end of the file as it is when Run starts.
	// 0 starts at the end. Reading starts after the next newline, so no partial line is
	// delivered.
	Backfill int64
	// FromStart reads the whole existing file (tests, one-shot use). It overrides Backfill.
	FromStart bool
	// PollInterval is the fallback polling interval (default DefaultPollInterval).
	PollInterval time.Duration
	// MaxLineBytes truncates longer lines to this length and counts them in
	// TailStats.LongLines (default DefaultMaxLineBytes).
	MaxLineBytes int
	// Logger receives state changes (file missing, unreadable, rotated). Nil discards.
	Logger *slog.Logger
}

// TailStats is a snapshot of what a Tailer has done.
type TailStats struct {
	Lines       uint64 // lines handed to the handler
	Bytes       uint64 // bytes read from the file(s)
	Rotations   uint64 // switches to a new file behind the name (rename, delete and recreate)
	Truncations uint64 // times the file was truncated in place (copytruncate) and reread from 0
	LongLines   uint64 // lines longer than MaxLineBytes, delivered truncated
	// Readable is true while the file at Path is open and being read. It turns false when
	// the file cannot be opened or read, and when its name has been gone for a few seconds
	// (deleted, or its directory removed), even though the file it named is still read in
	// case a writer appends to it. After ReadOnce it tells whether that read succeeded.
	Readable bool
	// Err says why the file is not being followed (missing, permission denied, ...); empty
	// when Readable.
	Err string
	// LastRead is when data was last read from the file.
	LastRead time.Time
}

// TailOption changes how a Tailer meets the world: its clock, and in this package's tests
// its file system and wake-ups.
type TailOption func(*tailEnv)

// tailEnv is everything a Tailer observes besides the file's bytes. Time is read from now
// only; the waits (the poll ticker, the merging of events) are timers.
type tailEnv struct {
	now      func() time.Time
	stat     func(string) (os.FileInfo, error)
	open     func(string) (*os.File, error)
	fsnotify bool             // watch the directory; false polls only
	tick     <-chan time.Time // poll trigger; nil uses a ticker of PollInterval
}

// WithClock makes the Tailer read the time from now (Stats.LastRead, the spacing of
// event-driven looks, how long a vanished name is tolerated) instead of time.Now.
func WithClock(now func() time.Time) TailOption {
	return func(e *tailEnv) {
		if now != nil {
			e.now = now
		}
	}
}

// withPollTrigger makes Run look after each value received from tick instead of every
// PollInterval, so tests decide when a look happens.
func withPollTrigger(tick <-chan time.Time) TailOption {
	return func(e *tailEnv) { e.tick = tick }
}

// withoutFSNotify makes Run poll only, as it does when inotify is unavailable.
func withoutFSNotify() TailOption {
	return func(e *tailEnv) { e.fsnotify = false }
}

// withFileSystem replaces how the path is examined and opened (tests inject errors).
func withFileSystem(stat func(string) (os.FileInfo, error), open func(string) (*os.File, error)) TailOption {
	return func(e *tailEnv) { e.stat, e.open = stat, open }
}

// Phases of a Tailer's life.
const (
	phaseIdle int32 = iota
	phaseRunning
	phaseDone
)

// Tailer follows one log file through rotations and hands complete lines to a handler.
// Create it with NewTailer; use it once, with Run or ReadOnce.
type Tailer struct {
	cfg   TailConfig
	env   tailEnv
	log   *slog.Logger
	name  string // cfg.Path made absolute, compared with fsnotify event names
	phase atomic.Int32

	// Follow state, owned by the goroutine inside Run or ReadOnce (or a test calling step).
	started   bool
	initial   os.FileInfo // the file at Path when following began; its size is the start point
	unknown   bool        // the first look could not tell whether a file existed: start at the end of the first one opened
	f         *os.File
	id        os.FileInfo
	off       int64
	mark      []byte    // up to markLen bytes just before off, as read
	goneSince time.Time // when a look first found the name missing while f was open
	lastLook  time.Time // when the last look ended, to space event-triggered looks
	buf       []byte
	split     lineSplitter
	err       error  // why the file is not followed; nil while it is
	state     string // the last published Err, to log once per change
	stateSet  bool   // state (and Stats.Readable) has been published at least once

	tally tally // counted without a lock, published once per read chunk

	mu    sync.Mutex
	stats TailStats
}

// tally counts what the follow goroutine did since the last publish, so the hot path takes
// no lock per line.
type tally struct {
	lines, bytes, long, rotations, truncations uint64
}

// NewTailer validates cfg and returns a Tailer that has not started yet.
func NewTailer(cfg TailConfig, opts ...TailOption) (*Tailer, error) {
	if cfg.Path == "" {
		return nil, errors.New("tailer: empty path")
	}
	if cfg.Backfill < 0 {
		return nil, fmt.Errorf("tailer: negative backfill %d", cfg.Backfill)
	}
	if cfg.PollInterval < 0 {
		return nil, fmt.Errorf("tailer: negative poll interval %s", cfg.PollInterval)
	}
	if cfg.MaxLineBytes < 0 {
		return nil, fmt.Errorf("tailer: negative max line length %d", cfg.MaxLineBytes)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxLineBytes == 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("tailer: resolving %s: %w", cfg.Path, err)
	}
	env := tailEnv{now: time.Now, stat: os.Stat, open: os.Open, fsnotify: true}
	for _, o := range opts {
		o(&env)
	}
	return &Tailer{
		cfg:   cfg,
		env:   env,
		log:   log.With("path", cfg.Path),
		name:  abs,
		buf:   make([]byte, readChunk),
		split: lineSplitter{max: cfg.MaxLineBytes},
	}, nil
}

// Stats returns a snapshot of the counters and the follow state. It is safe for
// concurrent use with Run.
func (t *Tailer) Stats() TailStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// Run follows the file until ctx is done, calling handle for each complete line (without
// the newline; the slice is only valid during the call). It returns nil on ctx
// cancellation. A missing or unreadable file does not end Run: the error is recorded in
// Stats, logged once per change, and retried every poll interval.
func (t *Tailer) Run(ctx context.Context, handle func(line []byte)) error {
	if err := t.begin(); err != nil {
		return err
	}
	defer t.end()

	var w *watch
	if t.env.fsnotify {
		w = newWatch(filepath.Dir(t.name), t.log, t.cfg.PollInterval)
		defer w.close()
	}
	tick := t.env.tick
	if tick == nil {
		ticker := time.NewTicker(t.cfg.PollInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		t.step(ctx, handle)
		if !t.wait(ctx, w, tick) {
			return nil
		}
	}
}

// ReadOnce does what Run does at its first look, and stops: it hands out the complete lines
// from the start point (Backfill before the end, or FromStart) to the end of the file as it
// is now. A last line without its newline is not handed out, as Run would not hand it out
// yet: the writer may still be writing it. It returns why the file could not be read, or
// ctx's error when ctx ended the read early.
func (t *Tailer) ReadOnce(ctx context.Context, handle func(line []byte)) error {
	if err := t.begin(); err != nil {
		return err
	}
	defer t.end()
	t.step(ctx, handle)
	if t.err != nil {
		return t.err
	}
	return ctx.Err()
}

func (t *Tailer) begin() error {
	if t.phase.CompareAndSwap(phaseIdle, phaseRunning) {
		return nil
	}
	if t.phase.Load() == phaseRunning {
		return ErrAlreadyRunning
	}
	return ErrStopped
}

func (t *Tailer) end() {
	t.closeFile()
	t.phase.Store(phaseDone)
}

// wait blocks until the file should be looked at again: a poll tick, or a burst of
// fsnotify events about the file. It returns false when ctx is done.
func (t *Tailer) wait(ctx context.Context, w *watch, tick <-chan time.Time) bool {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.events(), w.errors()
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			if w != nil {
				w.add() // the directory may exist (again) by now
			}
			return true
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Clean(ev.Name) != t.name {
				continue
			}
			return coalesce(ctx, t.mergeWindow(), events, errs)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An overflow means events were dropped: look now rather than wait for the tick.
			t.log.Debug("fsnotify error", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				return true
			}
		}
	}
}

// mergeWindow is how long to merge further events before the next look: what is left of
// eventCoalesce since the last look (never more, should the clock step back).
func (t *Tailer) mergeWindow() time.Duration {
	return min(max(eventCoalesce-t.env.now().Sub(t.lastLook), 0), eventCoalesce)
}

// coalesce waits d while discarding further events, then reports true; it returns at once
// when d is not positive.
func coalesce(ctx context.Context, d time.Duration, events <-chan fsnotify.Event, errs <-chan error) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case _, ok := <-events:
			if !ok {
				events = nil
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
			}
		}
	}
}

// step looks at the path once: notices truncation, rotation, a new or vanished file, and
// reads whatever is new. It never blocks on anything but file I/O.
func (t *Tailer) step(ctx context.Context, handle func([]byte)) {
	defer func() {
		t.publish()
		t.lastLook = t.env.now()
	}()
	pathInfo, statErr := t.env.stat(t.cfg.Path)
	t.firstLook(pathInfo, statErr)
	if t.f != nil {
		// Whatever the name now points to, the open file may have been truncated in place
		// and may have grown since the last look.
		t.checkTruncated()
		readErr := t.readAll(ctx, handle)
		switch {
		case statErr == nil && os.SameFile(pathInfo, t.id):
			t.goneSince = time.Time{}
			t.setState(readErr)
			return
		case statErr != nil:
			// The name is gone (deleted, or renamed with the new file not yet created). A
			// writer may still append to the file we hold: keep reading it until a new file
			// appears behind the name.
			if readErr == nil {
				readErr = t.nameGone(statErr)
			}
			t.setState(readErr)
			return
		}
		// A different file now has the name. The writer has moved on (lumberjack closes the
		// old file before renaming it), and the old file is drained: switch.
		if ctx.Err() != nil {
			return
		}
		t.rotate(handle)
	}
	if statErr != nil {
		t.setState(statErr)
		return
	}
	if !pathInfo.Mode().IsRegular() {
		t.setState(fmt.Errorf("%s is not a regular file (mode %s)", t.cfg.Path, pathInfo.Mode()))
		return
	}
	f, err := t.env.open(t.cfg.Path)
	if err != nil {
		t.setState(err)
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		t.setState(fmt.Errorf("stat %s: %w", t.cfg.Path, err))
		return
	}
	t.f, t.id, t.off, t.mark = f, fi, 0, t.mark[:0]
	t.split.reset()
	switch {
	case t.cfg.FromStart:
	case t.initial != nil && os.SameFile(fi, t.initial) && fi.Size() < t.initial.Size():
		// Truncated in place since the first look: all of it is new.
		t.tally.truncations++
	case t.initial != nil && os.SameFile(fi, t.initial):
		// The file that was there when following began: start at its end as it was then
		// (or Backfill before it), not at what it has grown to since.
		t.seekStart(t.initial.Size())
	case t.unknown:
		t.seekStart(fi.Size())
	}
	// Every later file is new: read it from its first byte.
	t.initial, t.unknown = nil, false
	t.setState(t.readAll(ctx, handle))
}

// firstLook records, at the first look only, what was at the path when following began.
func (t *Tailer) firstLook(pathInfo os.FileInfo, statErr error) {
	if t.started {
		return
	}
	t.started = true
	switch {
	case statErr == nil:
		t.initial = pathInfo
	case !errors.Is(statErr, fs.ErrNotExist):
		// Maybe the directory is not searchable yet: the file may well exist, and reading
		// all of it later would replay old history as new.
		t.unknown = true
	}
}

// nameGone notes a look that found no file behind the name while the file it named is
// still open, and returns an error once that has lasted vanishGrace.
func (t *Tailer) nameGone(statErr error) error {
	now := t.env.now()
	if t.goneSince.IsZero() {
		t.goneSince = now
		t.log.Info("log file name vanished; following the previous file until a new one appears", "err", statErr)
	}
	if now.Sub(t.goneSince) < vanishGrace {
		return nil
	}
	return statErr
}

// rotate finishes the old file, whose last line is delivered even without a newline
// (nothing more will be appended to it), and closes it.
func (t *Tailer) rotate(handle func([]byte)) {
	if line, cut, ok := t.split.last(); ok {
		t.emit(line, cut, handle)
	}
	t.closeFile()
	t.tally.rotations++
	t.log.Debug("file rotated; switching to the new file")
}

// seekStart positions the reader Backfill bytes before end, at a line start.
func (t *Tailer) seekStart(end int64) {
	start := max(end-t.cfg.Backfill, 0)
	if start == 0 {
		return
	}
	t.off = start
	n := min(start, markLen)
	mark := make([]byte, n)
	if _, err := t.f.ReadAt(mark, start-n); err != nil {
		// Unreadable prefix: no truncation mark, and no way to tell whether start is a line
		// start; assume it is not.
		t.split.skipToNewline()
		return
	}
	t.mark = append(t.mark[:0], mark...)
	if mark[n-1] != '\n' {
		t.split.skipToNewline()
	}
}

// checkTruncated notices a file truncated in place (copytruncate): it is shorter than our
// offset, or the bytes just before the offset changed because it was truncated and
// rewritten past it between two looks. Either way, start again at 0.
func (t *Tailer) checkTruncated() {
	fi, err := t.f.Stat()
	if err != nil {
		return
	}
	truncated := fi.Size() < t.off
	if !truncated && len(t.mark) > 0 {
		var b [markLen]byte
		got := b[:len(t.mark)]
		n, err := t.f.ReadAt(got, t.off-int64(len(t.mark)))
		truncated = (err == nil || errors.Is(err, io.EOF)) && !bytes.Equal(got[:n], t.mark)
	}
	if !truncated {
		return
	}
	if t.split.partial() {
		// The rest of this line went with the truncated content; a fragment is not a line.
		t.log.Debug("dropping partial line cut by truncation")
	}
	t.off, t.mark = 0, t.mark[:0]
	t.split.reset()
	t.tally.truncations++
	t.log.Debug("file truncated in place; reading again from the start")
}

// readAll reads from off to the end of the current file, handing out complete lines.
func (t *Tailer) readAll(ctx context.Context, handle func([]byte)) error {
	for ctx.Err() == nil {
		n, err := t.f.ReadAt(t.buf, t.off)
		if n > 0 {
			chunk := t.buf[:n]
			t.off += int64(n)
			t.tally.bytes += uint64(n)
			t.remember(chunk)
			for line, cut := range t.split.lines(chunk) {
				t.emit(line, cut, handle)
			}
			t.publish()
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("reading %s: %w", t.cfg.Path, err)
		}
	}
	return nil
}

// remember keeps the last markLen bytes read.
func (t *Tailer) remember(chunk []byte) {
	if len(chunk) >= markLen {
		t.mark = append(t.mark[:0], chunk[len(chunk)-markLen:]...)
		return
	}
	t.mark = append(t.mark, chunk...)
	if over := len(t.mark) - markLen; over > 0 {
		t.mark = append(t.mark[:0], t.mark[over:]...)
	}
}

func (t *Tailer) emit(line []byte, cut bool, handle func([]byte)) {
	if cut {
		t.tally.long++
	}
	t.tally.lines++
	handle(line)
}

func (t *Tailer) closeFile() {
	if t.f != nil {
		t.f.Close()
		t.f, t.id = nil, nil
	}
	t.goneSince = time.Time{}
}

// publish moves the tally into the shared stats.
func (t *Tailer) publish() {
	if t.tally == (tally{}) {
		return
	}
	now := t.env.now()
	t.mu.Lock()
	t.stats.Lines += t.tally.lines
	t.stats.LongLines += t.tally.long
	t.stats.Rotations += t.tally.rotations
	t.stats.Truncations += t.tally.truncations
	if t.tally.bytes > 0 {
		t.stats.Bytes += t.tally.bytes
		t.stats.LastRead = now
	}
	t.mu.Unlock()
	t.tally = tally{}
}

// setState records whether the file is followed (err nil) and why not, logging once per
// change.
func (t *Tailer) setState(err error) {
	t.err = err
	msg := ""
	if err != nil {
		msg = describe(err)
	}
	if t.stateSet && msg == t.state {
		return
	}
	t.mu.Lock()
	t.stats.Readable = err == nil
	t.stats.Err = msg
	t.mu.Unlock()
	prev := t.state
	t.state, t.stateSet = msg, true
	switch {
	case msg != "":
		t.log.Warn("cannot follow log file", "err", msg)
	case prev != "":
		t.log.Info("following log file again")
	}
}

// describe turns an open or stat error into a message a person can act on.
func describe(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%v (waiting for it to be created)", err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("%v (aws-node creates its logs mode 0600 owned by root since CNI v1.16: run as UID 0 or grant CAP_DAC_READ_SEARCH)", err)
	default:
		return err.Error()
	}
}

// watch is an fsnotify watch on the file's directory. Watching the directory rather than
// the file sees renames, deletions and the creation of a new file under the name.
type watch struct {
	w        *fsnotify.Watcher
	dir      string
	log      *slog.Logger
	watching bool
}

func newWatch(dir string, log *slog.Logger, poll time.Duration) *watch {
	w := &watch{dir: dir, log: log}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		log.Info("fsnotify unavailable; polling only", "err", err, "poll_interval", poll)
		return w
	}
	w.w = fw
	w.add()
	return w
}

// add starts watching the directory; it fails while the directory does not exist.
func (w *watch) add() {
	if w.w == nil {
		return
	}
	if w.watching && len(w.w.WatchList()) > 0 {
		return
	}
	// The directory was removed (the kernel dropped the watch) or never watched.
	w.watching = false
	if err := w.w.Add(w.dir); err != nil {
		w.log.Debug("cannot watch directory yet; polling", "dir", w.dir, "err", err)
		return
	}
	w.watching = true
}

func (w *watch) events() <-chan fsnotify.Event {
	if w.w == nil {
		return nil
	}
	return w.w.Events
}

func (w *watch) errors() <-chan error {
	if w.w == nil {
		return nil
	}
	return w.w.Errors
}

func (w *watch) close() {
	if w.w != nil {
		w.w.Close()
	}
}
