package logparse

import (
	"os"
	"strings"
	"testing"
)

// TestDocsExamples keeps docs/classes.md honest: each class has exactly one example line,
// and the classifier gives it that class.
func TestDocsExamples(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/classes.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	seen := map[Class]bool{}
	for i := 0; i+2 < len(lines); i++ {
		head := lines[i]
		if !strings.HasPrefix(head, "`") || lines[i+1] != "```" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(head, "`"), "`")
		want, ok := ParseClass(name)
		if !ok {
			t.Errorf("docs/classes.md:%d: unknown class %q", i+1, name)
			continue
		}
		if seen[want] {
			t.Errorf("docs/classes.md:%d: second example for %s", i+1, want)
		}
		seen[want] = true
		ev := NewClassifier().Classify([]byte(lines[i+2]))
		if ev.Class != want {
			t.Errorf("docs/classes.md:%d: example for %s classifies as %s", i+3, want, ev.Class)
		}
	}
	for _, c := range append(Classes(), None) {
		if !seen[c] {
			t.Errorf("docs/classes.md has no example for %s", c)
		}
	}
}
