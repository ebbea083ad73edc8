// Package bundle reads an EKS log-collector bundle (eks-log-collector.sh / aws-cni-support.sh),
// an extracted directory or the .tar.gz itself, into the same typed node state the live agent
// builds: ipamd introspection, CNI metrics, the aws-node env, kubelet max-pods, node facts and
// the classified ipamd/plugin logs. Missing pieces are reported, never fatal. A bundle is
// outside input: the whole load has one decompression budget (gzipped logs inside the archive
// included) and a time limit, names and quoted fragments are cut, problems are counted past
// the first hundred, and archive members that escape the bundle (absolute, "..", links,
// sparse files) are refused. Logs are classified as they stream by: memory grows with the
// logs' time span (one counter per class and minute), not with their size.
package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Options bound what Load reads. Every limit, when reached, is named in the result (or in the
// error when nothing was read before it): a bundle is outside input, often attached to a
// ticket by somebody else, and a 500 KB archive can claim terabytes once inflated.
type Options struct {
	// MaxSmallFile caps JSON/text members, which are held whole (default 16 MiB, the same as
	// a live ipamd answer); larger ones are reported and skipped.
	MaxSmallFile int64
	// MaxLogBytes caps how much of each log is classified (default 1 GiB, ten times the
	// 100 MB at which aws-node rotates ipamd.log). A longer log keeps its newest part: the
	// end of a log is what was happening when the bundle was taken.
	MaxLogBytes int64
	// MaxTotal is the decompression budget of the whole load (default 4 GiB): the bytes of
	// the tar stream after its own gzip, plus everything gzipped logs inside it inflate to,
	// plus every file read from a directory. Reading stops when it is spent.
	MaxTotal int64
	// MaxMembers caps the archive members (or directory entries) looked at (default 200,000).
	MaxMembers int
	// Timeout bounds the whole load in time (default 2 minutes); reading stops when it passes.
	Timeout time.Duration
	// Window is the span before the bundle's time that counts as recent (default 1 h).
	Window time.Duration
}

// Defaults of Options.
const (
	DefaultMaxSmallFile int64 = 16 << 20
	DefaultMaxLogBytes  int64 = 1 << 30
	DefaultMaxTotal     int64 = 4 << 30
	DefaultMaxMembers         = 200000
	DefaultTimeout            = 2 * time.Minute
)

// Limits on what the loader keeps of hostile text; not options, as no real bundle comes near.
const (
	// maxNameBytes refuses member names longer than Linux's PATH_MAX; real ones are ~60 bytes.
	maxNameBytes = 4096
	// maxProblems is how many distinct problems the result lists; the rest are counted.
	maxProblems = 100
	// fragmentBytes is how much of a hostile name or content a message quotes.
	fragmentBytes = 120
	// maxHeaderBytes bounds the member names and PAX records of a whole archive: archive/tar
	// parses each (up to 1 MiB) before the loader sees it, at a cost per byte far above
	// inflating. Real bundles hold a few thousand names of ~60 bytes.
	maxHeaderBytes = 64 << 20
)

func (o *Options) defaults() {
	if o.MaxSmallFile <= 0 {
		o.MaxSmallFile = DefaultMaxSmallFile
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = DefaultMaxLogBytes
	}
	if o.MaxTotal <= 0 {
		o.MaxTotal = DefaultMaxTotal
	}
	if o.MaxMembers <= 0 {
		o.MaxMembers = DefaultMaxMembers
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Window <= 0 {
		o.Window = time.Hour
	}
}

// Result is what a bundle holds.
type Result struct {
	State nodestate.State
	// Layout is "eks-log-collector" or "aws-cni-support" (pre-2020), or "unknown".
	Layout string
	// Found lists the pieces read, Missing the pieces looked for and absent or unusable (with
	// why), then the problems met on the way (refused members, limits reached). Every entry
	// is escaped for a terminal (termsafe).
	Found   []string
	Missing []string
	// Stopped is the limit that ended reading early (a *LimitError), nil if the bundle was
	// read to its end.
	Stopped error
}

// Piece names.
const (
	pENIs        = "ipamd enis"
	pENIConfig   = "ipamd eni-configs"
	pIPAMDEnv    = "ipamd env settings"
	pNetUtilsEnv = "ipamd networkutils env settings"
	pMetrics     = "CNI metrics"
	pIPAMDLog    = "ipamd.log"
	pPluginLog   = "plugin.log"
	pKubelet     = "kubelet max-pods"
	pAWSNodeEnv  = "aws-node container env"
	pInstance    = "instance facts"
)

// pieceNames lists the pieces in report order.
var pieceNames = []string{pENIs, pENIConfig, pIPAMDEnv, pNetUtilsEnv, pMetrics, pIPAMDLog, pPluginLog, pKubelet, pAWSNodeEnv, pInstance}

// ErrNotBundle is returned when a path holds nothing a bundle would.
var ErrNotBundle = errors.New("not an EKS log-collector bundle: none of ipamd/, var_log/aws-routed-eni/, kubelet/, cni/ or the aws-cni-support files found")

// ErrLimit is what every *LimitError matches with errors.Is.
var ErrLimit = errors.New("bundle limit reached")

// LimitError names the limit of Options that stopped reading, and its value.
type LimitError struct {
	Limit string // "decompression budget (MaxTotal)", "time (Timeout)", "members (MaxMembers)"
	Value string // the limit's value, e.g. "4 GiB"
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s of %s reached", e.Limit, e.Value)
}

// Is makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// Load reads the bundle at p: a directory, or a .tar.gz / .tgz / .tar file. p may be a
// symbolic link (to either); links inside the bundle are never followed. When ctx ends
// (Ctrl-C), Load returns its error; when one of opts' limits is reached, the result holds
// what was read until then and says so in Stopped and Missing.
func Load(ctx context.Context, p string, opts Options) (*Result, error) {
	opts.defaults()
	// The path the user gave is resolved once: a link to the bundle is theirs to make.
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("bundle %s: not a directory or a regular file (%s)", p, fi.Mode().Type())
	}
	ctx, cancel := context.WithTimeoutCause(ctx, opts.Timeout, &LimitError{Limit: "time (Timeout)", Value: opts.Timeout.String()})
	defer cancel()
	l := newLoader(ctx, opts)
	if fi.IsDir() {
		err = l.walkDir(resolved)
	} else {
		err = l.readArchive(resolved)
	}
	if err == nil {
		err = l.interrupted()
	}
	if err != nil {
		return nil, err
	}
	return l.finish()
}

// kind says what an archive member is.
type kind int

const (
	kNone kind = iota
	kENIs
	kENIConfig
	kIPAMDEnv
	kNetUtilsEnv
	kMetrics
	kIPAMDLog
	kPluginLog
	kKubeletConfig
	kKubeletService
	kCNIVars
	kInstanceID
	kRegion
	kAZ
)

var (
	rotatedIPAMD  = regexp.MustCompile(`^ipamd(-[0-9TZ:.\-]+)?\.log(\.gz)?$`)
	rotatedPlugin = regexp.MustCompile(`^plugin(-[0-9TZ:.\-]+)?\.log(\.gz)?$`)
)

// classify maps a cleaned, slash-separated member path to its kind and whether it is one of
// the pre-2020 aws-cni-support files.
func classify(p string) (kind, bool) {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	parent := path.Base(dir)
	switch {
	case parent == "ipamd" && base == "enis.json":
		return kENIs, false
	case parent == "ipamd" && base == "eni-configs.json":
		return kENIConfig, false
	case parent == "ipamd" && base == "ipamd-env-settings.json":
		return kIPAMDEnv, false
	case parent == "ipamd" && base == "networkutils-env-settings.json":
		return kNetUtilsEnv, false
	case parent == "ipamd" && base == "metrics.json":
		return kMetrics, false
	case parent == "kubelet" && (base == "kubelet-config.json" || base == "config.json"):
		return kKubeletConfig, false
	case parent == "kubelet" && base == "kubelet_service.txt":
		return kKubeletService, false
	case parent == "cni" && base == "cni-configuration-variables-containerd.json":
		return kCNIVars, false
	case parent == "system" && base == "instance-id.txt":
		return kInstanceID, false
	case parent == "system" && base == "region.txt":
		return kRegion, false
	case parent == "system" && base == "availability-zone.txt":
		return kAZ, false
	case parent == "aws-routed-eni" && rotatedIPAMD.MatchString(base):
		return kIPAMDLog, false
	case parent == "aws-routed-eni" && rotatedPlugin.MatchString(base):
		return kPluginLog, false
	}
	// Pre-2020 aws-cni-support.sh wrote these next to the logs.
	switch base {
	case "eni.out":
		return kENIs, true
	case "eni-configs.out":
		return kENIConfig, true
	case "ipamd-env.out":
		return kIPAMDEnv, true
	case "networkutils-env.out":
		return kNetUtilsEnv, true
	case "metrics.out":
		return kMetrics, true
	}
	return kNone, false
}

// cleanMember validates an archive member name: relative, no "..", no NUL, not absurdly long.
func cleanMember(name string) (string, error) {
	if len(name) > maxNameBytes {
		return "", fmt.Errorf("member %s: name longer than %d bytes refused", fragment(name), maxNameBytes)
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("member %s: name with NUL byte refused", fragment(name))
	}
	n := strings.TrimPrefix(filepath.ToSlash(name), "./")
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("member %s: absolute path refused", fragment(name))
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("member %s: path traversal refused", fragment(name))
		}
	}
	return path.Clean(n), nil
}

// fragment quotes at most fragmentBytes of hostile text (a name, a file's content) for a
// message, saying how long the whole was when it is cut.
func fragment(s string) string {
	if len(s) <= fragmentBytes {
		return strconv.Quote(s)
	}
	cut := fragmentBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

func (l *loader) readArchive(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("bundle %s: %w", p, err)
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(l.budget.reader(r))
	members := 0
	var headerBytes int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if l.stop(err) {
				break
			}
			if members == 0 {
				return fmt.Errorf("bundle %s: not a tar archive: %w", p, err)
			}
			l.problem(fmt.Sprintf("archive truncated or corrupt after %d members: %v", members, err))
			break
		}
		members++
		headerBytes += int64(len(h.Name) + len(h.Linkname))
		for k, v := range h.PAXRecords {
			if k != "path" && k != "linkpath" { // those are Name and Linkname
				headerBytes += int64(len(k) + len(v))
			}
		}
		if headerBytes > maxHeaderBytes {
			l.stop(&LimitError{Limit: "member names and headers", Value: fmtBytes(maxHeaderBytes)})
			break
		}
		if members > l.opts.MaxMembers {
			l.stop(&LimitError{Limit: "members (MaxMembers)", Value: strconv.Itoa(l.opts.MaxMembers)})
			break
		}
		//nolint:staticcheck // TypeRegA ("\x00") still appears in archives written by old tar implementations
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
			continue // directories, and links: never followed
		}
		name, err := cleanMember(h.Name)
		if err != nil {
			l.problem(err.Error())
			continue
		}
		if isSparse(h) {
			// A sparse member's holes read as zeros that cost no input bytes: a small archive
			// could claim terabytes of log. Collector bundles are never written with --sparse.
			l.problem(fmt.Sprintf("member %s: sparse file refused", fragment(name)))
			continue
		}
		l.member(name, h.Size, tr, nil)
		if l.stopped != nil {
			break
		}
	}
	return nil
}

// isSparse reports a GNU or PAX sparse member.
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func (l *loader) walkDir(root string) error {
	entries := 0
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if l.stopped != nil {
			return fs.SkipAll
		}
		if cerr := l.budget.check(); cerr != nil {
			l.stop(cerr)
			return fs.SkipAll
		}
		if err != nil {
			l.problem(fmt.Sprintf("reading %s: %v", fragment(p), err))
			return nil
		}
		entries++
		if entries > l.opts.MaxMembers {
			l.stop(&LimitError{Limit: "members (MaxMembers)", Value: strconv.Itoa(l.opts.MaxMembers)})
			return fs.SkipAll
		}
		if !d.Type().IsRegular() {
			return nil // links are not followed
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil
		}
		name, err := cleanMember(rel)
		if err != nil {
			l.problem(err.Error())
			return nil
		}
		k, _ := classify(name)
		if k == kNone {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			l.problem(fmt.Sprintf("reading %s: %v", fragment(name), err))
			return nil
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil
		}
		l.member(name, fi.Size(), l.budget.reader(f), f)
		return nil
	})
}

// budget is what one Load may spend: decompressed bytes and time (the context's deadline).
// Every byte the loader reads passes through one of its readers.
type budget struct {
	ctx   context.Context
	used  int64
	limit int64
}

// charge counts n bytes read and returns the limit reached, if any.
func (b *budget) charge(n int) error {
	b.used += int64(n)
	if b.used > b.limit {
		return &LimitError{Limit: "decompression budget (MaxTotal)", Value: fmtBytes(b.limit)}
	}
	return b.check()
}

// check returns the context's cause once it is done: the time limit, or the caller's cancel.
func (b *budget) check() error {
	if b.ctx.Err() != nil {
		return context.Cause(b.ctx)
	}
	return nil
}

func (b *budget) reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r io.Reader
	b *budget
}

func (br *budgetReader) Read(p []byte) (int, error) {
	if err := br.b.check(); err != nil {
		return 0, err
	}
	if br.b.used >= br.b.limit {
		return 0, br.b.charge(1)
	}
	// Never read past the budget: an inflating reader must not produce more than is left.
	if left := br.b.limit - br.b.used; int64(len(p)) > left {
		p = p[:left+1]
	}
	n, err := br.r.Read(p)
	if cerr := br.b.charge(n); cerr != nil {
		return n, cerr
	}
	return n, err
}

// fmtBytes renders a byte count with a binary unit when it is a whole number of one.
func fmtBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// readSmall reads a member up to the small-file limit.
func (l *loader) readSmall(name string, size int64, r io.Reader) ([]byte, bool) {
	if size > l.opts.MaxSmallFile {
		l.problem(fmt.Sprintf("%s: %d bytes, over the %s limit (MaxSmallFile); skipped", name, size, fmtBytes(l.opts.MaxSmallFile)))
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(r, l.opts.MaxSmallFile+1))
	if err != nil {
		if !l.stop(err) {
			l.problem(fmt.Sprintf("%s: %v", name, err))
		}
		return nil, false
	}
	if int64(len(b)) > l.opts.MaxSmallFile {
		l.problem(fmt.Sprintf("%s: over the %s limit (MaxSmallFile); skipped", name, fmtBytes(l.opts.MaxSmallFile)))
		return nil, false
	}
	return b, true
}

// usable reports whether a curl'd introspection file holds an answer: the collector writes
// with `curl --silent >>` and no --fail, so files may be empty or hold "404 page not found".
func usable(b []byte) (bool, string) {
	t := bytes.TrimSpace(b)
	switch {
	case len(t) == 0:
		return false, "empty"
	case bytes.HasPrefix(t, []byte("404 page not found")):
		return false, "404 page not found"
	case bytes.HasPrefix(t, []byte("curl:")) || bytes.Contains(t[:min(len(t), 200)], []byte("Connection refused")):
		return false, whyUnreachable
	}
	return true, ""
}

// whyUnreachable is usable's reason for a file holding curl's connection error.
const whyUnreachable = "collector could not reach the endpoint"

var maxPodsFlag = regexp.MustCompile(`--max-pods[= ]([0-9]+)`)

// kubeletMaxPods reads maxPods from a kubelet config JSON (AL2 kubelet-config.json, AL2023 config.json).
func kubeletMaxPods(b []byte) (int, error) {
	var cfg struct {
		MaxPods *int `json:"maxPods"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return 0, err
	}
	if cfg.MaxPods == nil {
		return 0, errors.New("no maxPods field")
	}
	return *cfg.MaxPods, nil
}

func kubeletServiceMaxPods(b []byte) (int, bool) {
	m := maxPodsFlag.FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	v, err := strconv.Atoi(string(m[1]))
	return v, err == nil
}

// LogInput is one log to diagnose on its own: its name (the kind comes from it: a name with
// "plugin" is plugin.log, anything else ipamd.log) and its content, plain or gzip.
type LogInput struct {
	Name string
	R    io.Reader
}

// LoadLogs reads logs without a bundle around them (`ipamwatch diagnose --log`): a pasted
// excerpt, an ipamd.log or plugin.log, a rotated .gz. The state holds only the classified
// logs; "now" is the newest line's time. Gzip is recognised by its magic bytes, so stdin
// may be either. The same limits as Load apply.
func LoadLogs(ctx context.Context, logs []LogInput, opts Options) (*Result, error) {
	opts.defaults()
	if len(logs) == 0 {
		return nil, errors.New("no log to read")
	}
	ctx, cancel := context.WithTimeoutCause(ctx, opts.Timeout, &LimitError{Limit: "time (Timeout)", Value: opts.Timeout.String()})
	defer cancel()
	l := newLoader(ctx, opts)
	for _, in := range logs {
		br := bufio.NewReader(in.R)
		name := in.Name
		if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b && !strings.HasSuffix(name, ".gz") {
			name += ".gz"
		}
		k := kIPAMDLog
		if strings.Contains(path.Base(in.Name), "plugin") {
			k = kPluginLog
		}
		l.logHits++
		l.readLog(name, k, -1, l.budget.reader(br), nil)
	}
	if err := l.interrupted(); err != nil {
		return nil, err
	}
	return l.finish()
}
