// Package logparse turns the VPC CNI's log lines (ipamd.log, plugin.log, the aws-node
// container's stdout, pasted kubelet events) into typed events, and follows those log files
// across rotation. It knows nothing about Prometheus: callers count the events.
package logparse

import (
	"bytes"
	"time"
)

// Class is the failure class of one log line. The names returned by String are a public
// vocabulary: they appear as metric label values, in JSON output and in docs/classes.md.
type Class uint8

// The classes, from "nothing to report" to the catch-all for other error-level lines. Each
// class that signals exactly one cause carries that cause's name; the docs text of every class
// is in docs/classes.md.
const (
	None Class = iota
	SubnetExhausted
	PrefixFragmented
	SubnetDiscoveryExcluded
	ENILimit
	ENIQuota
	CNIUnknownInstanceType
	EC2Throttled
	Unauthorized
	AWSNodeRBACDenied
	IMDSFailure
	ENIConfigUnavailable
	ENISetupFailed
	IPPoolEmpty
	BranchENI
	AllocFailed
	AWSNodeAPIServerUnreachable
	AWSNodeInitFailed
	AWSNodePanic
	AWSNodeNotReady
	OtherError
	numClasses
)

// NumClasses is the number of classes, None included: every Class value is below it, so
// callers can size arrays indexed by Class.
const NumClasses = int(numClasses)

var classNames = [numClasses]string{
	None:                        "none",
	SubnetExhausted:             "subnet_exhausted",
	PrefixFragmented:            "prefix_fragmented",
	SubnetDiscoveryExcluded:     "subnet_discovery_excluded",
	ENILimit:                    "eni_limit",
	ENIQuota:                    "eni_quota",
	CNIUnknownInstanceType:      "cni_unknown_instance_type",
	EC2Throttled:                "ec2_throttled",
	Unauthorized:                "unauthorized",
	AWSNodeRBACDenied:           "aws_node_rbac_denied",
	IMDSFailure:                 "imds_failure",
	ENIConfigUnavailable:        "eniconfig_unavailable",
	ENISetupFailed:              "eni_setup_failed",
	IPPoolEmpty:                 "ip_pool_empty",
	BranchENI:                   "branch_eni",
	AllocFailed:                 "alloc_failed",
	AWSNodeAPIServerUnreachable: "aws_node_api_server_unreachable",
	AWSNodeInitFailed:           "aws_node_init_failed",
	AWSNodePanic:                "aws_node_panic",
	AWSNodeNotReady:             "aws_node_not_ready",
	OtherError:                  "other_error",
}

// String returns the class's stable name ("subnet_exhausted", ...); unknown values render
// as "class(N)" so a bad value is visible rather than silently "none".
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "class(" + itoa(int(c)) + ")"
}

// ParseClass is the inverse of String. It accepts exactly the names String returns.
func ParseClass(s string) (Class, bool) {
	for i, n := range classNames {
		if n == s {
			return Class(i), true
		}
	}
	return None, false
}

// Classes returns every class except None, in a stable order (the order of the constants).
// The slice is fresh: callers may modify it.
func Classes() []Class {
	out := make([]Class, 0, numClasses-1)
	for c := SubnetExhausted; c < numClasses; c++ {
		out = append(out, c)
	}
	return out
}

// Level is the severity a line was written at, normalised across formats.
type Level uint8

// Levels in increasing severity. LevelUnknown means the line's format carries no level
// (free text); such lines are classified by their content only and are never other_error.
const (
	LevelUnknown Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelFatal
	numLevels
)

var levelNames = [numLevels]string{"unknown", "debug", "info", "warn", "error", "fatal"}

// String returns "unknown", "debug", "info", "warn", "error" or "fatal".
func (l Level) String() string {
	if l < numLevels {
		return levelNames[l]
	}
	return "level(" + itoa(int(l)) + ")"
}

// Event is what one line says. Message aliases either the input line or a buffer owned by
// the Classifier: it is valid until the next call to Classify.
type Event struct {
	Class Class
	Level Level
	// Time is the line's own timestamp in UTC; zero when the line has none (or, for klog
	// lines, has no year).
	Time time.Time
	// Code is the EC2 (or IMDS) error code token that decided the class, e.g.
	// "InsufficientCidrBlocks"; empty when the class came from a phrase.
	Code string
	// ENI and Subnet are the first eni-... and subnet-... identifiers in the message.
	ENI    string
	Subnet string
	// Message is the message text: the unescaped msg field of JSON, the text after the
	// level of the text formats, the whole line otherwise.
	Message []byte
	// Malformed is set when the line looked like JSON but did not decode cleanly
	// (truncated, mangled, bad escapes, trailing garbage). It is still classified.
	Malformed bool
}

// backoff is how long ipamd waits after InsufficientCidrBlocks or
// InsufficientFreeAddressesInSubnet before retrying; follow-up lines inside it inherit the cause.
const backoff = 2 * time.Minute

// maxInterned bounds the per-stream cache of ENI and subnet ids. A node has at most a few
// dozen of each; the bound only protects against hostile input.
const maxInterned = 4096

// Classifier classifies the lines of one stream (one log file, one paste). It carries the
// little state ipamd's follow-up lines need, so use one Classifier per stream and do not
// share it between goroutines.
type Classifier struct {
	m   *matcher
	now func() time.Time

	// The most recent subnet_exhausted/prefix_fragmented event that came from an error code
	// or phrase (not from a follow-up line).
	anchorClass   Class
	anchorLogTime time.Time // the line's own time, zero if it had none
	anchorSeenAt  time.Time // the clock when it was classified

	ts     tsCache           // the minute of the previous timestamp
	buf    []byte            // unescaped JSON message, reused
	intern map[string]string // ENI/subnet ids, so routine lines do not allocate
}

// NewClassifier returns a Classifier whose clock (used only for lines without a
// timestamp) is time.Now.
func NewClassifier() *Classifier { return NewClassifierWithClock(time.Now) }

// NewClassifierWithClock returns a Classifier that reads the time from now when a line has
// no timestamp of its own. Tests inject a fake clock here.
func NewClassifierWithClock(now func() time.Time) *Classifier {
	if now == nil {
		now = time.Now
	}
	return &Classifier{m: sharedMatcher(), now: now, intern: make(map[string]string)}
}

// Classify classifies one line (with or without its trailing newline). It never panics and
// does not allocate for routine lines once the ids they mention have been seen.
func (c *Classifier) Classify(line []byte) Event {
	var ev Event
	var p parsed
	parseLine(line, &p, &c.ts)

	var h hits
	if p.msgAt >= 0 {
		// zap JSON: one pass finds the signatures and the end of the message.
		lvl := p.level
		c.m.scan(p.region, lvl, true, &h)
		if h.quote >= 0 {
			p.msg, p.msgEscaped = p.region[:h.quote], h.esc
			finishJSON(&p, p.msgAt+h.quote, &c.ts)
			if p.level != lvl {
				// The level came after the message: rare, scan again with it.
				c.m.scan(p.region, p.level, false, &h)
			}
		} else {
			p.msg, p.msgEscaped, p.malformed = p.region, h.esc, true
		}
	} else {
		c.m.scan(p.region, p.level, false, &h)
	}

	ev.Level = p.level
	ev.Time = p.time
	ev.Malformed = p.malformed
	ev.Message = p.msg
	if p.msgEscaped {
		if b, ok := unescapeJSON(c.buf[:0], p.msg); ok {
			c.buf = b
			ev.Message = b
		} else {
			ev.Malformed = true
		}
	}
	if h.eni >= 0 {
		ev.ENI = c.id(p.region, h.eni, 4)
	}
	if h.subnet >= 0 {
		ev.Subnet = c.id(p.region, h.subnet, 7)
	}

	best := h.best
	switch {
	case best == nil:
		if ev.Level >= LevelError && !isTrap(ev.Message) {
			ev.Class = OtherError
		}
	case best.followUp:
		ev.Class = c.inherit(ev.Time)
	default:
		ev.Class = best.class
		ev.Code = best.code
		if ev.Class == SubnetExhausted || ev.Class == PrefixFragmented {
			c.anchorClass = ev.Class
			c.anchorLogTime = ev.Time
			c.anchorSeenAt = c.now()
		}
	}
	return ev
}

// inherit returns the class a follow-up line gets: that of the stream's most recent
// subnet_exhausted/prefix_fragmented event if it is within ipamd's backoff, else
// subnet_exhausted. Log times are compared when both lines have one, else the clock.
func (c *Classifier) inherit(t time.Time) Class {
	if c.anchorClass == None {
		return SubnetExhausted
	}
	var d time.Duration
	if !t.IsZero() && !c.anchorLogTime.IsZero() {
		d = t.Sub(c.anchorLogTime)
	} else {
		d = c.now().Sub(c.anchorSeenAt)
	}
	if d >= 0 && d <= backoff {
		return c.anchorClass
	}
	return SubnetExhausted
}

// id returns the identifier that starts at region[at] with a prefix of n bytes ("eni-",
// "subnet-") followed by hex digits, interned so repeated ids cost nothing.
func (c *Classifier) id(region []byte, at, n int) string {
	end := at + n
	for end < len(region) && end-at < n+32 && isHex(region[end]) {
		end++
	}
	// Real ids carry 8 or 17 hex digits; anything else ("subnet-cidr-reservation") is a word.
	if end-at-n < 8 || end < len(region) && isWordByte(region[end]) {
		return ""
	}
	b := region[at:end]
	if s, ok := c.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(c.intern) < maxInterned {
		c.intern[s] = s
	}
	return s
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f'
}

// traps are phrases of routine lines that must never be flagged, even when a line carrying
// them is written at error level (they would otherwise become other_error).
var trapPhrases = [...]string{
	"no free IP available in the prefix",
	"IP pool is too low",
	"does not have available addresses",
	"err: <nil>",
	"datastore: unknown pod",
	"HTTP_TIMEOUT env is not set",
	"Successfully increased IP pool",
}

func isTrap(msg []byte) bool {
	for _, t := range trapPhrases {
		if bytes.Contains(msg, []byte(t)) {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
