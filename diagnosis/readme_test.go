package diagnosis

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

const (
	readmeBegin = "<!-- BEGIN GENERATED from diagnosis/advice/*.md by TestReadmeCauses; do not edit -->\n"
	readmeEnd   = "<!-- END GENERATED -->"
)

// causesTable is the README's table of causes: severity, binding ceiling and what is wrong,
// from the advice table.
func causesTable() string {
	var b strings.Builder
	b.WriteString("| finding | severity | binding ceiling | what is wrong |\n|---|---|---|---|\n")
	for _, c := range Causes() {
		a := AdviceFor(c)
		ceiling := ""
		if a.Ceiling != "" {
			ceiling = "`" + string(a.Ceiling) + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c, a.Severity, ceiling, a.Title)
	}
	return b.String()
}

// TestReadmeCauses keeps the README's table of causes equal to the advice table (rerun with
// -update to rewrite it).
func TestReadmeCauses(t *testing.T) {
	t.Parallel()
	const path = "../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, readmeBegin), strings.Index(doc, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-section markers", path)
	}
	want := doc[:i+len(readmeBegin)] + causesTable() + doc[j:]
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != doc {
		t.Errorf("%s is out of date with the advice table; rerun go test ./diagnosis -run TestReadmeCauses -update", path)
	}
}
