package diagnosis

import (
	"fmt"
	"strings"
)

// AdviceMarkdown renders the advice table for docs/diagnosis.md: for every cause its
// severity, binding ceiling, explanation and the upstream code its rule follows. The fix,
// confirm and verify of each cause appear in full in the runbooks and in every finding.
func AdviceMarkdown() string {
	var b strings.Builder
	for _, c := range Causes() {
		a := AdviceFor(c)
		ceiling := "none"
		if a.Ceiling != "" {
			ceiling = "`" + string(a.Ceiling) + "`"
		}
		fmt.Fprintf(&b, "### `%s`\n\n%s Severity **%s**, binding ceiling %s.\n\n%s\n\nRule follows: %s\n\n", c, a.Title, a.Severity, ceiling, a.Explanation, a.Upstream)
	}
	return b.String()
}
