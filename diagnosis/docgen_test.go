package diagnosis

import (
	"os"
	"strings"
	"testing"
)

const (
	docBegin = "<!-- BEGIN GENERATED from diagnosis/advice/*.md by TestDocsDiagnosis; do not edit -->\n"
	docEnd   = "<!-- END GENERATED -->"
)

// TestDocsDiagnosis keeps docs/diagnosis.md's section on causes equal to the advice table
// (rerun with -update to rewrite it).
func TestDocsDiagnosis(t *testing.T) {
	t.Parallel()
	const path = "../docs/diagnosis.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-section markers", path)
	}
	want := doc[:i+len(docBegin)] + "\n" + AdviceMarkdown() + doc[j:]
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != doc {
		t.Errorf("%s is out of date with the advice table; rerun go test ./diagnosis -run TestDocsDiagnosis -update", path)
	}
}
