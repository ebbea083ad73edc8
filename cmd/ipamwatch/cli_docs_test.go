package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateCLIDocs = flag.Bool("update-cli-docs", false, "rewrite the help blocks of README.md and docs/cli.md from the real help")

// helpText is what `ipamwatch ARGS --help` prints, with trailing blanks trimmed from each
// line (kingpin pads some lines; Markdown files should not carry trailing blanks).
func helpText(t *testing.T, args ...string) string {
	t.Helper()
	code, out, stderr := runCLI(t, append(args, "--help")...)
	if code != 0 || out != "" {
		t.Fatalf("%v --help: exit %d, stdout %q", args, code, out)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

// helpBlocks replaces or checks, in the Markdown file at path, every block
//
//	<!-- BEGIN HELP ipamwatch [CMD] -->
//	```text
//	...
//	```
//	<!-- END HELP -->
//
// with the real help of that command line.
func helpBlocks(t *testing.T, path string, wantBlocks int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rest := string(b)
	found := 0
	for {
		start := strings.Index(rest, "<!-- BEGIN HELP ")
		if start < 0 {
			out.WriteString(rest)
			break
		}
		headerEnd := strings.Index(rest[start:], " -->\n")
		end := strings.Index(rest[start:], "<!-- END HELP -->")
		if headerEnd < 0 || end < 0 {
			t.Fatalf("%s: unterminated help block", path)
		}
		cmdline := rest[start+len("<!-- BEGIN HELP ") : start+headerEnd]
		args := strings.Fields(cmdline)
		if len(args) == 0 || args[0] != "ipamwatch" {
			t.Fatalf("%s: help block for %q", path, cmdline)
		}
		body := rest[start+headerEnd+len(" -->\n") : start+end]
		want := "```text\n" + helpText(t, args[1:]...) + "```\n"
		if !*updateCLIDocs && body != want {
			t.Errorf("%s: the help block of %q differs from the real help (-docs +help); rerun with -update-cli-docs:\n%s",
				path, cmdline, cmp.Diff(body, want))
		}
		out.WriteString(rest[:start+headerEnd+len(" -->\n")])
		out.WriteString(want)
		out.WriteString("<!-- END HELP -->")
		rest = rest[start+end+len("<!-- END HELP -->"):]
		found++
	}
	if found != wantBlocks {
		t.Errorf("%s: %d help blocks, want %d", path, found, wantBlocks)
	}
	if *updateCLIDocs {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The README's CLI section shows `ipamwatch --help` as the binary prints it, and docs/cli.md
// every command's --help.
func TestCLIDocsMatchHelp(t *testing.T) {
	t.Parallel()
	helpBlocks(t, filepath.Join("..", "..", "README.md"), 1)
	helpBlocks(t, filepath.Join("..", "..", "docs", "cli.md"), 1+len(commands()))

	// docs/cli.md has a block for each command.
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if marker := fmt.Sprintf("<!-- BEGIN HELP ipamwatch %s -->", c.name); !strings.Contains(string(b), marker) {
			t.Errorf("docs/cli.md lacks %s", marker)
		}
	}
}

// The exit codes the README and docs/cli.md document are the ones the code uses.
func TestExitCodesDocumented(t *testing.T) {
	t.Parallel()
	rows := []string{
		fmt.Sprintf("| %d | ", exitOK),
		fmt.Sprintf("| %d | ", exitError),
		fmt.Sprintf("| %d | ", exitCritical),
	}
	for _, path := range []string{filepath.Join("..", "..", "README.md"), filepath.Join("..", "..", "docs", "cli.md")} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, section, ok := strings.Cut(string(b), "### Exit codes")
		if !ok {
			t.Errorf("%s has no \"### Exit codes\" section", path)
			continue
		}
		for _, r := range rows {
			if !strings.Contains(section, r) {
				t.Errorf("%s: exit code table lacks a row starting %q", path, r)
			}
		}
	}
}
