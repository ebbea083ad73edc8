package logparse

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsExamples keeps docs/classes.md honest. Each class has exactly one entry: either an
// example line with its cited source, which must be a record of testdata/real.txt under that
// same source (so every example is a real, publicly posted line) and classify as its class;
// or the statement that no public line was found, which real.txt must then bear out.
func TestDocsExamples(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/classes.md")
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ source, line string }
	real := map[key]bool{}
	realClass := map[Class]bool{}
	for _, r := range loadRecords(t, "testdata/real.txt") {
		if len(r.lines) == 1 {
			real[key{r.source, strings.TrimRight(r.line, " ")}] = true
		}
		c, _ := ParseClass(r.want.Class)
		realClass[c] = true
	}
	source := regexp.MustCompile(`source: (https://\S+)`)
	lines := strings.Split(string(b), "\n")
	seen := map[Class]bool{}
	for i, head := range lines {
		example := i+2 < len(lines) && lines[i+1] == "```"
		none := strings.Contains(head, "no public line found")
		if !strings.HasPrefix(head, "`") || !example && !none {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(head, "`"), "`")
		want, ok := ParseClass(name)
		if !ok {
			t.Errorf("docs/classes.md:%d: unknown class %q", i+1, name)
			continue
		}
		if seen[want] {
			t.Errorf("docs/classes.md:%d: second entry for %s", i+1, want)
		}
		seen[want] = true
		if none {
			if realClass[want] {
				t.Errorf("docs/classes.md:%d: says no public line of %s exists, but testdata/real.txt has one: show it", i+1, want)
			}
			continue
		}
		line := lines[i+2]
		m := source.FindStringSubmatch(head)
		if m == nil {
			t.Errorf("docs/classes.md:%d: the example for %s cites no source (`%s` source: https://...)", i+1, want, want)
			continue
		}
		if !real[key{m[1], strings.TrimRight(line, " ")}] {
			t.Errorf("docs/classes.md:%d: the example for %s is not a record of testdata/real.txt under source %s", i+3, want, m[1])
		}
		if ev := NewClassifier().Classify([]byte(line)); ev.Class != want {
			t.Errorf("docs/classes.md:%d: example for %s classifies as %s", i+3, want, ev.Class)
		}
	}
	for _, c := range append(Classes(), None) {
		if !seen[c] {
			t.Errorf("docs/classes.md has no entry for %s (an example with its source, or \"no public line found\")", c)
		}
	}
}
