package adversarial_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The CLI's goals on any bundle under 100 MB (docs/performance.md): peak RSS under 256 MiB,
// CPU time under 30 s. CPU time is what the kernel accounted to the process (rusage), not
// the wall clock.
const (
	cliRSSCap = 256 * mib
	cliCPUCap = 30 * time.Second
)

// gz compresses b into one complete gzip member. gzip readers read concatenated members as
// one stream, so a big archive is built from a few members compressed once and repeated.
func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarHeader returns the header blocks of one regular member of size bytes.
func tarHeader(t *testing.T, name string, size int64, pax map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: time.Unix(1795746000, 0), PAXRecords: pax}
	if pax != nil {
		h.Format = tar.FormatPAX
	}
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes() // the member's data is not written: only its header is wanted
}

// padding returns the zero bytes that end a member of size bytes on a 512-byte block.
func padding(size int64) []byte { return make([]byte, (512-size%512)%512) }

// archive writes gzip members into a file and returns its path and size. With
// IPAMWATCH_ADVERSARIAL_KEEP set to a directory the archives are written there and kept, to
// measure them again by hand (`/usr/bin/time -v ipamwatch diagnose --bundle FILE`).
func archive(t *testing.T, name string, parts ...[]byte) (string, int64) {
	t.Helper()
	dir := os.Getenv("IPAMWATCH_ADVERSARIAL_KEEP")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, b := range parts {
		k, err := f.Write(b)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(k)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, n
}

// member returns a whole small member (header, data, padding), uncompressed.
func member(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	b := tarHeader(t, name, int64(len(data)), nil)
	b = append(b, data...)
	return append(b, padding(int64(len(data)))...)
}

// trailer is the end of a tar archive.
var trailer = make([]byte, 1024)

const (
	exhaustedLine = `{"level":"error","ts":"2026-11-26T02:13:00.000Z","caller":"ipamd/ipamd.go:801","msg":"Failed to increase pool size: api error InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses."}` + "\n"
	poolEmptyLine = `{"level":"error","ts":"2026-11-26T01:00:00.000Z","caller":"rpc/rpc.go:1","msg":"AssignPodIPAddress: DataStore has no available IP/Prefix addresses"}` + "\n"
	enisJSON      = `{"0":{"TotalIPs":9,"AssignedIPs":1,"ENIs":{"eni-0a1b2c3d4e5f60718":{"ID":"eni-0a1b2c3d4e5f60718","IsPrimary":true,"AvailableIPv4Cidrs":{"10.0.0.5/32":{"IPAddresses":{"10.0.0.5":{"IPAMKey":{"networkName":"aws-cni"}}}}}}}}}`
)

// lines returns about n bytes of whole copies of line.
func lines(line string, n int) []byte {
	return bytes.Repeat([]byte(line), max(1, n/len(line)))
}

// checkGoals asserts the CLI goals and logs the measurements for docs/performance.md.
func checkGoals(t *testing.T, what string, size int64, r cliRun) {
	t.Helper()
	t.Logf("%s: %.1f MB input, exit %d, peak RSS %d MiB, CPU %.1f s", what, float64(size)/1e6, r.code, r.maxRSS/mib, r.cpu.Seconds())
	if r.maxRSS > cliRSSCap {
		t.Errorf("%s: peak RSS %d MiB, goal under %d MiB", what, r.maxRSS/mib, cliRSSCap/mib)
	}
	if r.cpu > cliCPUCap {
		t.Errorf("%s: %.1f s of CPU, goal under %s", what, r.cpu.Seconds(), cliCPUCap)
	}
}

// 100 rotated logs that inflate to 2 GiB each: 200 GiB of log in a small archive. Every byte
// they inflate to counts against one budget (4 GiB), and the report names it (before: 34 CPU
// minutes and counting).
func TestBundleGzipBomb(t *testing.T) {
	t.Parallel()
	const perLog = 2 << 30
	chunk := gz(t, lines(exhaustedLine, 16*mib))
	unit := int64(len(lines(exhaustedLine, 16*mib)))
	inner := bytes.Repeat(chunk, int(perLog/unit)) // a multistream .log.gz of ~2 GiB
	innerGz := gz(t, inner)
	var parts [][]byte
	for i := range 100 {
		name := fmt.Sprintf("./var_log/aws-routed-eni/ipamd-2026-11-%02dT00-00-00.000.log.gz", i%28+1)
		parts = append(parts, gz(t, tarHeader(t, name, int64(len(inner)), nil)), innerGz, gz(t, padding(int64(len(inner)))))
	}
	parts = append(parts, gz(t, trailer))
	p, size := archive(t, "eks_i-0bomb_2026-11-26_0214-UTC_0.7.8.tar.gz", parts...)
	r := runCLI(t, "diagnose", "--bundle", p)
	checkGoals(t, "gzip bomb", size, r)
	if r.code != exitCritical || !strings.Contains(r.stderr, "decompression budget (MaxTotal) of 4 GiB reached") {
		t.Errorf("exit %d; stderr does not name the decompression budget:\n%.2000s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "subnet_exhausted") {
		t.Errorf("what was read before the budget ran out is not diagnosed:\n%.2000s", r.stdout)
	}
}

// 3,000 members with names of almost 1 MiB (PAX records): 3 GiB of names. Names are refused
// past 4 KiB and quoted as 120-byte fragments, at most 100 problems are listed, and reading
// stops after 64 MiB of names, which cost archive/tar far more than inflating (before: 5 GB
// of RSS).
func TestBundleLongNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", mib-512)
	var group []byte
	for i := range 10 {
		name := fmt.Sprintf("./junk/%d/%s", i, long)
		group = append(group, tarHeader(t, name, 0, map[string]string{"path": name})...)
	}
	g := gz(t, group)
	parts := [][]byte{gz(t, member(t, "./ipamd/enis.json", []byte(enisJSON)))}
	for range 300 {
		parts = append(parts, g)
	}
	parts = append(parts, gz(t, trailer))
	p, size := archive(t, "long-names.tar.gz", parts...)
	r := runCLI(t, "diagnose", "--bundle", p)
	checkGoals(t, "3,000 PAX names of 1 MiB", size, r)
	if !ran(r.code) {
		t.Fatalf("exit %d: %.2000s", r.code, r.stderr)
	}
	lacks := strings.Count(r.stderr, "bundle lacks")
	if lacks > 120 || len(r.stderr) > 64<<10 {
		t.Errorf("stderr: %d lines, %d KiB; want the problems bounded", lacks, len(r.stderr)>>10)
	}
	if !strings.Contains(r.stderr, "member names and headers of 64 MiB reached") || !strings.Contains(r.stderr, "name longer than 4096 bytes refused") {
		t.Errorf("stderr does not say names were refused and problems cut:\n%.2000s", r.stderr)
	}
}

// A 1.25 GiB ipamd.log whose last lines say the subnet ran out: the log limit (1 GiB) keeps
// the newest part, so the critical finding stays, and the report says the log was cut
// (before: the newest lines were the ones dropped, silently).
func TestBundleLongLogKeepsNewest(t *testing.T) {
	t.Parallel()
	oldChunk := lines(poolEmptyLine, 16*mib)
	newest := lines(exhaustedLine, 8*mib)
	const oldChunks = 80 // 1.25 GiB of old lines
	size := int64(oldChunks*len(oldChunk) + len(newest))
	parts := [][]byte{gz(t, append(member(t, "./ipamd/enis.json", []byte(enisJSON)), tarHeader(t, "./var_log/aws-routed-eni/ipamd.log", size, nil)...))}
	old := gz(t, oldChunk)
	for range oldChunks {
		parts = append(parts, old)
	}
	parts = append(parts, gz(t, append(append(newest, padding(size)...), trailer...)))
	p, fileSize := archive(t, "long-log.tar.gz", parts...)
	r := runCLI(t, "diagnose", "--bundle", p)
	checkGoals(t, "1.25 GiB ipamd.log", fileSize, r)
	if !ran(r.code) {
		t.Fatalf("exit %d: %.2000s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "[CRITICAL] subnet_exhausted") {
		t.Errorf("the newest lines (subnet exhausted) were not diagnosed:\n%.3000s", r.stdout)
	}
	if !strings.Contains(r.stderr, "over the 1 GiB log limit (MaxLogBytes): only its newest 1 GiB was classified") {
		t.Errorf("stderr does not say the log was cut to its newest part:\n%.2000s", r.stderr)
	}
}

// More members than the member limit before anything a bundle holds: the "not a bundle"
// error names the limit that hid the rest.
func TestBundleTooManyMembers(t *testing.T) {
	t.Parallel()
	var group []byte
	for range 1000 {
		group = append(group, member(t, "./junk", []byte("x"))...)
	}
	g := gz(t, group)
	var parts [][]byte
	for range 201 {
		parts = append(parts, g)
	}
	parts = append(parts, gz(t, append(member(t, "./ipamd/enis.json", []byte(enisJSON)), trailer...)))
	p, size := archive(t, "many-members.tar.gz", parts...)
	r := runCLI(t, "diagnose", "--bundle", p)
	checkGoals(t, "201,000 members", size, r)
	if r.code == 0 || !strings.Contains(r.stderr, "not an EKS log-collector bundle") || !strings.Contains(r.stderr, "members (MaxMembers) of 200000 reached") {
		t.Errorf("exit %d; stderr does not name the member limit:\n%.2000s", r.code, r.stderr)
	}
}

// The bundle path may be a symlink; a device or a FIFO is refused at once instead of read
// forever.
func TestBundlePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(filepath.Join(b, "ipamd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "ipamd", "enis.json"), []byte(enisJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(b, link); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "diagnose", "--bundle", link); !ran(r.code) {
		t.Errorf("symlinked bundle: exit %d: %s", r.code, r.stderr)
	}
	for _, p := range []string{"/dev/zero", "/dev/stdin"} {
		r := runCLI(t, "diagnose", "--bundle", p)
		if r.code == 0 || !strings.Contains(r.stderr, "not a directory or a regular file") {
			t.Errorf("%s: exit %d: %s", p, r.code, r.stderr)
		}
	}
}
