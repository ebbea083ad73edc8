package bundle

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/collectors/cnimetrics"
	"github.com/ipamwatch/ipamwatch/collectors/ipamd"
	"github.com/ipamwatch/ipamwatch/internal/termsafe"
	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

type classAcc struct {
	total uint64
	// perMinute counts events by Unix minute: the bundle's "recent" window is only known once
	// every log is read, and a count per minute stays small (a 30-day log is 43,200 keys at
	// most) however many lines fail, with constant work per event.
	perMinute map[int64]uint64
	// undated counts lines whose time could not be read (wrapped, mangled, pasted without
	// it) before any dated line of their file; later undated lines take the time of the dated
	// line before them, so they count near the lines around them.
	undated uint64
	first   time.Time
	last    time.Time
	example []byte
	code    string
	subnet  string
	eni     string
}

type loader struct {
	opts    Options
	budget  *budget
	stopped error // the limit (or the caller's cancel) that ended reading early
	res     Result
	st      *nodestate.State
	found   map[string]bool
	why     map[string]string
	oldHits int
	logHits int
	newHits int

	enisName  string
	enisBody  []byte
	ipamdDown string // what the collector got instead of /v1/enis, when it could not connect

	cniEnv   map[string]string
	cniImage string
	cniTime  string

	classes  classSet
	latest   time.Time // latest timestamp seen in any log line
	earliest time.Time // earliest timestamp seen in any log line
	// lineTime is the time of the last dated line of the log being read (zero before the
	// first one): the time an undated line is counted at.
	lineTime   time.Time
	hypervisor string // "xen" when ipamd said the instance is not Nitro
	logFiles   []nodestate.LogFile
	// problems holds at most maxProblems distinct messages; moreProblems counts the rest.
	problems     map[string]bool
	moreProblems int
}

// classSet is the classified events of some log lines, by class.
type classSet map[logparse.Class]*classAcc

func newLoader(ctx context.Context, opts Options) *loader {
	l := &loader{
		opts: opts, budget: &budget{ctx: ctx, limit: opts.MaxTotal},
		found: map[string]bool{}, why: map[string]string{}, classes: classSet{}, problems: map[string]bool{},
	}
	l.st = &l.res.State
	l.st.Sources = map[string]nodestate.SourceStatus{}
	return l
}

// problem records one problem; a hostile bundle can make thousands, so only the first
// maxProblems distinct ones are kept and the others counted.
func (l *loader) problem(s string) {
	switch {
	case l.problems[s]:
	case len(l.problems) < maxProblems:
		l.problems[s] = true
	default:
		l.moreProblems++
	}
}

// stop records err as the reason reading ended early when it is one of the limits or the
// end of the context, and reports whether it was.
func (l *loader) stop(err error) bool {
	if err == nil || (!errors.Is(err, ErrLimit) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)) {
		return false
	}
	if l.stopped == nil {
		l.stopped = err
	}
	return true
}

// interrupted returns the caller's cancel (Ctrl-C), which ends Load with an error, unlike
// the limits, which end it with what was read.
func (l *loader) interrupted() error {
	if l.stopped != nil && !errors.Is(l.stopped, ErrLimit) {
		return fmt.Errorf("bundle: %w", l.stopped)
	}
	return nil
}

func (l *loader) miss(piece, why string) {
	if !l.found[piece] {
		if _, ok := l.why[piece]; !ok {
			l.why[piece] = why
		}
	}
}

func (l *loader) got(piece string) {
	l.found[piece] = true
	delete(l.why, piece)
}

// member handles one file of the bundle; seeker is the open file when the bundle is a
// directory (a long log then skips its head without reading it), else nil.
func (l *loader) member(name string, size int64, r io.Reader, seeker io.Seeker) {
	k, old := classify(name)
	if k == kNone {
		return
	}
	switch {
	case old:
		l.oldHits++
	case k == kIPAMDLog || k == kPluginLog:
		l.logHits++ // both layouts carry the logs
	default:
		l.newHits++
	}
	switch k {
	case kIPAMDLog, kPluginLog:
		l.readLog(name, k, size, r, seeker)
		return
	}
	b, ok := l.readSmall(name, size, r)
	if !ok {
		return
	}
	switch k {
	case kENIs:
		if ok, why := usable(b); !ok {
			l.miss(pENIs, name+": "+why)
			if why == whyUnreachable {
				// The collector's curl could not connect: ipamd was not answering on the node.
				l.ipamdDown = name + ": " + fragment(strings.TrimSpace(string(b[:min(len(b), 200)])))
			}
			return
		}
		// Decoded in finish: cooldown is judged against the bundle's time, known only then.
		l.enisName, l.enisBody = name, b
	case kENIConfig, kIPAMDEnv, kNetUtilsEnv:
		piece := map[kind]string{kENIConfig: pENIConfig, kIPAMDEnv: pIPAMDEnv, kNetUtilsEnv: pNetUtilsEnv}[k]
		if ok, why := usable(b); !ok {
			l.miss(piece, name+": "+why)
			return
		}
		if l.st.IPAMD == nil {
			l.st.IPAMD = &nodestate.IPAMD{}
		}
		var err error
		switch k {
		case kENIConfig:
			l.st.IPAMD.ENIConfig, err = ipamd.DecodeENIConfig(b)
		case kIPAMDEnv:
			l.st.IPAMD.Env, err = ipamd.DecodeEnvSettings(b)
		case kNetUtilsEnv:
			l.st.IPAMD.NetworkUtilsEnv, err = ipamd.DecodeEnvSettings(b)
		}
		if err != nil {
			l.miss(piece, fmt.Sprintf("%s: %v", name, err))
			return
		}
		l.got(piece)
	case kMetrics:
		if ok, why := usable(b); !ok {
			l.miss(pMetrics, name+": "+why)
			return
		}
		s, err := cnimetrics.Parse(bytes.NewReader(b), int64(len(b))+1)
		if err != nil {
			l.miss(pMetrics, fmt.Sprintf("%s: %v", name, err))
			return
		}
		l.st.CNI = cnimetrics.Cumulative(s)
		for _, reason := range cnimetrics.DropReasons() {
			if n := s.Dropped[reason]; n > 0 {
				l.problem(fmt.Sprintf("%s: %d %s sample(s) refused; those series are unknown", name, n, reason))
			}
		}
		l.got(pMetrics)
	case kKubeletConfig:
		v, err := kubeletMaxPods(b)
		if err != nil {
			l.miss(pKubelet, fmt.Sprintf("%s: %v", name, err))
			return
		}
		l.st.Kubelet = &nodestate.Kubelet{MaxPods: v, Source: name + " maxPods"}
		l.got(pKubelet)
	case kKubeletService:
		if l.found[pKubelet] {
			return // the config file wins over the unit's flags
		}
		if v, ok := kubeletServiceMaxPods(b); ok {
			l.st.Kubelet = &nodestate.Kubelet{MaxPods: v, Source: name + " --max-pods"}
			l.got(pKubelet)
		} else {
			l.miss(pKubelet, name+": no --max-pods flag")
		}
	case kCNIVars:
		l.readCNIVars(name, b)
	case kInstanceID, kRegion, kAZ:
		if l.st.Metadata == nil {
			l.st.Metadata = &nodestate.Metadata{}
		}
		v := strings.TrimSpace(string(b))
		if strings.ContainsAny(v, "\n ") || len(v) > 128 {
			l.problem(name + ": unexpected content")
			return
		}
		switch k {
		case kInstanceID:
			l.st.Metadata.InstanceID = v
		case kRegion:
			l.st.Metadata.Region = v
		case kAZ:
			l.st.Metadata.AvailabilityZone = v
		}
		l.got(pInstance)
	}
}

// containerInfo is the part of `ctr container info` output ipamwatch reads.
type containerInfo struct {
	Image     string `json:"Image"`
	CreatedAt string `json:"CreatedAt"`
	UpdatedAt string `json:"UpdatedAt"`
	Spec      struct {
		Process struct {
			Env []string `json:"env"`
		} `json:"process"`
	} `json:"Spec"`
}

// readCNIVars decodes one or more concatenated `ctr container info` documents and keeps the
// env of the newest aws-node (amazon-k8s-cni) container.
func (l *loader) readCNIVars(name string, b []byte) {
	dec := json.NewDecoder(bytes.NewReader(b))
	n := 0
	for {
		var ci containerInfo
		err := dec.Decode(&ci)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if n == 0 {
				l.miss(pAWSNodeEnv, fmt.Sprintf("%s: %v", name, err))
			} else {
				l.problem(fmt.Sprintf("%s: document %d: %v", name, n+1, err))
			}
			break
		}
		n++
		if ci.Image != "" && !strings.Contains(ci.Image, "amazon-k8s-cni:") {
			continue
		}
		stamp := ci.UpdatedAt
		if stamp == "" {
			stamp = ci.CreatedAt
		}
		if l.cniEnv != nil && stamp < l.cniTime {
			continue
		}
		env := map[string]string{}
		for _, kv := range ci.Spec.Process.Env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		l.cniEnv, l.cniImage, l.cniTime = env, ci.Image, stamp
	}
	if l.cniEnv != nil {
		l.got(pAWSNodeEnv)
	} else if n > 0 {
		l.miss(pAWSNodeEnv, name+": no amazon-k8s-cni container in it")
	}
}

// readLog classifies a log member as it streams by (gzip for rotated backups). Only its
// newest MaxLogBytes count: a plain log whose size is known skips its head (a seek in a
// directory, a read in an archive); a gzipped one, whose inflated size is unknown until its
// end, is classified in segments and the oldest segments are dropped once the newer ones
// hold MaxLogBytes.
func (l *loader) readLog(name string, k kind, size int64, r io.Reader, seeker io.Seeker) {
	piece := pIPAMDLog
	if k == kPluginLog {
		piece = pPluginLog
	}
	lf := nodestate.LogFile{Path: name, Readable: true}
	var skipped int64
	gzipped := strings.HasSuffix(name, ".gz")
	if gzipped {
		gz, err := gzip.NewReader(r)
		if err != nil {
			if !l.stop(err) {
				lf.Readable, lf.Err = false, err.Error()
				l.logFiles = append(l.logFiles, lf)
				l.problem(fmt.Sprintf("%s: %v", name, err))
			}
			return
		}
		defer gz.Close()
		r = l.budget.reader(gz) // what it inflates to counts against the same budget
	} else if size > l.opts.MaxLogBytes {
		skipped = size - l.opts.MaxLogBytes
		var err error
		if seeker != nil {
			_, err = seeker.Seek(skipped, io.SeekStart)
		} else {
			_, err = io.CopyN(io.Discard, r, skipped)
		}
		if err != nil {
			if !l.stop(err) {
				l.problem(fmt.Sprintf("%s: skipping to its newest %s: %v", name, fmtBytes(l.opts.MaxLogBytes), err))
			}
			return
		}
	}
	segs := newSegments(l.opts.MaxLogBytes)
	clf := logparse.NewClassifier()
	l.lineTime = time.Time{} // undated lines count near the dated lines of their own file
	first := skipped > 0     // the line cut by the skip is not a whole line
	st, err := logparse.ReadLines(r, 0, func(_ uint64, line []byte) error {
		if first {
			first = false
			return nil
		}
		l.observe(segs.current(len(line)+1), clf, line)
		return nil
	})
	lf.Lines, lf.Bytes = st.Lines, st.Bytes
	dropped := segs.mergeInto(l.classes)
	switch {
	case skipped > 0:
		l.problem(fmt.Sprintf("%s: %s, over the %s log limit (MaxLogBytes): only its newest %s was classified",
			name, fmtBytes(size), fmtBytes(l.opts.MaxLogBytes), fmtBytes(l.opts.MaxLogBytes)))
	case dropped > 0:
		l.problem(fmt.Sprintf("%s: inflates to more than the %s log limit (MaxLogBytes): its oldest %s were not counted, only the newest part",
			name, fmtBytes(l.opts.MaxLogBytes), fmtBytes(dropped)))
	}
	if err != nil && !l.stop(err) {
		lf.Err = err.Error()
		l.problem(fmt.Sprintf("%s: %v", name, err))
	}
	if l.stopped != nil {
		l.problem(fmt.Sprintf("%s: reading stopped after %s of it (%v): its newest lines were not read", name, fmtBytes(int64(st.Bytes)), l.stopped))
	}
	l.logFiles = append(l.logFiles, lf)
	l.got(piece)
}

// segments splits one log's classified events into pieces of about a quarter of the log
// limit, so that the oldest can be dropped when a log turns out longer than the limit.
type segments struct {
	limit, size int64
	list        []segment
	dropped     int64 // bytes of the dropped segments
}

type segment struct {
	bytes   int64
	classes classSet
}

func newSegments(limit int64) *segments {
	return &segments{limit: limit, size: max(limit/4, 1)}
}

// current returns the class set the next line (of n bytes) goes into, starting a new segment
// when the current one is full and dropping the oldest ones that the newer ones make
// unnecessary.
func (s *segments) current(n int) classSet {
	if len(s.list) == 0 || s.list[len(s.list)-1].bytes >= s.size {
		s.list = append(s.list, segment{classes: classSet{}})
		for len(s.list) > 1 && s.newerThanOldest() >= s.limit {
			s.dropped += s.list[0].bytes
			s.list = s.list[1:]
		}
	}
	last := &s.list[len(s.list)-1]
	last.bytes += int64(n)
	return last.classes
}

func (s *segments) newerThanOldest() int64 {
	var n int64
	for _, sg := range s.list[1:] {
		n += sg.bytes
	}
	return n
}

// mergeInto adds the kept segments, oldest first, to dst and returns the bytes dropped.
func (s *segments) mergeInto(dst classSet) int64 {
	for _, sg := range s.list {
		for c, a := range sg.classes {
			if d := dst[c]; d != nil {
				d.merge(a)
			} else {
				dst[c] = a
			}
		}
	}
	return s.dropped
}

// merge adds b, read after a, to a.
func (a *classAcc) merge(b *classAcc) {
	a.total += b.total
	a.undated += b.undated
	if len(b.perMinute) > 0 && a.perMinute == nil {
		a.perMinute = map[int64]uint64{}
	}
	for m, n := range b.perMinute {
		a.perMinute[m] += n
	}
	if !b.first.IsZero() && (a.first.IsZero() || b.first.Before(a.first)) {
		a.first = b.first
	}
	if b.last.After(a.last) || len(a.example) == 0 {
		if b.last.After(a.last) {
			a.last = b.last
		}
		a.example = append(a.example[:0], b.example...)
	}
	if b.code != "" {
		a.code = b.code
	}
	if b.subnet != "" {
		a.subnet = b.subnet
	}
	if b.eni != "" {
		a.eni = b.eni
	}
}

func (l *loader) observe(classes classSet, clf *logparse.Classifier, line []byte) {
	ev := clf.Classify(line)
	if !ev.Time.IsZero() {
		if ev.Time.After(l.latest) {
			l.latest = ev.Time
		}
		if l.earliest.IsZero() || ev.Time.Before(l.earliest) {
			l.earliest = ev.Time
		}
		l.lineTime = ev.Time
	}
	if ev.Level >= logparse.LevelWarn && logparse.SaysNonNitro(line) {
		l.hypervisor = "xen"
	}
	if ev.Class == logparse.None {
		return
	}
	a := classes[ev.Class]
	if a == nil {
		a = &classAcc{}
		classes[ev.Class] = a
	}
	a.total++
	t := ev.Time
	if t.IsZero() && !l.lineTime.IsZero() {
		// Counted near the lines around it, without claiming a time of its own for first/last.
		if a.perMinute == nil {
			a.perMinute = map[int64]uint64{}
		}
		a.perMinute[l.lineTime.Unix()/60]++
	} else if t.IsZero() {
		a.undated++
	}
	if !t.IsZero() {
		if a.first.IsZero() || t.Before(a.first) {
			a.first = t
		}
		if t.After(a.last) || a.last.IsZero() {
			a.last = t
			// Copied into a reused buffer: a flood of error lines costs no allocation each.
			a.example = append(a.example[:0], line[:min(len(line), 512)]...)
		}
		if a.perMinute == nil {
			a.perMinute = map[int64]uint64{}
		}
		a.perMinute[t.Unix()/60]++
	} else if len(a.example) == 0 {
		a.example = append(a.example, line[:min(len(line), 512)]...)
	}
	if ev.Code != "" {
		a.code = ev.Code
	}
	if ev.Subnet != "" {
		a.subnet = ev.Subnet
	}
	if ev.ENI != "" {
		a.eni = ev.ENI
	}
}

// finish assembles the state and the report of what was found.
func (l *loader) finish() (*Result, error) {
	if l.newHits == 0 && l.oldHits == 0 && l.logHits == 0 {
		if l.stopped != nil {
			// Say which limit hid the rest: a bundle whose pieces come late is still a bundle.
			return nil, fmt.Errorf("%w in what was read before reading stopped: %w", ErrNotBundle, l.stopped)
		}
		return nil, ErrNotBundle
	}
	switch {
	case l.newHits > 0:
		l.res.Layout = "eks-log-collector"
	case l.oldHits > 0:
		l.res.Layout = "aws-cni-support"
	default:
		l.res.Layout = "logs-only"
	}
	// The bundle's moment: its newest log line, else now.
	l.st.Time = l.latest
	if l.st.Time.IsZero() {
		l.st.Time = time.Now()
	}
	if l.enisBody != nil {
		l.decodeENIs()
	}
	if l.cniEnv != nil {
		// Only the aws-node env is known (FromAPI false): node and pod counts are unknown.
		l.st.Kube = &nodestate.Kube{AWSNodeEnv: l.cniEnv, AWSNodeImage: l.cniImage}
	}
	if len(l.logFiles) > 0 {
		sum := &nodestate.LogSummary{Classes: map[string]nodestate.ClassStats{}, Window: l.opts.Window, Files: l.logFiles, LastHypervisor: l.hypervisor}
		cut := l.st.Time.Add(-l.opts.Window)
		// Undated lines before any dated one count at the earliest time the logs show, or as
		// recent when no line has a time at all (a pasted excerpt of events).
		undatedAt := l.earliest
		if undatedAt.IsZero() {
			undatedAt = l.st.Time
		}
		for c, a := range l.classes {
			recent := 0
			if a.undated > 0 && !undatedAt.Before(cut) {
				recent += int(a.undated)
			}
			// Minute resolution: the window may include up to a minute more.
			for m, n := range a.perMinute {
				if m >= cut.Unix()/60 {
					recent += int(n)
				}
			}
			sum.Classes[c.String()] = nodestate.ClassStats{
				Total: a.total, Recent: recent, First: a.first, Last: a.last, Example: string(a.example),
				Code: a.code, SubnetID: a.subnet, ENI: a.eni,
			}
		}
		l.st.Logs = sum
	}
	// Only pieces the bundle holds are marked as sources: a piece the collector did not
	// capture says nothing about whether ipamd answered on the node, so it is reported as
	// missing instead of being diagnosed as an outage.
	l.st.Sources[nodestate.SourceBundle] = nodestate.SourceStatus{Up: true, LastSuccess: l.st.Time}
	for piece, name := range map[string]string{pENIs: nodestate.SourceIPAMD, pMetrics: nodestate.SourceCNIMetrics, pIPAMDLog: nodestate.SourceLogs} {
		if l.found[piece] {
			l.st.Sources[name] = nodestate.SourceStatus{Up: true, LastSuccess: l.st.Time}
		}
	}
	if !l.found[pENIs] && l.ipamdDown != "" {
		l.st.Sources[nodestate.SourceIPAMD] = nodestate.SourceStatus{Up: false, Err: "at collection time: " + l.ipamdDown}
	}

	for _, p := range pieceNames {
		if l.found[p] {
			l.res.Found = append(l.res.Found, p)
			continue
		}
		why := l.why[p]
		if why == "" {
			why = "not in the bundle"
		}
		l.res.Missing = append(l.res.Missing, p+" ("+why+")")
	}
	problems := make([]string, 0, len(l.problems))
	for p := range l.problems {
		problems = append(problems, p)
	}
	sort.Strings(problems)
	for _, p := range problems {
		l.res.Missing = append(l.res.Missing, "problem: "+p)
	}
	if l.moreProblems > 0 {
		l.res.Missing = append(l.res.Missing, fmt.Sprintf("problem: %d more problems not listed (at most %d are)", l.moreProblems, maxProblems))
	}
	if l.stopped != nil {
		l.res.Stopped = l.stopped
		l.res.Missing = append(l.res.Missing, fmt.Sprintf("problem: reading stopped early, the rest of the bundle was not read: %v (%s read)", l.stopped, fmtBytes(l.budget.used)))
	}
	// Member names and file contents are quoted in these lines, which go to a terminal.
	for i, m := range l.res.Missing {
		l.res.Missing[i] = termsafe.String(m)
	}
	return &l.res, nil
}

// decodeENIs decodes the kept /v1/enis body with the bundle's time as "now", so addresses
// released shortly before collection count as cooling down, as they did on the node.
func (l *loader) decodeENIs() {
	st, err := ipamd.DecodeENIsAt(l.enisBody, l.st.Time, l.cooldown())
	if err != nil {
		l.miss(pENIs, fmt.Sprintf("%s: %v", l.enisName, err))
		return
	}
	if l.st.IPAMD != nil {
		st.ENIConfig, st.Env, st.NetworkUtilsEnv = l.st.IPAMD.ENIConfig, l.st.IPAMD.Env, l.st.IPAMD.NetworkUtilsEnv
	}
	l.st.IPAMD = st
	l.got(pENIs)
}

// cooldown is the node's IP_COOLDOWN_PERIOD: the aws-node env's when the bundle holds a whole
// number of seconds there, else ipamd's default (ipamd reads it the same way: getCooldownPeriod
// in pkg/ipamd/datastore/data_store.go, v1.23.0; zero or less means no cooldown).
func (l *loader) cooldown() time.Duration {
	if n, err := strconv.Atoi(strings.TrimSpace(l.cniEnv["IP_COOLDOWN_PERIOD"])); err == nil {
		return time.Duration(min(n, 1<<20)) * time.Second
	}
	return ipamd.DefaultCooldown
}
