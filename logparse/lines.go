package logparse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// LineStats counts what ReadLines read.
type LineStats struct {
	Lines   uint64 // lines read, too-long ones included
	Bytes   uint64
	TooLong uint64 // lines longer than the limit, counted and skipped
}

// ReadLines reads r line by line without a per-line allocation and calls fn with each line's
// 1-based number and its bytes, the line ending (\n, \r\n) removed. The slice is only valid
// during the call. A line longer than maxLine bytes is counted in TooLong and skipped (fn is
// not called; line numbers stay true). A final line without a newline is delivered. fn may
// stop the read by returning an error, which ReadLines returns. One-shot readers (the CLI,
// the bundle reader, the agent's one-pass mode) share it; the tailer has its own, because it
// must hold a partial last line until the writer finishes it. A JSON record that a paste
// split across lines (a terminal's hard wrap, pretty-printing) reaches fn once, joined, with
// the number of its first line (see recordJoiner); LineStats counts the physical lines.
func ReadLines(r io.Reader, maxLine int, fn func(n uint64, line []byte) error) (LineStats, error) {
	var st LineStats
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	joiner := newRecordJoiner(fn)
	fn = joiner.add
	br := bufio.NewReaderSize(r, 64<<10)
	var long []byte
	skipping := false
	for {
		chunk, err := br.ReadSlice('\n')
		st.Bytes += uint64(len(chunk))
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than the buffer: assemble it up to the limit, else skip the rest.
			if !skipping {
				if len(long)+len(chunk) > maxLine {
					skipping, long = true, long[:0]
				} else {
					long = append(long, chunk...)
				}
			}
			continue
		}
		if len(chunk) > 0 || len(long) > 0 || skipping {
			st.Lines++
			line := chunk
			if len(long) > 0 {
				long = append(long, chunk...)
				line = long
			}
			line = trimLineEnd(line)
			if skipping || len(line) > maxLine {
				st.TooLong++
			} else if ferr := fn(st.Lines, line); ferr != nil {
				return st, ferr
			}
			long, skipping = long[:0], false
		}
		if errors.Is(err, io.EOF) {
			return st, joiner.flush()
		}
		if err != nil {
			return st, fmt.Errorf("reading line %d: %w", st.Lines+1, err)
		}
	}
}

func trimLineEnd(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
