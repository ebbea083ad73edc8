package diagnosis

import (
	"testing"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

const (
	docBegin = "<!-- BEGIN GENERATED from diagnosis/advice/*.md by TestDocsDiagnosis; do not edit -->\n"
	docEnd   = "<!-- END GENERATED -->"
)

// TestDocsDiagnosis keeps docs/diagnosis.md's section on causes equal to the advice table
// (rerun with -update to rewrite it).
func TestDocsDiagnosis(t *testing.T) {
	t.Parallel()
	testtools.GoldenSection(t, "../docs/diagnosis.md", docBegin, docEnd, "\n"+AdviceMarkdown(), *update)
}
