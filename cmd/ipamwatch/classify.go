package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ipamwatch/ipamwatch/logparse"
)

const classifyUsage = `usage: ipamwatch classify [--all] [--format text|json] [--summary] [--max-line-bytes N] [FILE...]

Classifies VPC CNI log lines (ipamd.log, plugin.log, aws-node output, pasted kubelet
events) by failure class. FILEs may be plain or gzip (lumberjack backups); no FILE or "-"
reads stdin. Each file is its own stream for follow-up lines.

  text  one line per classified log line, then a summary per class (count, first, last seen)
  json  one object per classified line: file, line, class, level, time, code, eni, subnet,
        message (with --all: one per input line, class "none" included)

flags:
`

// classifyOptions are the validated flags of one classify run.
type classifyOptions struct {
	all          bool
	json         bool
	summaryOnly  bool
	maxLineBytes int
	files        []string
}

func parseClassifyFlags(args []string, errOut io.Writer) (classifyOptions, error) {
	var o classifyOptions
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		_, _ = fmt.Fprint(errOut, classifyUsage) // best effort, like flag's own usage output
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.all, "all", false, "emit every input line, class none included")
	format := fs.String("format", "text", "output format: text or json")
	fs.BoolVar(&o.summaryOnly, "summary", false, "print only the per-class summary (text)")
	fs.IntVar(&o.maxLineBytes, "max-line-bytes", 1<<20, "longest line classified; longer lines are counted and skipped")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch *format {
	case "text":
	case "json":
		o.json = true
	default:
		return o, fmt.Errorf("--format must be text or json, not %q", *format)
	}
	if o.summaryOnly && o.json {
		return o, errors.New("--summary prints the text summary; it cannot be combined with --format json")
	}
	if o.summaryOnly && o.all {
		return o, errors.New("--summary and --all contradict each other")
	}
	if o.maxLineBytes < 64 {
		return o, fmt.Errorf("--max-line-bytes must be at least 64, got %d", o.maxLineBytes)
	}
	o.files = fs.Args()
	if len(o.files) == 0 {
		o.files = []string{"-"}
	}
	return o, nil
}

// complain writes one error line to stderr; there is nowhere left to report a failure to.
func complain(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, "ipamwatch classify: "+format+"\n", args...)
}

// classStat is the summary of one class over the run.
type classStat struct {
	count       uint64
	first, last time.Time
}

// classifyRun holds the state of one classify invocation.
type classifyRun struct {
	opts classifyOptions
	out  *bufio.Writer
	errW io.Writer

	stats     [logparse.NumClasses]classStat
	lines     uint64
	bytes     uint64
	tooLong   uint64
	malformed uint64
	buf       []byte // output line buffer, reused

	progress     bool
	lastProgress time.Time
}

func cmdClassify(ctx context.Context, args []string, s streams) int {
	opts, err := parseClassifyFlags(args, s.err)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		complain(s.err, "%v", err)
		return 2
	}
	r := &classifyRun{opts: opts, out: bufio.NewWriterSize(s.out, 64<<10), errW: s.err, progress: isTerminal(s.err)}
	failed := false
	for _, name := range opts.files {
		if err := r.file(ctx, name, s.in); err != nil {
			failed = true
			complain(s.err, "%v", err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	if r.progress {
		_, _ = fmt.Fprint(s.err, "\r\033[K") // progress is cosmetic
	}
	if !opts.json {
		r.summary()
	}
	if err := r.out.Flush(); err != nil {
		complain(s.err, "writing output: %v", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// file classifies one input: a path, or "-" for stdin. Gzip is detected by its magic bytes.
func (r *classifyRun) file(ctx context.Context, name string, stdin io.Reader) error {
	var src io.Reader
	display := name
	if name == "-" {
		if stdin == nil {
			return errors.New("no standard input")
		}
		src, display = stdin, "-"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	br := bufio.NewReaderSize(src, 256<<10)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: opening gzip: %w", display, err)
		}
		defer func() { _ = zr.Close() }() // read-only: a gzip checksum error surfaces from Read
		br = bufio.NewReaderSize(zr, 256<<10)
	}
	return r.stream(ctx, display, br)
}

// stream classifies every line of br (logparse.ReadLines: no per-line allocation; lines over
// --max-line-bytes are counted and skipped).
func (r *classifyRun) stream(ctx context.Context, name string, br *bufio.Reader) error {
	cl := logparse.NewClassifier()
	st, err := logparse.ReadLines(br, r.opts.maxLineBytes, func(n uint64, line []byte) error {
		r.line(cl, name, n, line)
		if n&4095 == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.showProgress()
		}
		return nil
	})
	r.lines += st.Lines
	r.bytes += st.Bytes
	r.tooLong += st.TooLong
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (r *classifyRun) line(cl *logparse.Classifier, name string, n uint64, line []byte) {
	ev := cl.Classify(line)
	if ev.Malformed {
		r.malformed++
	}
	if ev.Class != logparse.None {
		st := &r.stats[ev.Class]
		st.count++
		if !ev.Time.IsZero() {
			if st.first.IsZero() || ev.Time.Before(st.first) {
				st.first = ev.Time
			}
			if ev.Time.After(st.last) {
				st.last = ev.Time
			}
		}
	}
	if r.opts.summaryOnly || (ev.Class == logparse.None && !r.opts.all) {
		return
	}
	if r.opts.json {
		r.buf = appendEventJSON(r.buf[:0], name, n, &ev)
	} else {
		r.buf = appendEventText(r.buf[:0], name, n, &ev)
	}
	_, _ = r.out.Write(r.buf) // bufio.Writer keeps the first error; Flush reports it
}

func (r *classifyRun) showProgress() {
	if !r.progress {
		return
	}
	now := time.Now()
	if now.Sub(r.lastProgress) < time.Second {
		return
	}
	r.lastProgress = now
	_, _ = fmt.Fprintf(r.errW, "\r\033[Kclassify: %d lines, %.1f MiB", r.lines, float64(r.bytes)/(1<<20))
}

// summary prints the per-class table. Write errors stick in the bufio.Writer and are
// reported by the final Flush.
func (r *classifyRun) summary() {
	w := r.out
	if !r.opts.summaryOnly {
		_, _ = fmt.Fprintln(w)
	}
	_, _ = fmt.Fprintf(w, "%-18s %10s  %-24s  %s\n", "CLASS", "COUNT", "FIRST SEEN", "LAST SEEN")
	var classified uint64
	for _, c := range logparse.Classes() {
		st := r.stats[c]
		classified += st.count
		if st.count == 0 {
			continue
		}
		_, _ = fmt.Fprintf(w, "%-18s %10d  %-24s  %s\n", c, st.count, fmtTime(st.first), fmtTime(st.last))
	}
	if classified == 0 {
		_, _ = fmt.Fprintln(w, "(no failure lines)")
	}
	_, _ = fmt.Fprintf(w, "lines: %d read, %d classified, %d malformed JSON, %d too long (skipped)\n",
		r.lines, classified, r.malformed, r.tooLong)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// appendEventText renders one classified line for people:
// FILE:LINE  TIME  CLASS  LEVEL  [code=..] [eni=..] [subnet=..]  MESSAGE
func appendEventText(b []byte, name string, n uint64, ev *logparse.Event) []byte {
	b = append(b, name...)
	b = append(b, ':')
	b = strconv.AppendUint(b, n, 10)
	b = append(b, "  "...)
	b = append(b, fmtTime(ev.Time)...)
	b = append(b, "  "...)
	b = append(b, ev.Class.String()...)
	b = append(b, ' ')
	b = append(b, ev.Level.String()...)
	if ev.Code != "" {
		b = append(b, " code="...)
		b = append(b, ev.Code...)
	}
	if ev.ENI != "" {
		b = append(b, " eni="...)
		b = append(b, ev.ENI...)
	}
	if ev.Subnet != "" {
		b = append(b, " subnet="...)
		b = append(b, ev.Subnet...)
	}
	if ev.Malformed {
		b = append(b, " malformed"...)
	}
	b = append(b, "  "...)
	msg := ev.Message
	const maxMsg = 400
	cut := len(msg) > maxMsg
	if cut {
		msg = msg[:maxMsg]
	}
	// One output line per input line: control characters are shown escaped.
	for len(msg) > 0 {
		r, size := utf8.DecodeRune(msg)
		switch {
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError && size == 1:
			b = append(b, '?')
		default:
			b = append(b, msg[:size]...)
		}
		msg = msg[size:]
	}
	if cut {
		b = append(b, "..."...)
	}
	return append(b, '\n')
}

// appendEventJSON renders one event as a JSON object on one line.
func appendEventJSON(b []byte, name string, n uint64, ev *logparse.Event) []byte {
	b = append(b, `{"file":`...)
	b = appendJSONString(b, []byte(name))
	b = append(b, `,"line":`...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `,"class":"`...)
	b = append(b, ev.Class.String()...)
	b = append(b, `","level":"`...)
	b = append(b, ev.Level.String()...)
	b = append(b, `","time":`...)
	if ev.Time.IsZero() {
		b = append(b, `""`...)
	} else {
		b = append(b, '"')
		b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"code":"`...)
	b = append(b, ev.Code...)
	b = append(b, `","eni":"`...)
	b = append(b, ev.ENI...)
	b = append(b, `","subnet":"`...)
	b = append(b, ev.Subnet...)
	b = append(b, `","malformed":`...)
	b = strconv.AppendBool(b, ev.Malformed)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, ev.Message)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		c := s[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[:size]...)
		}
		s = s[size:]
	}
	return append(b, '"')
}

// isTerminal reports whether w is a character device other than /dev/null (a terminal),
// so progress output never lands in a pipe, a file or the null device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}
