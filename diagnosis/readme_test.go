package diagnosis

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
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
	testtools.GoldenSection(t, "../README.md", readmeBegin, readmeEnd, causesTable(), *update)
}
