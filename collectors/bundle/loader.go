package bundle

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/collectors/cnimetrics"
	"github.com/ipamwatch/ipamwatch/collectors/ipamd"
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

	classes  map[logparse.Class]*classAcc
	latest   time.Time // latest timestamp seen in any log line
	earliest time.Time // earliest timestamp seen in any log line
	// lineTime is the time of the last dated line of the log being read (zero before the
	// first one): the time an undated line is counted at.
	lineTime   time.Time
	hypervisor string // "xen" when ipamd said the instance is not Nitro
	logFiles   []nodestate.LogFile
	problems   []string
}

func newLoader(opts Options) *loader {
	l := &loader{opts: opts, found: map[string]bool{}, why: map[string]string{}, classes: map[logparse.Class]*classAcc{}}
	l.st = &l.res.State
	l.st.Sources = map[string]nodestate.SourceStatus{}
	return l
}

func (l *loader) problem(s string) { l.problems = append(l.problems, s) }

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

// member handles one file of the bundle.
func (l *loader) member(name string, size int64, r io.Reader) {
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
		l.readLog(name, k, r)
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
				l.ipamdDown = name + ": " + strings.TrimSpace(string(b[:min(len(b), 200)]))
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

// readLog classifies a log member as it streams by (gzip for rotated backups).
func (l *loader) readLog(name string, k kind, r io.Reader) {
	piece := pIPAMDLog
	if k == kPluginLog {
		piece = pPluginLog
	}
	lf := nodestate.LogFile{Path: name, Readable: true}
	if strings.HasSuffix(name, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			lf.Readable, lf.Err = false, err.Error()
			l.logFiles = append(l.logFiles, lf)
			l.problem(fmt.Sprintf("%s: %v", name, err))
			return
		}
		defer gz.Close()
		r = gz
	}
	clf := logparse.NewClassifier()
	l.lineTime = time.Time{} // undated lines count near the dated lines of their own file
	st, err := logparse.ReadLines(io.LimitReader(r, l.opts.MaxLogBytes), 0, func(_ uint64, line []byte) error {
		l.observe(clf, line)
		return nil
	})
	lf.Lines, lf.Bytes = st.Lines, st.Bytes
	if err != nil {
		lf.Err = err.Error()
		l.problem(fmt.Sprintf("%s: %v", name, err))
	}
	l.logFiles = append(l.logFiles, lf)
	l.got(piece)
}

func (l *loader) observe(clf *logparse.Classifier, line []byte) {
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
	a := l.classes[ev.Class]
	if a == nil {
		a = &classAcc{}
		l.classes[ev.Class] = a
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

	all := []string{pENIs, pENIConfig, pIPAMDEnv, pNetUtilsEnv, pMetrics, pIPAMDLog, pPluginLog, pKubelet, pAWSNodeEnv, pInstance}
	for _, p := range all {
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
	sort.Strings(l.problems)
	for _, p := range sortedUnique(l.problems) {
		l.res.Missing = append(l.res.Missing, "problem: "+p)
	}
	return &l.res, nil
}

// decodeENIs decodes the kept /v1/enis body with the bundle's time as "now", so addresses
// released shortly before collection count as cooling down, as they did on the node.
func (l *loader) decodeENIs() {
	st, err := ipamd.DecodeENIsAt(l.enisBody, l.st.Time, 30*time.Second)
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
