package commandtest

import (
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/internal/shellcheck"
)

// TestRunbookBlocksParse parses every shell block of every runbook with a real bash parser,
// rejects <placeholders> (bash reads <node> as redirections), commands chained with && (one
// failing command silently skips the rest) and exec into aws-node (no shell, no curl since
// CNI v1.12.1). The advice table's scripts get the same checks in package diagnosis.
func TestRunbookBlocksParse(t *testing.T) {
	t.Parallel()
	blocks := runbookScripts(t)
	if len(blocks) < 10 {
		t.Fatalf("found %d shell blocks in docs/runbooks: the fence parser or the runbooks changed", len(blocks))
	}
	for _, s := range blocks {
		if err := shellcheck.Check(s.Text); err != nil {
			t.Errorf("%s: %v:\n%s", s.Name, err, s.Text)
		}
		if shellcheck.ChainsCommands(s.Text) {
			t.Errorf("%s: chains commands with && or ||: one failing command hides the rest:\n%s", s.Name, s.Text)
		}
		if strings.Contains(s.Text, "kubectl") && strings.Contains(s.Text, " exec ") && strings.Contains(s.Text, "aws-node") {
			t.Errorf("%s: execs into aws-node, which has no shell or curl:\n%s", s.Name, s.Text)
		}
	}
}

// TestDocBlocksParse parses the shell blocks of README.md and docs/*.md that people paste.
func TestDocBlocksParse(t *testing.T) {
	t.Parallel()
	blocks := docScripts(t)
	if len(blocks) < 5 {
		t.Fatalf("found %d shell blocks in README.md and docs/: the fence parser or the docs changed", len(blocks))
	}
	for _, s := range blocks {
		if err := shellcheck.Check(s.Text); err != nil {
			t.Errorf("%s: %v:\n%s", s.Name, err, s.Text)
		}
	}
}

func TestFencedShell(t *testing.T) {
	t.Parallel()
	md := "text\n```sh\na\n```\n~~~sh\nb $X\n~~~\n```go\nc\n```\n## Fix\n````bash\n```\nd\n````\n  ~~~shell title\ne\n  ~~~\n"
	got := fencedShell(md)
	want := []fenced{{2, "a\n", ""}, {5, "b $X\n", ""}, {12, "```\nd\n", "Fix"}, {16, "e\n", "Fix"}}
	if len(got) != len(want) {
		t.Fatalf("fencedShell = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
