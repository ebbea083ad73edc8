package logparse

// Splitting bytes into lines, shared by the tailer (which hands over whatever each read of a
// growing file returned) and ReadLines (one pass over a reader). Following a file through
// rotation is the tailer's business, in tail.go.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
)

// lineSplitter cuts bytes that arrive in chunks of any size into lines: the bytes before each
// '\n'. A line that lies inside one chunk is returned as a slice of it, without a copy; only
// a line whose newline has not arrived yet is kept, and of it at most max bytes: a longer
// line is cut at max, the rest of it dropped, and reported as cut. The zero value is not
// usable: set max (at least 1).
type lineSplitter struct {
	max     int
	pending []byte // the start of a line whose newline has not arrived yet
	cut     bool   // the pending line was cut at max: drop the rest of it
	skip    bool   // drop everything up to and including the next newline
}

// lines yields each line that data completes (joined with what earlier calls kept), with
// whether it was cut at max, and keeps the bytes of a line not completed yet for the next
// call. A line is only valid until the next one is yielded.
func (s *lineSplitter) lines(data []byte) iter.Seq2[[]byte, bool] {
	return func(yield func([]byte, bool) bool) {
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				s.hold(data)
				return
			}
			line, cut := data[:i], false
			data = data[i+1:]
			switch {
			case s.skip:
				s.skip = false
				continue
			case s.partial():
				s.hold(line)
				line, cut = s.pending, s.cut
				s.pending, s.cut = s.pending[:0], false
			case len(line) > s.max:
				line, cut = line[:s.max], true
			}
			if !yield(line, cut) {
				return
			}
		}
	}
}

// last returns the line left without a newline when the bytes end for good (the file was
// rotated away, the reader is exhausted), and forgets it.
func (s *lineSplitter) last() (line []byte, cut bool, ok bool) {
	line, cut, ok = s.pending, s.cut, !s.skip && s.partial()
	s.reset()
	return line, cut, ok
}

// reset forgets a partial line, for instance because the rest of it was truncated away.
func (s *lineSplitter) reset() {
	s.pending, s.cut, s.skip = s.pending[:0], false, false
}

// partial reports whether the splitter holds the start of a line.
func (s *lineSplitter) partial() bool { return len(s.pending) > 0 || s.cut }

// skipToNewline drops the bytes up to the next newline: reading started inside a line.
func (s *lineSplitter) skipToNewline() { s.skip = true }

// hold appends to the pending line, cutting it at max.
func (s *lineSplitter) hold(data []byte) {
	if s.skip || s.cut {
		return
	}
	if room := s.max - len(s.pending); len(data) > room {
		data = data[:room]
		s.cut = true
	}
	s.pending = append(s.pending, data...)
}

// LineStats counts what ReadLines read.
type LineStats struct {
	Lines   uint64 // lines read, too-long ones included
	Bytes   uint64
	TooLong uint64 // lines longer than the limit, counted and skipped
}

// ReadLines reads r line by line without a per-line allocation and calls fn with each line's
// 1-based number and its bytes, the line ending (\n, \r\n) removed. The slice is only valid
// during the call. A line longer than maxLine bytes is counted in TooLong and skipped (fn is
// not called; line numbers stay true). A final line without a newline is delivered: the
// reader has ended, so the line is complete. fn may stop the read by returning an error,
// which ReadLines returns. One-shot readers of whole files (the CLI, the bundle reader) use
// it; it splits lines with the tailer's splitter. A JSON record that a paste split across
// lines (a terminal's hard wrap, pretty-printing) reaches fn once, joined, with the number of
// its first line (see recordJoiner); LineStats counts the physical lines.
func ReadLines(r io.Reader, maxLine int, fn func(n uint64, line []byte) error) (LineStats, error) {
	joiner := newRecordJoiner(fn)
	st, err := readPhysicalLines(r, maxLine, joiner.add)
	if err == nil {
		err = joiner.flush()
	}
	return st, err
}

// readPhysicalLines is ReadLines without the record joiner: every physical line as it came.
func readPhysicalLines(r io.Reader, maxLine int, fn func(n uint64, line []byte) error) (LineStats, error) {
	var st LineStats
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	// One byte beyond the limit is kept, so that a line of maxLine bytes that ends in \r\n is
	// not taken for a long one.
	split := lineSplitter{max: maxLine + 1}
	deliver := func(line []byte, cut bool) error {
		st.Lines++
		line = trimCR(line)
		if cut || len(line) > maxLine {
			st.TooLong++
			return nil
		}
		return fn(st.Lines, line)
	}
	buf := make([]byte, readChunk)
	for {
		n, err := r.Read(buf)
		st.Bytes += uint64(n)
		for line, cut := range split.lines(buf[:n]) {
			if ferr := deliver(line, cut); ferr != nil {
				return st, ferr
			}
		}
		if errors.Is(err, io.EOF) {
			if line, cut, ok := split.last(); ok {
				if err := deliver(line, cut); err != nil {
					return st, err
				}
			}
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("reading line %d: %w", st.Lines+1, err)
		}
	}
}

// trimCR removes the \r of a \r\n line ending (the \n is already gone).
func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
