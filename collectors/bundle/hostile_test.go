package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// archiveMember is one member of a hand-made archive.
type archiveMember struct {
	name string
	body []byte
	pax  map[string]string
}

// writeTarGz writes members into a .tar.gz under a temporary directory and returns its path.
func writeTarGz(t *testing.T, members []archiveMember) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(m.body)), PAXRecords: m.pax}
		if m.pax != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "bundle.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// gzipOf compresses n bytes made of repeated line.
func gzipOf(t *testing.T, line string, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat(line, max(1, (64<<10)/len(line))))
	for written := 0; written < n; written += len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	exhaustedLine = `{"level":"error","ts":"2026-11-26T02:13:00.000Z","caller":"ipamd/ipamd.go:801","msg":"Failed to increase pool size: api error InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses."}` + "\n"
	poolEmptyLine = `{"level":"error","ts":"2026-11-26T01:00:00.000Z","caller":"rpc/rpc.go:1","msg":"AssignPodIPAddress: DataStore has no available IP/Prefix addresses"}` + "\n"
	enisJSON      = `{"0":{"TotalIPs":1,"AssignedIPs":0,"ENIs":{"eni-0a1b2c3d4e5f60718":{"ID":"eni-0a1b2c3d4e5f60718","IsPrimary":true,"DeviceNumber":0,"AvailableIPv4Cidrs":{}}}}}`
)

func logBytes(res *Result) uint64 {
	var n uint64
	if res.State.Logs != nil {
		for _, f := range res.State.Logs.Files {
			n += f.Bytes
		}
	}
	return n
}

func missingWith(res *Result, sub string) bool {
	for _, m := range res.Missing {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// Gzipped logs inside the archive count what they inflate to against the one decompression
// budget: ten rotated logs of 32 MiB each stop at a 64 MiB budget, and the result says so.
func TestLoadGzippedLogsCountAgainstBudget(t *testing.T) {
	t.Parallel()
	members := []archiveMember{{name: "./ipamd/enis.json", body: []byte(enisJSON)}}
	inner := gzipOf(t, exhaustedLine, 32<<20)
	for i := range 10 {
		members = append(members, archiveMember{name: fmt.Sprintf("./var_log/aws-routed-eni/ipamd-2026-11-26T0%d-00-00.000.log.gz", i), body: inner})
	}
	const budget = 64 << 20
	res, err := Load(context.Background(), writeTarGz(t, members), Options{MaxTotal: budget})
	if err != nil {
		t.Fatal(err)
	}
	if got := logBytes(res); got > budget {
		t.Errorf("classified %d MiB of inflated logs, budget %d MiB", got>>20, budget>>20)
	}
	if !errors.Is(res.Stopped, ErrLimit) || !strings.Contains(res.Stopped.Error(), "decompression budget (MaxTotal) of 64 MiB") {
		t.Errorf("Stopped = %v, want the decompression budget named", res.Stopped)
	}
	if !missingWith(res, "reading stopped early") || !missingWith(res, "MaxTotal") {
		t.Errorf("the report does not say reading stopped at the budget: %v", res.Missing)
	}
	if res.State.IPAMD == nil || len(res.State.IPAMD.ENIs) != 1 {
		t.Errorf("what was read before the budget ran out is lost: %+v", res.State.IPAMD)
	}
}

// A limit reached before anything recognisable was read is named in the "not a bundle" error.
func TestLoadNotBundleNamesTheLimit(t *testing.T) {
	t.Parallel()
	var members []archiveMember
	for i := range 5 {
		members = append(members, archiveMember{name: fmt.Sprintf("./junk/%d", i), body: []byte("x")})
	}
	members = append(members, archiveMember{name: "./ipamd/enis.json", body: []byte(enisJSON)})
	p := writeTarGz(t, members)
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{MaxMembers: 3}, "members (MaxMembers) of 3 reached"},
		{Options{Timeout: time.Nanosecond}, "time (Timeout) of 1ns reached"},
		{Options{MaxTotal: 1024}, "decompression budget (MaxTotal) of 1 KiB reached"},
	} {
		_, err := Load(context.Background(), p, c.opts)
		if !errors.Is(err, ErrNotBundle) || !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want ErrNotBundle naming %q", c.opts, err, c.want)
		}
	}
	// Without a limit the same archive is a bundle.
	if _, err := Load(context.Background(), p, Options{}); err != nil {
		t.Errorf("no limit: %v", err)
	}
}

// The caller's cancel (Ctrl-C) ends Load with an error instead of a partial result.
func TestLoadCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, p := range []string{"testdata/eks-log-collector", tarGz(t, "testdata/eks-log-collector", nil)} {
		if res, err := Load(ctx, p, Options{}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Load after cancel = %v, %v; want context.Canceled", p, res, err)
		}
	}
}

// Hostile member names (long PAX names, many refusals) cost bounded memory: names are cut to
// a fragment, at most maxProblems problems are kept and the rest counted.
func TestLoadBoundsNamesAndProblems(t *testing.T) {
	t.Parallel()
	members := []archiveMember{{name: "./ipamd/enis.json", body: []byte(enisJSON)}}
	long := strings.Repeat("n", 512<<10)
	for i := range 100 {
		name := fmt.Sprintf("../%03d/%s", i, long) // traversal: refused, and named in the problem
		members = append(members, archiveMember{name: name, body: nil, pax: map[string]string{"path": name}})
	}
	for i := range 1000 {
		members = append(members, archiveMember{name: fmt.Sprintf("/abs/%d", i), body: []byte("x")})
	}
	res, err := Load(context.Background(), writeTarGz(t, members), Options{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range res.Missing {
		total += len(m)
		if len(m) > 1024 {
			t.Errorf("a report line of %d bytes: %.200s...", len(m), m)
		}
	}
	if len(res.Missing) > maxProblems+len(pieceNames)+2 {
		t.Errorf("%d report lines, want at most %d problems plus the pieces", len(res.Missing), maxProblems)
	}
	if total > 64<<10 {
		t.Errorf("report holds %d KiB of text", total>>10)
	}
	if !missingWith(res, "more problems not listed") || !missingWith(res, "... (524295 bytes): name longer than 4096 bytes refused") {
		t.Errorf("the report does not say problems were cut or how long a name was: %v", res.Missing[len(res.Missing)-3:])
	}
}

// Member names cost archive/tar far more per byte than inflating: past 64 MiB of names and
// PAX records, reading stops and says why.
func TestLoadStopsAtHeaderBytes(t *testing.T) {
	t.Parallel()
	var members []archiveMember
	long := strings.Repeat("n", 1000<<10)
	for i := range 80 {
		name := fmt.Sprintf("./junk/%03d/%s", i, long)
		members = append(members, archiveMember{name: name, pax: map[string]string{"path": name}})
	}
	members = append(members, archiveMember{name: "./ipamd/enis.json", body: []byte(enisJSON)})
	_, err := Load(context.Background(), writeTarGz(t, members), Options{})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "member names and headers of 64 MiB reached") {
		t.Errorf("err = %v, want the header limit named", err)
	}
}

// The newest part of a log over MaxLogBytes is classified, and the report says so: the
// subnet running out at the end of the log is what the bundle must show, not the
// ip_pool_empty lines of an hour before.
func TestLoadLongLogKeepsNewestPart(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	old := strings.Repeat(poolEmptyLine, (3*limit)/len(poolEmptyLine))
	newest := strings.Repeat(exhaustedLine, (limit/2)/len(exhaustedLine))
	plain := old + newest

	dir := t.TempDir()
	logDir := filepath.Join(dir, "var_log", "aws-routed-eni")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logDir, "ipamd.log"), []byte(plain), 0o644); err != nil {
		t.Fatal(err)
	}
	var gzLog bytes.Buffer
	zw := gzip.NewWriter(&gzLog)
	_, _ = zw.Write([]byte(plain))
	_ = zw.Close()

	for name, p := range map[string]string{
		"directory": dir,
		"tar.gz":    writeTarGz(t, []archiveMember{{name: "./var_log/aws-routed-eni/ipamd.log", body: []byte(plain)}}),
		"log.gz":    writeTarGz(t, []archiveMember{{name: "./var_log/aws-routed-eni/ipamd-2026-11-26T02-14-00.000.log.gz", body: gzLog.Bytes()}}),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := Load(context.Background(), p, Options{MaxLogBytes: limit})
			if err != nil {
				t.Fatal(err)
			}
			cls := res.State.Logs.Classes
			if got := cls["subnet_exhausted"].Total; got != uint64(strings.Count(newest, "\n")) {
				t.Errorf("subnet_exhausted = %d, want every line of the newest part (%d)", got, strings.Count(newest, "\n"))
			}
			// At most a quarter of the limit (one segment) of older lines may remain.
			if got := cls["ip_pool_empty"].Total; got > uint64(limit/len(poolEmptyLine)) {
				t.Errorf("ip_pool_empty = %d: more than the limit's worth of the oldest lines counted", got)
			}
			if !missingWith(res, "MaxLogBytes") || !missingWith(res, "newest") {
				t.Errorf("the report does not say the log was cut to its newest part: %v", res.Missing)
			}
		})
	}
}

// The bundle path may be a symbolic link (to a directory or an archive); links inside are
// still not followed.
func TestLoadThroughSymlink(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("testdata/eks-log-collector")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, target := range map[string]string{"dir-link": abs, "tgz-link": tarGz(t, "testdata/eks-log-collector", nil)} {
		link := filepath.Join(dir, name)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		res, err := Load(context.Background(), link, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkNewLayout(t, res)
	}
}

// Only directories and regular files are bundles: a FIFO or a device would block or never end.
func TestLoadRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo.tar.gz")
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		if _, err := Load(context.Background(), p, Options{}); err == nil || !strings.Contains(err.Error(), "not a directory or a regular file") {
			t.Errorf("%s: err = %v", p, err)
		}
	}
}

// A sparse member's holes cost no input bytes; it is refused instead of inflated.
func TestLoadRefusesSparseMembers(t *testing.T) {
	t.Parallel()
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar")
	}
	dir := t.TempDir()
	logDir := filepath.Join(dir, "b", "var_log", "aws-routed-eni")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "b", "ipamd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b", "ipamd", "enis.json"), []byte(enisJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(logDir, "ipamd.log"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(exhaustedLine), 64<<30); err != nil { // 64 GiB, one line at the end
		t.Fatal(err)
	}
	_ = f.Close()
	out := filepath.Join(dir, "sparse.tar.gz")
	if b, err := exec.Command(tarBin, "--sparse", "--format=posix", "-C", filepath.Join(dir, "b"), "-czf", out, ".").CombinedOutput(); err != nil {
		t.Skipf("tar --sparse: %v: %s", err, b)
	}
	res, err := Load(context.Background(), out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !missingWith(res, "sparse file refused") || logBytes(res) != 0 {
		t.Errorf("sparse member read (%d bytes) or not reported: %v", logBytes(res), res.Missing)
	}
}

func TestCooldownFromEnv(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"": 30 * time.Second, "60": time.Minute, "0": 0, "x": 30 * time.Second} {
		l := newLoader(context.Background(), Options{})
		if v != "" {
			l.cniEnv = map[string]string{"IP_COOLDOWN_PERIOD": v}
		}
		if got := l.cooldown(); got != want {
			t.Errorf("IP_COOLDOWN_PERIOD=%q: %s, want %s", v, got, want)
		}
	}
}

// Impossible samples in the bundle's metrics.json are refused and named in the report.
func TestLoadMetricsDroppedSamples(t *testing.T) {
	t.Parallel()
	metrics := "awscni_eni_max NaN\nawscni_ip_max 27\nawscni_no_available_ip_addresses 1e300\n"
	res, err := Load(context.Background(), writeTarGz(t, []archiveMember{{name: "./ipamd/metrics.json", body: []byte(metrics)}}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.State.CNI == nil || res.State.CNI.ENIMax != nil || res.State.CNI.NoAvailableIPTotal != nil || *res.State.CNI.IPMax != 27 {
		t.Errorf("CNI = %+v", res.State.CNI)
	}
	if !missingWith(res, "1 non_finite sample(s) refused") || !missingWith(res, "1 implausible sample(s) refused") {
		t.Errorf("report does not name the refused samples: %v", res.Missing)
	}
}
