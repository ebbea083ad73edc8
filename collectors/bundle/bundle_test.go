package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadEKSLogCollectorDir(t *testing.T) {
	t.Parallel()
	res, err := Load("testdata/eks-log-collector", Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkNewLayout(t, res)
}

func checkNewLayout(t *testing.T, res *Result) {
	t.Helper()
	st := res.State
	if res.Layout != "eks-log-collector" {
		t.Errorf("layout = %q", res.Layout)
	}
	if st.IPAMD == nil || len(st.IPAMD.ENIs) != 1 || st.IPAMD.ENIs[0].Assigned != 2 {
		t.Fatalf("ipamd state not decoded: %+v", st.IPAMD)
	}
	if st.IPAMD.ENIConfig != "default" {
		t.Errorf("eni config = %q", st.IPAMD.ENIConfig)
	}
	if st.CNI == nil || st.CNI.ENIMax == nil || *st.CNI.ENIMax != 3 || st.CNI.APIErrorTotal["InsufficientFreeAddressesInSubnet"] != 14 {
		t.Errorf("CNI metrics not decoded: %+v", st.CNI)
	}
	if st.Kubelet == nil || st.Kubelet.MaxPods != 29 {
		t.Errorf("kubelet max pods: %+v (the config file wins over the unit's flag)", st.Kubelet)
	}
	if st.Kube == nil || st.Kube.AWSNodeEnv["WARM_ENI_TARGET"] != "1" || !strings.Contains(st.Kube.AWSNodeImage, "v1.20.4") {
		t.Errorf("aws-node env should come from the newest container: %+v", st.Kube)
	}
	if st.Metadata == nil || st.Metadata.InstanceID != "i-0d3c5e7a9b1f24680" || st.Metadata.Region != "us-west-2" || st.Metadata.AvailabilityZone != "us-west-2a" {
		t.Errorf("instance facts: %+v", st.Metadata)
	}
	if st.Logs == nil {
		t.Fatal("no logs")
	}
	se := st.Logs.Classes["subnet_exhausted"]
	// Two error lines plus the follow-up line, which inherits subnet_exhausted.
	if se.Total != 3 || se.Code != "InsufficientFreeAddressesInSubnet" {
		t.Errorf("subnet_exhausted = %+v", se)
	}
	if st.Logs.Classes["ec2_throttled"].Total != 1 {
		t.Errorf("the rotated .gz backup was not classified: %+v", st.Logs.Classes)
	}
	if st.Logs.Classes["alloc_failed"].Total != 1 {
		t.Errorf("plugin.log not classified: %+v", st.Logs.Classes)
	}
	if got := st.Time.UTC().Format("15:04:05"); got != "02:14:00" {
		t.Errorf("bundle time = %s, want the newest log line 02:14:00", got)
	}
	for _, want := range []string{"ipamd env settings (", "ipamd networkutils env settings ("} {
		found := false
		for _, m := range res.Missing {
			found = found || strings.HasPrefix(m, want)
		}
		if !found {
			t.Errorf("missing list %v lacks %q (the empty and 404 files)", res.Missing, want)
		}
	}
}

// tarGz packs dir into an in-memory .tar.gz the way the collector does (members start with
// "./"), plus any extra raw members.
func tarGz(t *testing.T, dir string, extra map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := "./" + filepath.ToSlash(rel)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range extra {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "./ipamd/link.json", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "eks_i-0d3c5e7a9b1f24680_2026-11-26_0214-UTC_0.7.8.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadTarGzWithHostileMembers(t *testing.T) {
	t.Parallel()
	p := tarGz(t, "testdata/eks-log-collector", map[string]string{
		"../../etc/ipamd/enis.json": `{"evil":true}`,
		"/ipamd/enis.json":          `{"evil":true}`,
	})
	res, err := Load(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkNewLayout(t, res)
	var refused int
	for _, m := range res.Missing {
		if strings.Contains(m, "refused") {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("want 2 refused members (traversal, absolute), got %d in %v", refused, res.Missing)
	}
}

func TestLoadOldLayout(t *testing.T) {
	t.Parallel()
	res, err := Load("testdata/aws-cni-support", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Layout != "aws-cni-support" {
		t.Errorf("layout = %q", res.Layout)
	}
	st := res.State
	// The pre-1.7 ENIIPPools shape is refused, and said so.
	if st.IPAMD != nil && len(st.IPAMD.ENIs) > 0 {
		t.Errorf("pre-1.7 eni.out must not be decoded as ENIs: %+v", st.IPAMD)
	}
	found := false
	for _, m := range res.Missing {
		found = found || (strings.HasPrefix(m, "ipamd enis") && strings.Contains(m, "unsupported CNI version"))
	}
	if !found {
		t.Errorf("missing list should say the eni.out shape is unsupported: %v", res.Missing)
	}
	if st.IPAMD == nil || st.IPAMD.Env["WARM_ENI_TARGET"] != "1" {
		t.Errorf("ipamd-env.out not read: %+v", st.IPAMD)
	}
	if st.CNI == nil || st.CNI.APIErrorTotal["AttachmentLimitExceeded"] != 4 {
		t.Errorf("metrics.out not read: %+v", st.CNI)
	}
	if st.Logs == nil || st.Logs.Classes["eni_limit"].Total < 2 || st.Logs.Classes["ip_pool_empty"].Total != 1 || st.Logs.Classes["alloc_failed"].Total != 1 {
		t.Errorf("old text-format logs not classified: %+v", st.Logs)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	if _, err := Load(filepath.Join(t.TempDir(), "nope.tar.gz"), Options{}); err == nil {
		t.Error("missing path accepted")
	}
	empty := t.TempDir()
	if _, err := Load(empty, Options{}); !errors.Is(err, ErrNotBundle) {
		t.Errorf("empty dir: %v, want ErrNotBundle", err)
	}
	garbage := filepath.Join(t.TempDir(), "x.tar.gz")
	if err := os.WriteFile(garbage, []byte("this is not an archive at all, just text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(garbage, Options{}); err == nil {
		t.Error("garbage file accepted")
	}
	// An oversized JSON member is skipped and reported, not read.
	p := tarGz(t, "testdata/eks-log-collector", nil)
	res, err := Load(p, Options{MaxSmallFile: 64})
	if err != nil {
		t.Fatal(err)
	}
	if res.State.IPAMD != nil && len(res.State.IPAMD.ENIs) > 0 {
		t.Error("oversized enis.json was read")
	}
	if !slices.ContainsFunc(res.Missing, func(m string) bool { return strings.Contains(m, "limit") }) {
		t.Errorf("size limit not reported: %v", res.Missing)
	}
}

func TestCleanMember(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{
		"./ipamd/enis.json": true, "ipamd/enis.json": true, "/abs": false, "a/../../b": false,
		"../x": false, "a/b/..": false, "nul\x00": false,
	} {
		_, err := cleanMember(in)
		if (err == nil) != ok {
			t.Errorf("cleanMember(%q) err=%v, want ok=%v", in, err, ok)
		}
	}
}

func FuzzLoadArchive(f *testing.F) {
	f.Add([]byte("not a tar"))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte(`{"0":{"TotalIPs":1,"AssignedIPs":0,"ENIs":{}}}`)
	_ = tw.WriteHeader(&tar.Header{Name: "./ipamd/enis.json", Typeflag: tar.TypeReg, Size: int64(len(body)), Mode: 0o644})
	_, _ = tw.Write(body)
	_ = tw.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "b.tar")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = Load(p, Options{MaxTotal: 1 << 20, MaxSmallFile: 1 << 16})
	})
}

// A bundle whose ipamd.log is a flood of failures: every line counted, the recent window
// (1 h before the newest line, minute resolution) counted right.
func TestLoadLogFlood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logDir := filepath.Join(dir, "var_log", "aws-routed-eni")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	const lines = 200_000 // one line every 60 ms over 200 minutes
	for i := 0; i < lines; i++ {
		ts := start.Add(time.Duration(i) * 60 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		b.WriteString(`{"level":"error","ts":"` + ts + `","caller":"ipamd/ipamd.go:801","msg":"Failed to increase pool size: api error InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses."}` + "\n")
	}
	if err := os.WriteFile(filepath.Join(logDir, "ipamd.log"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := res.State.Logs.Classes["subnet_exhausted"]
	if cs.Total != lines {
		t.Errorf("total = %d, want %d", cs.Total, lines)
	}
	// The last hour holds 60,000 lines; minute resolution may add up to one minute (1,000).
	if cs.Recent < 60_000 || cs.Recent > 61_000 {
		t.Errorf("recent = %d, want 60,000 to 61,000", cs.Recent)
	}
	if !strings.Contains(cs.Example, "InsufficientFreeAddressesInSubnet") {
		t.Errorf("example = %q", cs.Example)
	}
}

// TestUndatedLinesCountNearTheirNeighbours: a line whose time could not be read still counts,
// at the time of the dated line before it, or as recent when no line has a time (issue 12).
func TestUndatedLinesCountNearTheirNeighbours(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, body string) string {
		dir := t.TempDir()
		p := filepath.Join(dir, "var_log", "aws-routed-eni")
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "ipamd.log"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	unauth := "Unauthorized operation: failed to call ec2:CreateTags due to missing permissions.\n"
	for _, tc := range []struct {
		name       string
		body       string
		wantRecent int
	}{
		{"no line has a time: all recent", unauth + unauth, 2},
		{"after a recent dated line", `{"level":"info","ts":"2026-11-26T02:00:00.000Z","msg":"x"}` + "\n" + unauth + `{"level":"info","ts":"2026-11-26T02:30:00.000Z","msg":"y"}` + "\n", 1},
		{"after an old dated line: not recent", `{"level":"info","ts":"2026-11-26T00:00:00.000Z","msg":"x"}` + "\n" + unauth + `{"level":"info","ts":"2026-11-26T02:30:00.000Z","msg":"y"}` + "\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Load(write(t, tc.body), Options{})
			if err != nil {
				t.Fatal(err)
			}
			cs := res.State.Logs.Classes["unauthorized"]
			if cs.Recent != tc.wantRecent {
				t.Errorf("recent = %d (total %d), want %d", cs.Recent, cs.Total, tc.wantRecent)
			}
		})
	}
}
