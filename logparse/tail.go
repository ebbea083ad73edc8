package logparse

// The tailer follows one log file by name the way ipamd's logs are rotated in practice:
// lumberjack renames ipamd.log aside and creates a new one (later gzipping the backup),
// logrotate may copy and truncate in place, and people delete and recreate files. Design
// notes and the evidence for writing our own follower instead of using hpcloud/tail or
// nxadm/tail are in docs/design-tailer.md.

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
)

// stateVanished is the logged state while the name is gone but the old file is still open.
const stateVanished = "vanished"

// ErrAlreadyRunning is returned by Run when the Tailer is already running.
var ErrAlreadyRunning = errors.New("tailer is already running")

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
	// Readable is true while the file at Path is open and being followed.
	Readable bool
	// Err says why the file is not being followed (missing, permission denied, ...); empty
	// when Readable.
	Err string
	// LastRead is when data was last read from the file.
	LastRead time.Time
}

// Tailer follows one log file through rotations and hands complete lines to a handler.
// Create it with NewTailer; Run it once.
type Tailer struct {
	cfg  TailConfig
	log  *slog.Logger
	name string // cfg.Path cleaned, compared with fsnotify event names

	// Injection points for tests: the clock, how files are opened, whether to use fsnotify,
	// and the poll trigger (a nil tick uses a ticker of cfg.PollInterval).
	now     func() time.Time
	stat    func(string) (os.FileInfo, error)
	open    func(string) (*os.File, error)
	noWatch bool
	tick    <-chan time.Time

	running  atomic.Bool
	lastStep time.Time // when Run last looked, to space event-triggered looks

	// Follow state, owned by the goroutine inside Run (or a test calling step).
	started  bool
	initial  os.FileInfo // the file at Path when following began; its size is the start point
	unknown  bool        // the first look could not tell whether a file existed: start at the end of the first one opened
	f        *os.File
	id       os.FileInfo
	off      int64
	mark     []byte // up to markLen bytes just before off, as read
	pending  []byte // a line whose newline has not arrived yet (at most MaxLineBytes)
	overlong bool   // pending was cut at MaxLineBytes; drop the rest of the line
	skip     bool   // started mid-line: drop bytes up to the next newline
	buf      []byte
	state    string // last logged state, to log once per change

	// Counters since the last publish, so the hot path takes no lock per line.
	nLines, nBytes, nLong uint64

	mu    sync.Mutex
	stats TailStats
}

// NewTailer validates cfg and returns a Tailer that has not started yet.
func NewTailer(cfg TailConfig) (*Tailer, error) {
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
	return &Tailer{
		cfg:  cfg,
		log:  log.With("path", cfg.Path),
		name: abs,
		now:  time.Now,
		stat: os.Stat,
		open: os.Open,
		buf:  make([]byte, readChunk),
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
	if !t.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer t.running.Store(false)
	defer t.closeFile()

	var w *watch
	if !t.noWatch {
		w = t.newWatch()
		defer w.close()
	}
	tick := t.tick
	if tick == nil {
		ticker := time.NewTicker(t.cfg.PollInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		t.step(ctx, handle)
		t.lastStep = time.Now()
		if !t.wait(ctx, w, tick) {
			return nil
		}
	}
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
			return t.coalesce(ctx, eventCoalesce-time.Since(t.lastStep), events, errs)
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

// coalesce waits d while discarding further events, then reports true; it returns at once
// when d is not positive.
func (t *Tailer) coalesce(ctx context.Context, d time.Duration, events <-chan fsnotify.Event, errs <-chan error) bool {
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
	defer t.publish()
	pathInfo, statErr := t.stat(t.cfg.Path)
	if !t.started {
		t.started = true
		switch {
		case statErr == nil:
			t.initial = pathInfo
		case !errors.Is(statErr, fs.ErrNotExist):
			// Maybe the directory is not searchable yet: the file may well exist, and
			// reading all of it later would replay old history as new.
			t.unknown = true
		}
	}
	if t.f != nil {
		switch {
		case statErr == nil && os.SameFile(pathInfo, t.id):
			t.checkTruncated()
			t.readAll(ctx, handle)
			return
		case statErr != nil:
			// The name is gone (deleted, or renamed with the new file not yet created). A
			// writer may still append to the file we hold: keep reading it until a new file
			// appears behind the name.
			t.checkTruncated()
			t.readAll(ctx, handle)
			if t.state != stateVanished {
				t.state = stateVanished
				t.log.Info("log file name vanished; following the previous file until a new one appears", "err", statErr)
			}
			return
		default:
			// A different file now has the name. The writer has moved on (lumberjack closes
			// the old file before renaming it), so drain the old one and switch. It may
			// have been truncated in place before it was rotated away.
			t.checkTruncated()
			t.readAll(ctx, handle)
			if ctx.Err() != nil {
				return
			}
			t.flushPending(handle)
			t.closeFile()
			t.mu.Lock()
			t.stats.Rotations++
			t.mu.Unlock()
			t.log.Debug("file rotated; switching to the new file")
		}
	}
	if statErr != nil {
		t.setState(statErr.Error(), describe(statErr), false)
		return
	}
	if !pathInfo.Mode().IsRegular() {
		msg := fmt.Sprintf("%s is not a regular file (mode %s)", t.cfg.Path, pathInfo.Mode())
		t.setState(msg, msg, false)
		return
	}
	f, err := t.open(t.cfg.Path)
	if err != nil {
		t.setState(err.Error(), describe(err), false)
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		t.setState(err.Error(), fmt.Sprintf("stat %s: %v", t.cfg.Path, err), false)
		return
	}
	t.f, t.id = f, fi
	t.off, t.skip, t.overlong = 0, false, false
	t.mark, t.pending = t.mark[:0], t.pending[:0]
	switch {
	case t.cfg.FromStart:
	case t.initial != nil && os.SameFile(fi, t.initial) && fi.Size() < t.initial.Size():
		// Truncated in place since the first look: all of it is new.
		t.mu.Lock()
		t.stats.Truncations++
		t.mu.Unlock()
	case t.initial != nil && os.SameFile(fi, t.initial):
		// The file that was there when following began: start at its end as it was then
		// (or Backfill before it), not at what it has grown to since.
		t.seekStart(t.initial.Size())
	case t.unknown:
		t.seekStart(fi.Size())
	}
	// Every later file is new: read it from its first byte.
	t.initial, t.unknown = nil, false
	t.setState("", "", true)
	t.readAll(ctx, handle)
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
		t.skip = true
		return
	}
	t.mark = append(t.mark[:0], mark...)
	t.skip = mark[n-1] != '\n'
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
	if len(t.pending) > 0 || t.overlong {
		// The rest of this line went with the truncated content; a fragment is not a line.
		t.log.Debug("dropping partial line cut by truncation", "bytes", len(t.pending))
	}
	t.off, t.skip, t.overlong = 0, false, false
	t.mark, t.pending = t.mark[:0], t.pending[:0]
	t.mu.Lock()
	t.stats.Truncations++
	t.mu.Unlock()
	t.log.Debug("file truncated in place; reading again from the start")
}

// readAll reads from off to the end of the current file, handing out complete lines.
func (t *Tailer) readAll(ctx context.Context, handle func([]byte)) {
	for ctx.Err() == nil {
		n, err := t.f.ReadAt(t.buf, t.off)
		if n > 0 {
			chunk := t.buf[:n]
			t.off += int64(n)
			t.nBytes += uint64(n)
			t.remember(chunk)
			t.consume(chunk, handle)
			t.publish()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.setState(err.Error(), fmt.Sprintf("reading %s: %v", t.cfg.Path, err), false)
			}
			return
		}
	}
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

// consume splits data into lines, joining it with the pending partial line.
func (t *Tailer) consume(data []byte, handle func([]byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			t.hold(data)
			return
		}
		line := data[:i]
		data = data[i+1:]
		switch {
		case t.skip:
			t.skip = false
		case len(t.pending) > 0 || t.overlong:
			t.hold(line)
			t.emit(t.pending, handle)
			t.pending = t.pending[:0]
		default:
			if len(line) > t.cfg.MaxLineBytes {
				line = line[:t.cfg.MaxLineBytes]
				t.overlong = true
			}
			t.emit(line, handle)
		}
	}
}

// hold appends to the pending partial line, cutting it at MaxLineBytes.
func (t *Tailer) hold(data []byte) {
	if t.skip || t.overlong {
		return
	}
	if room := t.cfg.MaxLineBytes - len(t.pending); len(data) > room {
		data = data[:room]
		t.overlong = true
	}
	t.pending = append(t.pending, data...)
}

func (t *Tailer) emit(line []byte, handle func([]byte)) {
	if t.overlong {
		t.nLong++
		t.overlong = false
	}
	t.nLines++
	handle(line)
}

// flushPending delivers a last line that has no newline when its file is rotated away:
// nothing more will be appended to it.
func (t *Tailer) flushPending(handle func([]byte)) {
	if !t.skip && (len(t.pending) > 0 || t.overlong) {
		t.emit(t.pending, handle)
	}
	t.pending, t.skip, t.overlong = t.pending[:0], false, false
}

func (t *Tailer) closeFile() {
	if t.f != nil {
		t.f.Close()
		t.f, t.id = nil, nil
	}
}

// publish moves the local counters into the shared stats.
func (t *Tailer) publish() {
	if t.nLines == 0 && t.nBytes == 0 && t.nLong == 0 {
		return
	}
	now := t.now()
	t.mu.Lock()
	t.stats.Lines += t.nLines
	t.stats.LongLines += t.nLong
	if t.nBytes > 0 {
		t.stats.Bytes += t.nBytes
		t.stats.LastRead = now
	}
	t.mu.Unlock()
	t.nLines, t.nBytes, t.nLong = 0, 0, 0
}

// setState records whether the file is followed and why not, logging once per change of
// key (the raw error text, "" when following normally).
func (t *Tailer) setState(key, msg string, readable bool) {
	t.mu.Lock()
	t.stats.Readable = readable
	t.stats.Err = msg
	t.mu.Unlock()
	if key == t.state {
		return
	}
	prev := t.state
	t.state = key
	switch {
	case key != "":
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

func (t *Tailer) newWatch() *watch {
	w := &watch{dir: filepath.Dir(t.name), log: t.log}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.log.Info("fsnotify unavailable; polling only", "err", err, "poll_interval", t.cfg.PollInterval)
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
