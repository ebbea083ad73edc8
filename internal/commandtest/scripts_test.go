package commandtest

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// script is one shell text a person pastes.
type script struct {
	// Name says where it comes from: "advice/eni_limit.md confirm (live)".
	Name string
	// Kind is confirm, fix, runbook or doc.
	Kind string
	// Situation is how its variables are bound: live, bundle or runbook ("" for docs).
	Situation string
	Text      string
	// Cause is the finding cause a runbook is about (its "finding cause `x`" line), if any.
	Cause diagnosis.Cause
	// Section is the Markdown section ("## Fix") a block of a document stands in.
	Section string
}

// situations are the three ways a confirm or fix script is handed out: by the agent on a
// live node (it knows everything), from a log-collector bundle (instance id and region), and
// in a runbook (the node comes from the alert's node label, set as $NODE by the person).
func situations(w world) map[string]diagnosis.Bindings {
	return map[string]diagnosis.Bindings{
		"live": {Values: map[string]string{"NODE": w.Node, "INSTANCE_ID": w.InstanceID, "INSTANCE_TYPE": w.InstanceType,
			"REGION": w.Region, "SUBNET": w.NodeSubnet, "ENICONFIG": w.ENIConfig}},
		"bundle":  {Values: map[string]string{"INSTANCE_ID": w.InstanceID, "REGION": w.Region}},
		"runbook": {Exprs: map[string]string{"NODE": `"${NODE:?set NODE to the node label of the alert}"`}},
	}
}

// adviceScripts returns every confirm script and fix block of the advice table, in each
// situation.
func adviceScripts(w world) []script {
	var out []script
	sits := situations(w)
	names := make([]string, 0, len(sits))
	for n := range sits {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, c := range diagnosis.Causes() {
		a := diagnosis.AdviceFor(c)
		src := "advice/" + string(c) + ".md"
		for _, sit := range names {
			b := sits[sit]
			out = append(out, script{Name: src + " confirm (" + sit + ")", Kind: "confirm", Situation: sit, Text: a.ConfirmScript(b)})
			for i, blk := range diagnosis.ShellBlocks(a.FixWith(nil, b)) {
				out = append(out, script{Name: src + " fix block " + strconv.Itoa(i+1) + " (" + sit + ")", Kind: "fix", Situation: sit, Text: blk})
			}
		}
	}
	return out
}

// repoRoot is the module root (this file is internal/commandtest/scripts_test.go).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the source directory")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// runbookScripts returns the shell blocks of docs/runbooks/*.md (in the runbook situation: a
// person sets NODE from the alert).
func runbookScripts(t testing.TB) []script {
	t.Helper()
	return markdownScripts(t, filepath.Join(repoRoot(t), "docs", "runbooks", "*.md"), "runbook", "runbook")
}

// docScripts returns the shell blocks of README.md and docs/*.md.
func docScripts(t testing.TB) []script {
	t.Helper()
	root := repoRoot(t)
	out := markdownScripts(t, filepath.Join(root, "README.md"), "doc", "")
	return append(out, markdownScripts(t, filepath.Join(root, "docs", "*.md"), "doc", "")...)
}

func markdownScripts(t testing.TB, glob, kind, situation string) []script {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s", glob)
	}
	root := repoRoot(t)
	var out []script
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		var cause diagnosis.Cause
		if m := causeLineRe.FindSubmatch(b); m != nil {
			cause = diagnosis.Cause(m[1])
		}
		for _, blk := range fencedShell(string(b)) {
			out = append(out, script{Name: rel + ":" + strconv.Itoa(blk.line), Kind: kind, Situation: situation, Text: blk.text, Cause: cause,
				Section: blk.section})
		}
	}
	return out
}

var causeLineRe = regexp.MustCompile("finding cause `([a-z0-9_]+)`")

type fenced struct {
	line    int // of the opening fence, 1-based
	text    string
	section string // of the last "## " heading before it
}

// fencedShell returns the bodies of the Markdown code blocks whose info string says sh, bash
// or shell, fenced with backquotes or tildes (CommonMark: the closing fence uses the opening
// character, at least as many, and nothing else).
func fencedShell(md string) []fenced {
	var out []fenced
	lines := strings.Split(md, "\n")
	section := ""
	for i := 0; i < len(lines); i++ {
		if h, ok := strings.CutPrefix(lines[i], "## "); ok {
			section = strings.TrimSpace(h)
		}
		t := strings.TrimLeft(lines[i], " ")
		if len(lines[i])-len(t) > 3 || len(t) < 3 || (t[0] != '`' && t[0] != '~') {
			continue
		}
		ch := t[0]
		n := len(t) - len(strings.TrimLeft(t, string(ch)))
		if n < 3 {
			continue
		}
		info := strings.Fields(strings.TrimSpace(t[n:]))
		var body []string
		j := i + 1
		for ; j < len(lines); j++ {
			c := strings.TrimSpace(lines[j])
			if len(c) >= n && strings.Trim(c, string(ch)) == "" {
				break
			}
			body = append(body, lines[j])
		}
		if len(info) > 0 && (info[0] == "sh" || info[0] == "bash" || info[0] == "shell") {
			out = append(out, fenced{line: i + 1, text: strings.Join(body, "\n") + "\n", section: section})
		}
		i = j
	}
	return out
}
