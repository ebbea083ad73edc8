package logparse

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// parsed is the structure of one line, before classification. All slices alias the input.
type parsed struct {
	level      Level
	time       time.Time
	msg        []byte
	msgEscaped bool   // msg is a JSON string body that contains escapes
	region     []byte // where signatures are searched: the message and any fields after it
	malformed  bool

	// JSON only: the line, where the region starts, and, while the message's end is still
	// unknown, the offset of its first byte (else -1).
	json        []byte
	regionStart int
	msgAt       int
}

// maxPrefix bounds how far into a line the prefix and header detection looks.
const maxPrefix = 256

// parseLine recognises, in order: a `kubectl logs --prefix` prefix, a `kubectl logs
// --timestamps` or journald prefix, then the line itself as zap JSON, the pre-2020 text
// format, a logrus line, a klog (kubelet) line, a Kubernetes event row, or free text.
func parseLine(line []byte, p *parsed, tc *tsCache) {
	p.msgAt = -1
	s := trimSpace(line)
	var prefixTime time.Time
	for range 6 {
		if r, ok := stripPasteMarkup(s); ok {
			s = r
			continue
		}
		if r, ok := stripPodPrefix(s); ok {
			s = r
			continue
		}
		if t, n, ok := parseTimestamp(s, nil); ok && n < len(s) && (s[n] == ' ' || s[n] == '\t') {
			rest := trimSpace(s[n:])
			if _, pod := stripPodPrefix(rest); len(rest) > 0 && (rest[0] == '{' || pod) {
				prefixTime, s = t, rest
				continue
			}
		}
		if r, ok := stripSyslogPrefix(s); ok {
			s = r
			continue
		}
		break
	}
	p.msg, p.region = s, s
	switch {
	case len(s) > 0 && s[0] == '{':
		parseJSON(s, p, 1, tc)
	case bracelessJSON(s):
		// A JSON line whose leading "{" was lost in the copy: parse it as one, flagged.
		p.malformed = true
		parseJSON(s, p, 0, tc)
	case parseTextFormat(s, p, tc):
	case parseLogrus(s, p):
	case parseKlog(s, p):
	case parseEvent(s, p):
	}
	if p.time.IsZero() {
		p.time = prefixTime
	}
}

// glogEarly is what glog writes before flag parsing in front of a klog line (aws-node's
// entrypoint before CNI v1.6 printed ipamd's client-go lines this way).
const glogEarly = "ERROR: logging before flag.Parse: "

// stripPasteMarkup removes what a paste into an issue or chat adds around a log line: inline
// code backticks around the whole line, a Markdown list bullet or quote ("* ", "- ", "> "),
// an opening backtick whose closing one is on another line, a line number glued to a JSON
// line (" 1{...}" from a numbered code view), or glog's early-logging prefix. A bullet, a
// quote or a lone backtick is removed only in front of something that starts a log line (a
// digit, "{", "[").
func stripPasteMarkup(s []byte) ([]byte, bool) {
	if len(s) < 3 {
		return s, false
	}
	if s[0] == '`' && s[len(s)-1] == '`' {
		return trimSpace(s[1 : len(s)-1]), true
	}
	if bytes.HasPrefix(s, []byte(glogEarly)) {
		return trimSpace(s[len(glogEarly):]), true
	}
	if isDigit(s[0]) {
		// A line number glued to a JSON object: digits, then `{"`.
		i := 1
		for i < len(s) && i < 8 && isDigit(s[i]) {
			i++
		}
		if hasAt(s, i, `{"`) {
			return s[i:], true
		}
		return s, false
	}
	var rest []byte
	switch {
	case s[0] == '`':
		rest = s[1:]
	case (s[0] == '*' || s[0] == '-' || s[0] == '>') && (s[1] == ' ' || s[1] == '\t'):
		rest = trimSpace(s[2:])
	default:
		return s, false
	}
	if len(rest) > 0 && (isDigit(rest[0]) || rest[0] == '{' || rest[0] == '[') {
		return rest, true
	}
	return s, false
}

// bracelessJSON reports whether s looks like a zap JSON line that lost its leading "{": it
// starts with a quoted key zap writes first ("level", "ts", "msg", ...) and a colon.
func bracelessJSON(s []byte) bool {
	if len(s) < 8 || s[0] != '"' {
		return false
	}
	j := bytes.IndexByte(s[1:min(len(s), 16)], '"')
	if j < 1 || 1+j+1 >= len(s) || s[1+j+1] != ':' {
		return false
	}
	switch keyKind(s[1 : 1+j]) {
	case keyLevel, keyTime, keyMsg:
		return true
	}
	return false
}

// stripPodPrefix removes `[pod/aws-node-x7k2p/aws-node] ` as written by kubectl logs --prefix.
func stripPodPrefix(s []byte) ([]byte, bool) {
	if len(s) < 4 || s[0] != '[' {
		return s, false
	}
	head := s[:min(len(s), maxPrefix)]
	j := bytes.IndexByte(head, ']')
	if j < 2 {
		return s, false
	}
	inner := head[1:j]
	if bytes.IndexByte(inner, '/') < 0 || bytes.IndexByte(inner, ' ') >= 0 {
		return s, false
	}
	return trimSpace(s[j+1:]), true
}

// stripSyslogPrefix removes `Sep 11 20:39:00 ip-10-0-1-23 kubelet[1234]: ` (journald).
func stripSyslogPrefix(s []byte) ([]byte, bool) {
	if len(s) < 20 || s[3] != ' ' || s[6] != ' ' || !isMonth(s[:3]) {
		return s, false
	}
	head := s[:min(len(s), maxPrefix)]
	j := bytes.Index(head, []byte("]: "))
	if j < 0 {
		return s, false
	}
	return trimSpace(s[j+3:]), true
}

func isMonth(b []byte) bool {
	switch string(b) {
	case "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec":
		return true
	}
	return false
}

// parseJSON starts walking one JSON object whose first key starts at index first (1 after
// the "{", 0 when the brace was lost), taking level, ts (string or epoch number) and msg.
// When the message is the first field that is not level/ts/caller (zap's layout), the walk
// stops at the message's opening quote: the signature scan finds the closing quote in the
// same pass (see matcher.scan), then finishJSON resumes the walk after it.
func parseJSON(s []byte, p *parsed, first int, tc *tsCache) {
	p.json, p.regionStart, p.msgAt = s, -1, -1
	if zapHeader(s, first, p, tc) {
		return
	}
	walkJSON(s, first, p, false, tc)
}

// zapHeader is the fast path for the exact header zap writes,
// {"level":"L","ts":"T"[,"caller":"C"],"msg":" — anything else goes to the generic walk.
func zapHeader(s []byte, first int, p *parsed, tc *tsCache) bool {
	const (
		levelKey  = `"level":"`
		tsKey     = `","ts":"`
		callerKey = `","caller":"`
		msgKey    = `","msg":"`
	)
	if !hasAt(s, first, levelKey) {
		return false
	}
	i := first + len(levelKey)
	level, i, ok := plainValue(s, i, 12)
	if !ok || !hasAt(s, i, tsKey) {
		return false
	}
	ts, i, ok := plainValue(s, i+len(tsKey), 40)
	if !ok {
		return false
	}
	if hasAt(s, i, callerKey) {
		if _, i, ok = plainValue(s, i+len(callerKey), 512); !ok {
			return false
		}
	}
	if !hasAt(s, i, msgKey) {
		return false
	}
	i += len(msgKey)
	p.level = levelWord(level)
	if t, n, ok := parseTimestamp(ts, tc); ok && n == len(ts) {
		p.time = t
	}
	p.regionStart, p.msgAt, p.region = i, i, s[i:]
	return true
}

// plainValue returns the string body starting at i that ends at the next quote within max
// bytes and has no escapes, and the index of that quote.
func plainValue(s []byte, i, max int) ([]byte, int, bool) {
	if i > len(s) {
		return nil, i, false
	}
	w := s[i:min(len(s), i+max)]
	j := bytes.IndexByte(w, '"')
	if j < 0 || bytes.IndexByte(w[:j], '\\') >= 0 {
		return nil, i, false
	}
	return w[:j], i + j, true
}

func hasAt(s []byte, i int, lit string) bool {
	return i <= len(s) && len(s)-i >= len(lit) && string(s[i:i+len(lit)]) == lit
}

// finishJSON resumes the walk after the message string that ends at index end of p.json.
func finishJSON(p *parsed, end int, tc *tsCache) {
	walkJSON(p.json, end+1, p, true, tc)
}

// walkJSON walks the object from index i; afterValue says i is just after a value. It stops
// at the first structural error, keeps what it found and marks the line malformed.
func walkJSON(s []byte, i int, p *parsed, afterValue bool, tc *tsCache) {
	closed := false
	for {
		if afterValue {
			i = skipWS(s, i)
			if i < len(s) && s[i] == ',' {
				i++
			} else {
				if i < len(s) && s[i] == '}' {
					i++
					closed = true
				}
				break
			}
		}
		afterValue = true
		i = skipWS(s, i)
		if i >= len(s) {
			break
		}
		if s[i] == '}' {
			i++
			closed = true
			break
		}
		if s[i] != '"' {
			break
		}
		keyAt := i
		ke, _ := scanString(s, i+1)
		if ke < 0 {
			break
		}
		key := s[i+1 : ke]
		i = skipWS(s, ke+1)
		if i >= len(s) || s[i] != ':' {
			break
		}
		i = skipWS(s, i+1)
		if i >= len(s) {
			break
		}
		k := keyKind(key)
		if k == keyOther && p.regionStart < 0 {
			p.regionStart = keyAt
		}
		if s[i] != '"' {
			ve := skipValue(s, i)
			if ve < 0 {
				break
			}
			if k == keyTime {
				p.time = epochTime(s[i:ve])
			}
			i = ve
			continue
		}
		if k == keyMsg && p.regionStart < 0 {
			p.regionStart = i + 1
			if p.msgAt < 0 {
				p.msgAt = i + 1
				p.region = s[i+1:]
				return
			}
		}
		ve, esc := scanString(s, i+1)
		if ve < 0 {
			// Truncated inside a string: keep the rest as the value.
			if k == keyMsg {
				p.msg, p.msgEscaped = s[i+1:], bytes.IndexByte(s[i+1:], '\\') >= 0
				if p.regionStart < 0 {
					p.regionStart = i + 1
				}
			}
			break
		}
		v := s[i+1 : ve]
		switch k {
		case keyLevel:
			p.level = levelWord(v)
		case keyTime:
			if t, n, ok := parseTimestamp(v, tc); ok && n == len(v) {
				p.time = t
			}
		case keyMsg:
			p.msg, p.msgEscaped = v, esc
		}
		i = ve + 1
	}
	if !closed || skipWS(s, i) != len(s) {
		p.malformed = true
	}
	if p.regionStart >= 0 {
		p.region = s[p.regionStart:]
	}
}

type jsonKey uint8

const (
	keyOther jsonKey = iota
	keyLevel
	keyTime
	keyMsg
	keyIgnored
)

func keyKind(k []byte) jsonKey {
	switch string(k) {
	case "level", "severity", "lvl":
		return keyLevel
	case "ts", "time", "timestamp", "@timestamp":
		return keyTime
	case "msg", "message":
		return keyMsg
	case "caller", "logger":
		return keyIgnored
	}
	return keyOther
}

// scanString returns the index of the closing quote of the string body starting at i, and
// whether the body contains a backslash; -1 when the string is not terminated. Short
// strings (keys, levels, times) are walked byte by byte; long ones (messages) use the
// vectorised IndexByte.
func scanString(s []byte, i int) (int, bool) {
	esc := false
	for lim := min(len(s), i+32); i < lim; i++ {
		switch s[i] {
		case '"':
			return i, esc
		case '\\':
			esc = true
			i++
		}
	}
	if i >= len(s) {
		return -1, esc
	}
	start := i
	for {
		j := bytes.IndexByte(s[i:], '"')
		if j < 0 {
			return -1, esc
		}
		q := i + j
		n := 0
		for k := q - 1; k >= start && s[k] == '\\'; k-- {
			n++
		}
		if n > 0 {
			esc = true
		} else if !esc && bytes.IndexByte(s[i:q], '\\') >= 0 {
			esc = true
		}
		if n%2 == 0 {
			return q, esc
		}
		i = q + 1
	}
}

// skipValue skips a non-string JSON value (number, literal, object, array) and returns the
// index after it, or -1 when it is not terminated.
func skipValue(s []byte, i int) int {
	depth := 0
	for i < len(s) {
		switch c := s[i]; c {
		case '"':
			e, _ := scanString(s, i+1)
			if e < 0 {
				return -1
			}
			i = e + 1
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}

func skipWS(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func trimSpace(s []byte) []byte {
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// levelWord maps a level name in any case (debug, info, warn, warning, error, fatal, panic,
// dpanic, critical) to a Level.
func levelWord(v []byte) Level {
	switch string(v) { // zap's spelling first: no case folding needed
	case "debug":
		return LevelDebug
	case "info":
		return LevelInfo
	case "error":
		return LevelError
	case "warn":
		return LevelWarn
	}
	if len(v) == 0 || len(v) > 8 {
		return LevelUnknown
	}
	var b [8]byte
	for i, c := range v {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	switch string(b[:len(v)]) {
	case "debug", "trace", "dbug":
		return LevelDebug
	case "info":
		return LevelInfo
	case "warn", "warning":
		return LevelWarn
	case "error", "err", "eror":
		return LevelError
	case "fatal", "panic", "dpanic", "critical", "crit":
		return LevelFatal
	}
	return LevelUnknown
}

// parseTextFormat handles `2019-07-30T15:31:53Z [ERROR] message` (ipamd and the CNI plugin
// before CNI v1.6, seelog), also when a paste dropped the time (`[ERROR] message`).
func parseTextFormat(s []byte, p *parsed, tc *tsCache) bool {
	t, n, ok := parseTimestamp(s, tc)
	if !ok {
		n = 0
		if len(s) < 3 || s[0] != '[' {
			return false
		}
	}
	rest := trimSpace(s[n:])
	if len(rest) > 2 && rest[0] == '[' {
		if j := bytes.IndexByte(rest[:min(len(rest), 12)], ']'); j > 0 {
			if l := levelWord(rest[1:j]); l != LevelUnknown {
				p.level = l
				rest = trimSpace(rest[j+1:])
			} else if !ok {
				return false
			}
		} else if !ok {
			return false
		}
	}
	p.time = t
	p.msg, p.region = rest, rest
	return true
}

// parseLogrus handles `time="2024-09-11T20:38:58Z" level=info msg="..." key=value`.
func parseLogrus(s []byte, p *parsed) bool {
	if !bytes.HasPrefix(s, []byte("time=")) && !bytes.HasPrefix(s, []byte("level=")) {
		return false
	}
	i := 0
	for i < len(s) {
		i = skipWS(s, i)
		eq := bytes.IndexByte(s[i:], '=')
		if eq <= 0 {
			break
		}
		key := s[i : i+eq]
		if bytes.IndexByte(key, ' ') >= 0 {
			break
		}
		keyAt := i
		i += eq + 1
		var v []byte
		if i < len(s) && s[i] == '"' {
			e, _ := scanString(s, i+1)
			if e < 0 {
				v = s[i+1:]
				i = len(s)
			} else {
				v = s[i+1 : e]
				i = e + 1
			}
		} else {
			e := bytes.IndexByte(s[i:], ' ')
			if e < 0 {
				e = len(s) - i
			}
			v = s[i : i+e]
			i += e
		}
		switch string(key) {
		case "time":
			if t, n, ok := parseTimestamp(v, nil); ok && n == len(v) {
				p.time = t
			}
		case "level":
			p.level = levelWord(v)
		case "msg":
			p.msg = v
			p.region = s[keyAt:]
		}
	}
	return true
}

// parseKlog handles kubelet's `E0911 20:39:00.479123    1234 file.go:123] message`.
func parseKlog(s []byte, p *parsed) bool {
	if len(s) < 22 || !isDigits(s[1:5]) || s[5] != ' ' || !isDigit(s[6]) {
		return false
	}
	var l Level
	switch s[0] {
	case 'I':
		l = LevelInfo
	case 'W':
		l = LevelWarn
	case 'E':
		l = LevelError
	case 'F':
		l = LevelFatal
	default:
		return false
	}
	j := bytes.Index(s[:min(len(s), maxPrefix)], []byte("] "))
	if j < 0 {
		return false
	}
	p.level = l
	p.msg = trimSpace(s[j+2:])
	p.region = p.msg
	return true
}

// parseEvent handles Kubernetes event rows as printed by `kubectl describe` (`Warning
// FailedCreatePodSandBox 2m kubelet Failed to ...`) and `kubectl get events` (age first).
func parseEvent(s []byte, p *parsed) bool {
	for tok := 0; tok < 2; tok++ {
		switch {
		case bytes.HasPrefix(s, []byte("Warning ")) || bytes.HasPrefix(s, []byte("Warning\t")):
			p.level = LevelWarn
			return true
		case bytes.HasPrefix(s, []byte("Normal ")) || bytes.HasPrefix(s, []byte("Normal\t")):
			p.level = LevelInfo
			return true
		}
		sp := bytes.IndexAny(s[:min(len(s), 32)], " \t")
		if sp < 0 {
			return false
		}
		s = trimSpace(s[sp:])
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func num(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// tsCache remembers the minute of the previous timestamp of a stream: consecutive log lines
// almost always share it, and then only the seconds need parsing.
type tsCache struct {
	key  [16]byte // "YYYY-MM-DDThh:mm"
	base time.Time
	ok   bool
}

// parseTimestamp parses an RFC 3339 / ISO 8601 time at the start of s:
// YYYY-MM-DD[T ]hh:mm:ss[.frac][Z|±hh:mm|±hhmm]. A time without a zone is taken as UTC.
// It returns the time in UTC and the number of bytes consumed. tc may be nil.
func parseTimestamp(s []byte, tc *tsCache) (time.Time, int, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	sec, ok := digits2(s[17:19])
	if !ok || sec > 60 {
		return time.Time{}, 0, false
	}
	var base time.Time
	if tc != nil && tc.ok && string(s[:16]) == string(tc.key[:]) {
		base = tc.base
	} else {
		y1, ok1 := digits2(s[0:2])
		y2, ok2 := digits2(s[2:4])
		mo, ok3 := digits2(s[5:7])
		d, ok4 := digits2(s[8:10])
		h, ok5 := digits2(s[11:13])
		mi, ok6 := digits2(s[14:16])
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 {
			return time.Time{}, 0, false
		}
		base = time.Date(y1*100+y2, time.Month(mo), d, h, mi, 0, 0, time.UTC)
		if tc != nil {
			copy(tc.key[:], s[:16])
			tc.base, tc.ok = base, true
		}
	}
	n := 19
	ns := 0
	if n < len(s) && (s[n] == '.' || s[n] == ',') {
		n++
		digits := 0
		for n < len(s) && isDigit(s[n]) {
			if digits < 9 {
				ns = ns*10 + int(s[n]-'0')
				digits++
			}
			n++
		}
		if digits == 0 {
			return time.Time{}, 0, false
		}
		for ; digits < 9; digits++ {
			ns *= 10
		}
	}
	off := 0
	if n < len(s) {
		switch s[n] {
		case 'Z', 'z':
			n++
		case '+', '-':
			sign := 1
			if s[n] == '-' {
				sign = -1
			}
			r := s[n+1:]
			switch {
			case len(r) >= 5 && r[2] == ':' && isDigits(r[0:2]) && isDigits(r[3:5]):
				off = sign * (num(r[0:2])*3600 + num(r[3:5])*60)
				n += 6
			case len(r) >= 4 && isDigits(r[0:4]):
				off = sign * (num(r[0:2])*3600 + num(r[2:4])*60)
				n += 5
			case len(r) >= 2 && isDigits(r[0:2]) && (len(r) == 2 || !isDigit(r[2])):
				off = sign * num(r[0:2]) * 3600
				n += 3
			}
		}
	}
	return base.Add(time.Duration(sec-off)*time.Second + time.Duration(ns)), n, true
}

// digits2 returns the value of two ASCII digits.
func digits2(b []byte) (int, bool) {
	hi, lo := b[0]-'0', b[1]-'0'
	return int(hi)*10 + int(lo), hi <= 9 && lo <= 9
}

// epochTime parses zap's epoch timestamps ("ts":1638415686.0671234); zero if not a plain
// decimal number of seconds in a plausible range.
func epochTime(b []byte) time.Time {
	sec, ns, i := 0, 0, 0
	for ; i < len(b) && isDigit(b[i]); i++ {
		sec = sec*10 + int(b[i]-'0')
		if sec > 1e11 {
			return time.Time{}
		}
	}
	if i == 0 {
		return time.Time{}
	}
	if i < len(b) && b[i] == '.' {
		i++
		digits := 0
		for ; i < len(b) && isDigit(b[i]); i++ {
			if digits < 9 {
				ns = ns*10 + int(b[i]-'0')
				digits++
			}
		}
		for ; digits < 9; digits++ {
			ns *= 10
		}
	}
	if i != len(b) || sec < 1e8 {
		return time.Time{}
	}
	return time.Unix(int64(sec), int64(ns)).UTC()
}

// unescapeJSON appends the decoded JSON string body src to dst. ok is false on a bad
// escape; dst then holds what was decoded so far.
func unescapeJSON(dst, src []byte) ([]byte, bool) {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(src) {
			return dst, false
		}
		switch src[i] {
		case '"', '\\', '/':
			dst = append(dst, src[i])
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case 'r':
			dst = append(dst, '\r')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			r, ok := hex4(src[i+1:])
			if !ok {
				return dst, false
			}
			i += 4
			if utf16Surrogate(r) && i+2 < len(src) && src[i+1] == '\\' && src[i+2] == 'u' {
				if r2, ok := hex4(src[i+3:]); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func utf16Surrogate(r rune) bool { return r >= 0xD800 && r < 0xDC00 }

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
