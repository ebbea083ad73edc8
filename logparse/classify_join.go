package logparse

import "bytes"

// Pastes split log records across lines: a terminal hard-wraps a long zap JSON line at its
// width, a person pretty-prints one (jq .) before posting it. The one-shot readers reassemble
// such a record before it is classified; the live tailer reads files ipamd wrote, one record
// per line, and never needs to. ReadLines routes its lines through a recordJoiner.

// The joiner holds at most this much of one split record; past either bound it gives up and
// delivers the held lines as they came.
const (
	maxJoinLines = 64
	maxJoinBytes = 64 << 10
)

// recordJoiner passes lines through to emit, except a line that starts a JSON object and
// leaves it open: that line and the ones that continue the object are held and delivered as
// one record, with the first line's number, when the object closes. Lines are joined with
// nothing between them where the break fell inside a string (a hard wrap cuts anywhere) and
// with one space elsewhere (JSON whitespace). When the record does not close (a line that
// cannot continue it, a new record, a blank or skipped line, the bounds, the end of input),
// the held lines are delivered one by one as they came, so nothing is lost or reordered.
type recordJoiner struct {
	emit func(n uint64, line []byte) error

	raw    []byte   // the held lines, back to back
	ends   []int    // end offset in raw of each held line
	nums   []uint64 // number of each held line
	inStr  []bool   // whether the break after each held line fell inside a string
	lex    jsonLex
	joined []byte // the reassembled record, reused
}

func newRecordJoiner(emit func(n uint64, line []byte) error) *recordJoiner {
	return &recordJoiner{emit: emit}
}

// add takes the next line (valid only during the call, as ReadLines delivers it).
func (j *recordJoiner) add(n uint64, line []byte) error {
	if len(j.ends) == 0 {
		return j.start(n, line)
	}
	t := trimSpace(line)
	switch {
	case n != j.nums[len(j.nums)-1]+1, len(t) == 0:
		// A skipped (too long) or blank line: the record cannot continue across it.
		if err := j.flush(); err != nil {
			return err
		}
		return j.start(n, line)
	case j.lex.inStr:
		// A wrap inside a string continues with anything, except what is plainly the start of
		// the next record.
		if bytes.HasPrefix(t, []byte(`{"`)) {
			if err := j.flush(); err != nil {
				return err
			}
			return j.start(n, line)
		}
	case t[0] == '{' && j.lex.depth == 1, !continuesJSON(t[0]):
		// Between the fields of the held object nothing may start with "{", and a
		// continuation starts with a JSON token.
		if err := j.flush(); err != nil {
			return err
		}
		return j.start(n, line)
	}
	j.lex.feed(line)
	j.hold(n, line)
	return j.settle()
}

// start looks at a line while nothing is held: a line that opens a JSON object and leaves it
// open is held, anything else passes through. A zap line ends with "}", so routine lines
// cost two byte compares here.
func (j *recordJoiner) start(n uint64, line []byte) error {
	t := trimSpace(line)
	if len(t) == 0 || t[0] != '{' || t[len(t)-1] == '}' {
		return j.emit(n, line)
	}
	if i := skipSpaceAt(t, 1); i < len(t) && t[i] != '"' {
		return j.emit(n, line) // "{not json": no key follows the brace
	}
	j.lex = jsonLex{}
	j.lex.feed(line)
	if j.lex.depth <= 0 {
		return j.emit(n, line)
	}
	j.hold(n, line)
	return nil
}

// hold keeps a line the lexer has just read.
func (j *recordJoiner) hold(n uint64, line []byte) {
	j.raw = append(j.raw, line...)
	j.ends = append(j.ends, len(j.raw))
	j.nums = append(j.nums, n)
	j.inStr = append(j.inStr, j.lex.inStr)
}

// settle delivers the held record when the object has closed, or gives up past the bounds.
func (j *recordJoiner) settle() error {
	if j.lex.depth <= 0 {
		j.joined = j.joined[:0]
		from := 0
		for i, end := range j.ends {
			if i > 0 && !j.inStr[i-1] {
				j.joined = append(j.joined, ' ')
			}
			j.joined = append(j.joined, j.raw[from:end]...)
			from = end
		}
		n := j.nums[0]
		j.reset()
		return j.emit(n, j.joined)
	}
	if len(j.ends) >= maxJoinLines || len(j.raw) > maxJoinBytes {
		return j.flush()
	}
	return nil
}

// flush delivers the held lines one by one, as they came.
func (j *recordJoiner) flush() error {
	from := 0
	for i, end := range j.ends {
		if err := j.emit(j.nums[i], j.raw[from:end]); err != nil {
			j.reset()
			return err
		}
		from = end
	}
	j.reset()
	return nil
}

func (j *recordJoiner) reset() {
	j.raw, j.ends, j.nums, j.inStr = j.raw[:0], j.ends[:0], j.nums[:0], j.inStr[:0]
}

// continuesJSON reports whether a line starting with b can continue a JSON object outside a
// string: a string, a closing or opening bracket, a separator, a number or a literal.
func continuesJSON(b byte) bool {
	switch b {
	case '"', '}', ']', '{', '[', ',', ':', '-', 't', 'f', 'n':
		return true
	}
	return isDigit(b)
}

func skipSpaceAt(s []byte, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// jsonLex follows just enough of JSON to know where an object ends: the nesting depth and
// whether the text so far stops inside a string (or right after a backslash in one).
type jsonLex struct {
	depth int
	inStr bool
	esc   bool
}

func (l *jsonLex) feed(b []byte) {
	for _, c := range b {
		switch {
		case l.esc:
			l.esc = false
		case l.inStr:
			switch c {
			case '\\':
				l.esc = true
			case '"':
				l.inStr = false
			}
		case c == '"':
			l.inStr = true
		case c == '{' || c == '[':
			l.depth++
		case c == '}' || c == ']':
			l.depth--
		}
	}
}
