package alerts

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/shellcheck"
)

// Every alert has a runbook source and every source an alert; a cause alert's source holds only
// its symptom (the rest is the advice table's), the others every section.
func TestRunbookSources(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	names := map[string]bool{}
	for _, a := range Build(p).Alerts {
		names[a.Name] = true
		if _, err := p.source(a); err != nil {
			t.Error(err)
		}
	}
	entries, err := fs.ReadDir(runbookFS, "runbooks")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := strings.TrimSuffix(e.Name(), ".md"); !names[n] {
			t.Errorf("runbooks/%s has no alert", e.Name())
		}
	}
}

func TestParseRunbookRejects(t *testing.T) {
	t.Parallel()
	full := "## Symptom\nS\n## Confirm\n```sh\nkubectl get nodes\n```\n## Fix\nF\n## Verify\nV\n"
	if _, err := parseRunbook(full, false); err != nil {
		t.Fatalf("a full runbook was rejected: %v", err)
	}
	if _, err := parseRunbook("## Symptom\nS\n", true); err != nil {
		t.Fatalf("a cause runbook with its symptom was rejected: %v", err)
	}
	for name, tc := range map[string]struct {
		src   string
		cause bool
	}{
		"cause writes its confirm": {full, true},
		"missing verify":           {strings.Replace(full, "## Verify\nV\n", "", 1), false},
		"unknown section":          {full + "## Notes\nN\n", false},
		"repeated section":         {full + "## Fix\nagain\n", false},
		"text before a section":    {"intro\n" + full, false},
		"empty section":            {strings.Replace(full, "F\n", "", 1), false},
		"out of order":             {"## Confirm\nC\n## Symptom\nS\n## Fix\nF\n## Verify\nV\n", false},
	} {
		if _, err := parseRunbook(tc.src, tc.cause); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// renderedRunbooks returns every generated runbook by alert.
func renderedRunbooks(t *testing.T, p Params) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range Build(p).Alerts {
		b, err := RunbookMarkdown(a, p)
		if err != nil {
			t.Fatal(err)
		}
		out[a.Name] = string(b)
	}
	return out
}

// Every shell block of every runbook runs as pasted: it parses with a real bash parser, holds
// no <placeholder>, chains no commands with && and never execs into aws-node (no shell, no curl
// since CNI v1.12.1).
func TestRunbookScriptsRunAsPasted(t *testing.T) {
	t.Parallel()
	blocks := 0
	for name, md := range renderedRunbooks(t, DefaultParams()) {
		for _, s := range diagnosis.ShellBlocks(md) {
			blocks++
			if err := shellcheck.Check(s); err != nil {
				t.Errorf("%s: %v:\n%s", name, err, s)
			}
			if shellcheck.ChainsCommands(s) {
				t.Errorf("%s: chains commands with &&:\n%s", name, s)
			}
			if strings.Contains(s, "kubectl") && strings.Contains(s, " exec ") && strings.Contains(s, "aws-node") {
				t.Errorf("%s: execs into aws-node:\n%s", name, s)
			}
			if strings.Contains(s, "$NODE") && !strings.Contains(s, "NODE=") {
				t.Errorf("%s: reads $NODE but never sets it:\n%s", name, s)
			}
		}
		if regexp.MustCompile(`<[A-Za-z][A-Za-z0-9 _.-]*>`).MatchString(stripComments(md)) {
			t.Errorf("%s: holds a <placeholder>", name)
		}
	}
	if blocks < 40 {
		t.Errorf("only %d shell blocks in the runbooks: the scan is broken", blocks)
	}
}

// stripComments drops the generated-file note (an HTML comment) from a runbook.
func stripComments(md string) string {
	return regexp.MustCompile(`(?s)<!--.*?-->`).ReplaceAllString(md, "")
}

// Commands quoted in annotations (backquoted, starting with a command name) run as pasted.
func TestAnnotationCommandsRunAsPasted(t *testing.T) {
	t.Parallel()
	gs, err := Groups(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	cmdRE := regexp.MustCompile("`((?:kubectl|aws|curl|ipamwatch) [^`]*)`")
	for _, g := range gs {
		for _, r := range g.Rules {
			for k, v := range r.Annotations {
				for _, m := range cmdRE.FindAllStringSubmatch(v, -1) {
					if err := shellcheck.Check(m[1]); err != nil {
						t.Errorf("%s %s: %q: %v", r.Alert, k, m[1], err)
					}
				}
			}
		}
	}
}

// A runbook and the finding never disagree: for an alert with a cause, the runbook's
// explanation, confirm commands, fix and verify are the advice table's, which is what the
// finding in /diagnosis, the text report and docs/diagnosis.md print.
func TestRunbooksAgreeWithAdvice(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	committed := map[string]string{}
	for _, a := range Build(p).Alerts {
		b, err := os.ReadFile(filepath.Join(repoRoot, RunbookDir, a.Name+".md"))
		if err != nil {
			t.Fatal(err)
		}
		committed[a.Name] = string(b)
	}
	checked := 0
	for _, a := range Build(p).Alerts {
		if a.Cause == "" {
			continue
		}
		checked++
		adv := diagnosis.AdviceFor(a.Cause)
		md := committed[a.Name]
		sec := func(name string) string {
			s := between(md, "## "+name+"\n", "\n## ")
			return strings.TrimSpace(strings.TrimPrefix(s, "## "+name+"\n"))
		}
		if got := sec("Explanation"); got != adv.Explanation {
			t.Errorf("%s: Explanation differs from diagnosis/advice/%s.md:\n got %q\nwant %q", a.Name, a.Cause, got, adv.Explanation)
		}
		if got := sec("Verify"); got != adv.Verify {
			t.Errorf("%s: Verify differs from the advice:\n got %q\nwant %q", a.Name, got, adv.Verify)
		}
		confirm := diagnosis.ShellBlocks(sec("Confirm"))
		if len(confirm) == 0 || !strings.HasSuffix(strings.TrimSpace(confirm[0]), strings.TrimSpace(adv.Confirm)) {
			t.Errorf("%s: the first confirm script does not run the advice's confirm commands:\n%v", a.Name, confirm)
		}
		// The fix: the advice's text, each shell block preceded only by lines that set variables.
		fix := sec("Fix")
		want := adv.FixWith(nil, diagnosis.Bindings{})
		if prose(fix) != prose(want) {
			t.Errorf("%s: Fix prose differs from the advice:\n got %q\nwant %q", a.Name, prose(fix), prose(want))
		}
		// The advice's blocks with each {param} in its runbook words (the runbook knows no values).
		generic := adv.Fix
		for name, words := range adv.Params {
			generic = strings.ReplaceAll(generic, "{"+name+"}", words)
		}
		gotBlocks, wantBlocks := diagnosis.ShellBlocks(fix), diagnosis.ShellBlocks(generic)
		if len(gotBlocks) != len(wantBlocks) {
			t.Errorf("%s: %d fix scripts, the advice has %d", a.Name, len(gotBlocks), len(wantBlocks))
			continue
		}
		for i := range gotBlocks {
			if !strings.HasSuffix(gotBlocks[i], wantBlocks[i]) {
				t.Errorf("%s: fix script %d does not end with the advice's:\n%s", a.Name, i, gotBlocks[i])
			}
		}
		if !strings.Contains(md, "Severity **"+string(a.Severity)+"**") {
			t.Errorf("%s: the runbook states another severity than the alert's %s", a.Name, a.Severity)
		}
	}
	if checked < 15 {
		t.Errorf("only %d cause alerts checked", checked)
	}
}

// prose is Markdown without its fenced blocks.
func prose(md string) string {
	return strings.Join(strings.Fields(regexp.MustCompile("(?s)```sh\n.*?\n```").ReplaceAllString(md, "```")), " ")
}

// The bindings find the node of each kind of alert from Prometheus and stop with a message when
// nothing is found; a preset NODE wins.
func TestRunbookBindings(t *testing.T) {
	t.Parallel()
	byName := map[string]Alert{}
	for _, a := range Build(DefaultParams()).Alerts {
		byName[a.Name] = a
	}
	for name, want := range map[string][]string{
		"IpamwatchIMDSFailing":            {`ALERTS{alertname="IpamwatchIMDSFailing",alertstate="firing"}`},
		"IpamwatchSubnetExhausted":        {`ipamwatch_finding{cause="subnet_exhausted"} == 1`, `ALERTS{alertname="IpamwatchSubnetExhausted"`, `ipamwatch_node_info{node=\"$NODE\"}`},
		"IpamwatchIAMDenied":              {`ipamwatch_finding{cause="unauthorized"} == 1`},
		"IpamwatchSubnetFreeAddressesLow": {`ALERTS{alertname="IpamwatchSubnetFreeAddressesLow",alertstate="firing"}`},
	} {
		b, guards := byName[name].bindings()
		all := b.Exprs["NODE"] + " " + b.Exprs["SUBNET"]
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: bindings %q lack %q", name, all, w)
			}
		}
		if !strings.HasPrefix(b.Exprs["NODE"], "${NODE:-$(") || !strings.Contains(guards["NODE"], "${NODE:?") {
			t.Errorf("%s: NODE binding %q / guard %q", name, b.Exprs["NODE"], guards["NODE"])
		}
	}
}
