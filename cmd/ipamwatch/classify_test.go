package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

var updateClassify = flag.Bool("update-classify", false, "rewrite testdata/classify/*.golden")

const sampleLog = "../../logparse/testdata/sample-ipamd.log"

func runClassify(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{"classify"}, args...), streams{in: bytes.NewReader(stdin), out: &out, err: &errb})
	return out.String(), errb.String(), code
}

func TestClassifyGolden(t *testing.T) {
	t.Parallel()
	sample, err := os.ReadFile(sampleLog)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin []byte
		args  []string
	}{
		{"sample-text", sample, nil},
		{"sample-json", sample, []string{"--format", "json"}},
		{"mixed-text", nil, []string{"testdata/classify/mixed.log"}},
		{"mixed-json", nil, []string{"--format=json", "testdata/classify/mixed.log"}},
		{"mixed-all-json", nil, []string{"--all", "--format", "json", "testdata/classify/mixed.log"}},
		{"two-files-summary", sample, []string{"--summary", "testdata/classify/mixed.log", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runClassify(t, tt.stdin, tt.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			testtools.Golden(t, filepath.Join("testdata", "classify", tt.name+".golden"), []byte(out), *updateClassify)
		})
	}
}

func TestClassifyJSONIsValid(t *testing.T) {
	t.Parallel()
	out, _, code := runClassify(t, nil, "--all", "--format", "json", "testdata/classify/mixed.log")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	in, err := os.ReadFile("testdata/classify/mixed.log")
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Count(in, []byte("\n")); len(lines) != want {
		t.Fatalf("--all printed %d objects for %d input lines", len(lines), want)
	}
	for i, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("object %d is not JSON: %v\n%s", i+1, err, l)
		}
		for _, k := range []string{"schema_version", "file", "line", "class", "level", "time", "code", "eni", "subnet", "message"} {
			if _, ok := obj[k]; !ok {
				t.Errorf("object %d lacks %q", i+1, k)
			}
		}
		if got := obj["line"].(float64); int(got) != i+1 {
			t.Errorf("object %d has line %v", i+1, got)
		}
	}
}

func TestClassifyGzipMatchesPlain(t *testing.T) {
	t.Parallel()
	plain, err := os.ReadFile(sampleLog)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gz := filepath.Join(dir, "ipamd-2024-09-11T20-35-00.000.log.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	fromGz, errOut, code := runClassify(t, nil, "--format", "json", gz)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	fromStdin, _, _ := runClassify(t, plain, "--format", "json")
	fromGz = strings.ReplaceAll(fromGz, `"file":"`+gz+`"`, `"file":"-"`)
	if fromGz == "" || fromGz != fromStdin {
		t.Errorf("gzip output differs from plain output:\n%s\nvs\n%s", fromGz, fromStdin)
	}
	// Gzip on stdin is detected by its magic bytes too.
	gzStdin, _, _ := runClassify(t, buf.Bytes(), "--format", "json")
	if gzStdin != fromStdin {
		t.Errorf("gzip on stdin differs from plain")
	}
}

func TestClassifyLongLines(t *testing.T) {
	t.Parallel()
	var in bytes.Buffer
	in.WriteString("2019-07-30T15:35:02Z [ERROR] no available IP addresses\n")
	in.WriteString(strings.Repeat("x", 200) + "\n")
	in.WriteString("2019-07-30T15:35:03Z [ERROR] no available IP addresses") // no final newline
	out, _, code := runClassify(t, in.Bytes(), "--max-line-bytes", "64", "--summary")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "lines: 3 read, 2 classified, 0 malformed JSON, 1 too long (skipped)") {
		t.Errorf("summary:\n%s", out)
	}

	// Lines longer than the read buffer are assembled up to the limit, beyond it skipped.
	in.Reset()
	in.WriteString("Warning FailedCreatePodSandBox kubelet " + strings.Repeat("y", 400<<10) + " failed to assign an IP address to container\n")
	in.WriteString(strings.Repeat("z", 3<<20) + "\n")
	in.WriteString("{\"level\":\"error\",\"msg\":\"DataStore has no available IP/Prefix addresses\"}\n")
	out, _, code = runClassify(t, in.Bytes(), "--summary")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"alloc_failed                1", "ip_pool_empty               1", "lines: 3 read, 2 classified, 0 malformed JSON, 1 too long (skipped)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		code    int
		errWant string
	}{
		{"bad format", []string{"--format", "xml"}, 1, "--format must be text or json"},
		{"unknown flag", []string{"--colour"}, 1, "unknown long flag '--colour'"},
		{"summary with json", []string{"--summary", "--format", "json"}, 1, "cannot be combined"},
		{"tiny max line", []string{"--max-line-bytes", "3"}, 1, "at least 64"},
		{"missing file", []string{"does-not-exist.log", "testdata/classify/mixed.log"}, 1, "does-not-exist.log"},
		{"not gzip after all", []string{"testdata/classify/bad.gz"}, 1, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runClassify(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.errWant) {
				t.Errorf("exit %d stderr %q; want exit %d and %q", code, errOut, tt.code, tt.errWant)
			}
			if tt.name == "missing file" && !strings.Contains(out, "subnet_exhausted") {
				t.Errorf("the readable file was not processed after the missing one:\n%s", out)
			}
		})
	}
}

func TestClassifyHelp(t *testing.T) {
	t.Parallel()
	_, errOut, code := runClassify(t, nil, "-h")
	if code != 0 || !strings.Contains(errOut, "usage: ipamwatch classify") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestClassifyCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := bytes.Repeat([]byte("{\"level\":\"debug\",\"msg\":\"x\"}\n"), 10000)
	var out, errb bytes.Buffer
	code := dispatch(ctx, []string{"classify"}, streams{in: bytes.NewReader(in), out: &out, err: &errb})
	if code != 1 || !strings.Contains(errb.String(), "context canceled") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}
