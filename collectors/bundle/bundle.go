// Package bundle reads an EKS log-collector bundle (eks-log-collector.sh / aws-cni-support.sh),
// an extracted directory or the .tar.gz itself, into the same typed node state the live agent
// builds: ipamd introspection, CNI metrics, the aws-node env, kubelet max-pods, node facts and
// the classified ipamd/plugin logs. Missing pieces are reported, never fatal. Every read is
// size-bounded, archive members that escape the bundle (absolute, "..", links) are refused,
// and logs are classified as they stream by: memory grows with the logs' time span (one
// counter per class and minute), not with their size.
package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Options bound what Load reads.
type Options struct {
	// MaxSmallFile caps JSON/text members (default 32 MiB); larger ones are reported and skipped.
	MaxSmallFile int64
	// MaxLogBytes caps how much of each log member is classified (default 2 GiB).
	MaxLogBytes int64
	// MaxTotal caps the uncompressed bytes read from an archive (default 8 GiB).
	MaxTotal int64
	// MaxMembers caps the number of archive members (default 200,000).
	MaxMembers int
	// Window is the span before the bundle's time that counts as recent (default 1 h).
	Window time.Duration
}

func (o *Options) defaults() {
	if o.MaxSmallFile <= 0 {
		o.MaxSmallFile = 32 << 20
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = 2 << 30
	}
	if o.MaxTotal <= 0 {
		o.MaxTotal = 8 << 30
	}
	if o.MaxMembers <= 0 {
		o.MaxMembers = 200000
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
	// Found lists the pieces read, Missing the pieces looked for and absent or unusable (with why).
	Found   []string
	Missing []string
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

// ErrNotBundle is returned when a path holds nothing a bundle would.
var ErrNotBundle = errors.New("not an EKS log-collector bundle: none of ipamd/, var_log/aws-routed-eni/, kubelet/, cni/ or the aws-cni-support files found")

// Load reads the bundle at p: a directory, or a .tar.gz / .tgz / .tar file.
func Load(p string, opts Options) (*Result, error) {
	opts.defaults()
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	l := newLoader(opts)
	if fi.IsDir() {
		err = l.walkDir(p)
	} else {
		err = l.readArchive(p)
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

// cleanMember validates an archive member name: relative, no "..", no NUL.
func cleanMember(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("member name with NUL byte refused")
	}
	n := strings.TrimPrefix(filepath.ToSlash(name), "./")
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("member %q: absolute path refused", name)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("member %q: path traversal refused", name)
		}
	}
	return path.Clean(n), nil
}

func (l *loader) readArchive(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 256<<10)
	br := r.(*bufio.Reader)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("bundle %s: %w", p, err)
		}
		defer gz.Close()
		r = gz
	}
	counted := &countingReader{r: r, limit: l.opts.MaxTotal}
	tr := tar.NewReader(counted)
	members := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if members == 0 {
				return fmt.Errorf("bundle %s: not a tar archive: %w", p, err)
			}
			l.problem(fmt.Sprintf("archive truncated or corrupt after %d members: %v", members, err))
			break
		}
		members++
		if members > l.opts.MaxMembers {
			l.problem(fmt.Sprintf("archive has more than %d members; the rest were not read", l.opts.MaxMembers))
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
		l.member(name, h.Size, tr)
	}
	return nil
}

func (l *loader) walkDir(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			l.problem(fmt.Sprintf("reading %s: %v", p, err))
			return nil
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
			l.problem(fmt.Sprintf("reading %s: %v", name, err))
			return nil
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil
		}
		l.member(name, fi.Size(), f)
		return nil
	})
}

type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= c.limit {
		return 0, fmt.Errorf("bundle larger than %d uncompressed bytes", c.limit)
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readSmall reads a member up to the small-file limit.
func (l *loader) readSmall(name string, size int64, r io.Reader) ([]byte, bool) {
	if size > l.opts.MaxSmallFile {
		l.problem(fmt.Sprintf("%s: %d bytes, over the %d-byte limit; skipped", name, size, l.opts.MaxSmallFile))
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(r, l.opts.MaxSmallFile+1))
	if err != nil {
		l.problem(fmt.Sprintf("%s: %v", name, err))
		return nil, false
	}
	if int64(len(b)) > l.opts.MaxSmallFile {
		l.problem(fmt.Sprintf("%s: over the %d-byte limit; skipped", name, l.opts.MaxSmallFile))
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

func sortedUnique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
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
// may be either.
func LoadLogs(logs []LogInput, opts Options) (*Result, error) {
	opts.defaults()
	if len(logs) == 0 {
		return nil, errors.New("no log to read")
	}
	l := newLoader(opts)
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
		l.readLog(name, k, br)
	}
	return l.finish()
}
