package logparse

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// TestMtailProgramAgrees runs bench/mtail/ipamd.mtail, the benchmark's mtail version of the
// taxonomy, over the zap lines of the corpus and of the real lines, and checks that it counts
// what the classifier counts. It keeps the benchmark an honest comparison of the same job.
func TestMtailProgramAgrees(t *testing.T) {
	t.Parallel()
	mtail := testtools.Lookup(t, "mtail")
	zap := regexp.MustCompile(`^\{"level":"[a-z]+","ts":"[^"]+"`)
	dir := t.TempDir()
	var lines []string
	want := map[string]int{}
	c := NewClassifier()
	recs := append(loadCorpus(t), loadRecords(t, "testdata/real.txt")...)
	for _, r := range recs {
		if len(r.lines) > 1 || !zap.MatchString(r.line) {
			continue
		}
		lines = append(lines, r.line)
		if ev := c.Classify([]byte(r.line)); ev.Class != None {
			want[ev.Class.String()]++
		}
	}
	if len(want) < 8 {
		t.Fatalf("only %d classes among the corpus's zap lines", len(want))
	}
	logf := filepath.Join(dir, "ipamd.log")
	if err := os.WriteFile(logf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	progs := filepath.Join(dir, "progs")
	if err := os.Mkdir(progs, 0o700); err != nil {
		t.Fatal(err)
	}
	prog, err := os.ReadFile("../bench/mtail/ipamd.mtail")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(progs, "ipamd.mtail"), prog, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mtail, "--one_shot", "--one_shot_format", "prometheus",
		"--address", "127.0.0.1", "--port", strconv.Itoa(testtools.FreePort(t)),
		"--progs", progs, "--logs", logf, "--logtostderr")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mtail: %v\n%s", err, stderr.String())
	}
	got := map[string]int{}
	metric := regexp.MustCompile(`^ipamwatch_log_lines_total\{class="([a-z0-9_]+)"[^}]*\} ([0-9]+)$`)
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := metric.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[2])
			got[m[1]] = n
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mtail counts differ from the classifier (-classifier +mtail):\n%s\nmtail output:\n%s", diff, out)
	}
	t.Logf("%d zap lines, classes %v", len(lines), want)
}
