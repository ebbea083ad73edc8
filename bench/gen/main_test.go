package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ipamwatch/ipamwatch/logparse"
)

func generate(t *testing.T, args ...string) (log []byte, truth map[string]int) {
	t.Helper()
	dir := t.TempDir()
	out, tr := filepath.Join(dir, "ipamd.log"), filepath.Join(dir, "truth.json")
	if err := run(append(args, "-out", out, "-truth", tr), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &truth); err != nil {
		t.Fatal(err)
	}
	return log, truth
}

func TestGeneratedLogMatchesTruth(t *testing.T) {
	t.Parallel()
	for _, v1 := range []bool{false, true} {
		args := []string{"-lines", "30000", "-seed", "7"}
		if v1 {
			args = append(args, "-sdk-v1")
		}
		log, truth := generate(t, args...)
		c := logparse.NewClassifier()
		got := map[string]int{}
		lines, failures := 0, 0
		sc := bufio.NewScanner(bytes.NewReader(log))
		for sc.Scan() {
			lines++
			if !json.Valid(sc.Bytes()) {
				t.Fatalf("line %d is not JSON: %s", lines, sc.Text())
			}
			if ev := c.Classify(sc.Bytes()); ev.Class != logparse.None {
				got[ev.Class.String()]++
				failures++
			}
		}
		if lines != 30000 {
			t.Errorf("sdk-v1=%v: %d lines, want 30000", v1, lines)
		}
		if diff := cmp.Diff(truth, got); diff != "" {
			t.Errorf("sdk-v1=%v: classifier vs generator truth (-truth +classifier):\n%s", v1, diff)
		}
		if rate := float64(failures) / float64(lines); rate < 0.008 || rate > 0.012 {
			t.Errorf("sdk-v1=%v: failure rate %.4f, want about 0.01", v1, rate)
		}
		if len(truth) < 10 {
			t.Errorf("sdk-v1=%v: only %d classes generated: %v", v1, len(truth), truth)
		}
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a, _ := generate(t, "-lines", "2000", "-seed", "3")
	b, _ := generate(t, "-lines", "2000", "-seed", "3")
	c, _ := generate(t, "-lines", "2000", "-seed", "4")
	if !bytes.Equal(a, b) {
		t.Error("same seed, different output")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds, same output")
	}
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-lines", "-1"}, {"-error-rate", "0.9"}, {"-start", "yesterday"}, {"extra"}} {
		if err := run(args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%v) accepted", args)
		}
	}
}
