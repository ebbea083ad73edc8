package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/version"

	"github.com/ipamwatch/ipamwatch/demo"
)

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// -h, --help and `help CMD` exit 0 for the program and every command, with the usage of
// that command on standard error and nothing on standard output.
func TestHelpExitsZeroEverywhere(t *testing.T) {
	t.Parallel()
	cases := [][]string{{"-h"}, {"--help"}, {"help"}}
	for _, name := range commandNames() {
		cases = append(cases, []string{name, "-h"}, []string{name, "--help"}, []string{"help", name})
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, args...)
			want := "usage: ipamwatch"
			if len(args) == 2 {
				want += " " + slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "help" || strings.HasPrefix(a, "-") })[0]
			}
			if code != 0 || out != "" || !strings.HasPrefix(stderr, want) {
				t.Errorf("exit %d, stdout %q, stderr starts %q; want 0, nothing, %q", code, out, firstLine(stderr), want)
			}
		})
	}
	// No command at all: the usage, but it is a usage error.
	if code, _, stderr := runCLI(t); code != 1 || !strings.Contains(stderr, "Commands:") {
		t.Errorf("no arguments: exit %d, stderr %q", code, firstLine(stderr))
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// --version and `version` print prometheus/common's version.Print on standard output.
func TestVersion(t *testing.T) {
	t.Parallel()
	want := version.Print("ipamwatch") + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}, {"run", "--version"}} {
		code, out, stderr := runCLI(t, args...)
		if code != 0 || out != want || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0 and %q", args, code, out, stderr, want)
		}
	}
	if code, _, _ := runCLI(t, "version", "--short"); code != 1 {
		t.Errorf("version --short: exit %d, want 1 (no such flag)", code)
	}
}

// Each command refuses the flags of the others: before, diagnose silently took the agent's
// --events, --web.* and --interval.* and ignored them.
func TestCommandsAcceptOnlyTheirFlags(t *testing.T) {
	t.Parallel()
	foreign := map[string][]string{
		"diagnose":   {"--events", "--web.listen-address=:1", "--web.config.file=x", "--web.telemetry-path=/m", "--interval.ipamd=1m", "--interval.subnets=1m", "--once"},
		"classify":   {"--log.level=debug", "--log.format=json", "--bundle=x", "--node-name=n", "--timeout=1s"},
		"maxpods":    {"--log.level=debug", "--ipamd.address=x", "--web.listen-address=:1", "--bundle=x"},
		"run":        {"--bundle=x", "--format=json", "--timeout=1s", "--scenario=x", "--once"},
		"demo":       {"--events", "--node-name=n", "--web.config.file=x", "--kubernetes=off"},
		"subnets":    {"--events", "--node-name=n", "--bundle=x", "--interval.ipamd=1m", "--ipamd.address=x"},
		"version":    {"--format=json", "--log.level=debug"},
		"completion": {"--format=json"},
	}
	for _, name := range commandNames() {
		flags, ok := foreign[name]
		if !ok {
			t.Errorf("command %s has no foreign flags in this test", name)
			continue
		}
		for _, f := range flags {
			args := []string{name, f}
			if name == "completion" {
				args = append(args, "bash")
			}
			code, out, stderr := runCLI(t, args...)
			flagName, _, _ := strings.Cut(f, "=")
			if code != 1 || out != "" || !strings.Contains(stderr, "ipamwatch "+name+": unknown long flag '"+flagName+"'") {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and unknown long flag", args, code, out, firstLine(stderr))
			}
		}
	}
}

// Boolean flags take --flag, --no-flag and, for manifests and habits from Go's flag
// package, --flag=true|false; a malformed value is a usage error naming the flag.
func TestBooleanFlagValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"maxpods", "--enis=3", "--ips-per-eni=10", "--prefix-delegation"}, "max-pods: 110"},
		{[]string{"maxpods", "--enis=3", "--ips-per-eni=10", "--prefix-delegation=true"}, "max-pods: 110"},
		{[]string{"maxpods", "--enis=3", "--ips-per-eni=10", "--prefix-delegation=false"}, "max-pods: 29"},
		{[]string{"maxpods", "--enis=3", "--ips-per-eni=10", "--prefix-delegation", "--nitro=false"}, "needs a Nitro instance"},
		{[]string{"maxpods", "--enis=3", "--ips-per-eni=10", "--prefix-delegation", "--no-nitro"}, "needs a Nitro instance"},
	} {
		code, out, stderr := runCLI(t, tc.args...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; stdout lacks %q:\n%s", tc.args, code, stderr, tc.want, out)
		}
	}
	code, _, stderr := runCLI(t, "maxpods", "--enis=3", "--ips-per-eni=10", "--nitro=perhaps")
	if code != 1 || !strings.Contains(stderr, `--nitro takes true or false, not "perhaps"`) {
		t.Errorf("--nitro=perhaps: exit %d, stderr %q", code, stderr)
	}
	// After "--", arguments are not flags.
	code, _, stderr = runCLI(t, "classify", "--", "--all=false")
	if code != 1 || !strings.Contains(stderr, "--all=false: no such file") {
		t.Errorf("classify -- --all=false: exit %d, stderr %q", code, stderr)
	}
}

// A value kingpin cannot parse names the flag.
func TestBadValueNamesTheFlag(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{
		"run --interval.cni=3x":         `invalid value "3x" for --interval.cni`,
		"run --log.format text":         `invalid value "text" for --log.format: unrecognized log format text`,
		"diagnose --log.level loud":     `invalid value "loud" for --log.level`,
		"maxpods --enis three":          `invalid value "three" for --enis`,
		"run --kubernetes maybe":        `invalid value "maybe" for --kubernetes`,
		"completion fish":               `enum value must be one of bash,zsh, got 'fish'`,
		"nonesuch":                      `expected command but got "nonesuch"`,
		"subnets --poll-jitter=lots":    `invalid value "lots" for --poll-jitter`,
		"classify --max-line-bytes=big": `invalid value "big" for --max-line-bytes`,
	} {
		code, out, stderr := runCLI(t, strings.Fields(args)...)
		if code != 1 || out != "" || !strings.Contains(stderr, want) || !strings.Contains(stderr, "--help'") {
			t.Errorf("%s: exit %d, stderr %q; want 1, %q and where help is", args, code, stderr, want)
		}
	}
}

// diagnose exits 3 when a finding is critical, 0 otherwise, in both formats.
func TestDiagnoseExitCodes(t *testing.T) {
	t.Parallel()
	for scenario, want := range map[string]int{"healthy": 0, "subnet-exhausted": 3, "eni-limit": 0} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			spec, err := demo.Lookup(scenario)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := simulate(t, spec, 90).WriteBundle(dir); err != nil {
				t.Fatal(err)
			}
			for _, format := range []string{"text", "json"} {
				code, out, stderr := runCLI(t, "diagnose", "--bundle", dir, "--format", format)
				if code != want {
					t.Errorf("%s: exit %d, want %d; stderr %q\n%s", format, code, want, stderr, out)
				}
				marker := map[string]string{"text": "[CRITICAL]", "json": `"severity": "critical"`}[format]
				if critical := strings.Contains(out, marker); critical != (want == 3) {
					t.Errorf("%s: report mentions critical = %v with exit %d", format, critical, code)
				}
			}
		})
	}
	// An unreadable bundle is an I/O error.
	if code, _, _ := runCLI(t, "diagnose", "--bundle", filepath.Join(t.TempDir(), "missing.tar.gz")); code != 1 {
		t.Errorf("missing bundle: exit %d, want 1", code)
	}
}

// The completion scripts are valid shell.
func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh"} {
		code, out, stderr := runCLI(t, "completion", shell)
		if code != 0 || stderr != "" {
			t.Fatalf("completion %s: exit %d, stderr %q", shell, code, stderr)
		}
		wantLine := map[string]string{
			"bash": "complete -F _ipamwatch_bash_autocomplete -o default ipamwatch",
			"zsh":  "#compdef ipamwatch",
		}[shell]
		if !strings.Contains(out, wantLine) || !strings.Contains(out, "--completion-bash") {
			t.Errorf("%s script lacks %q or --completion-bash:\n%s", shell, wantLine, out)
		}
		sh, err := exec.LookPath(shell)
		if err != nil {
			continue // syntax checked where the shell is installed (bash is, on the CI image)
		}
		cmd := exec.Command(sh, "-n")
		cmd.Stdin = strings.NewReader(out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, b)
		}
	}
	// Completing words through the binary: TestBinaryCompletion.
}

// --log.level and --log.format are promslog's: logfmt or JSON lines on standard error.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	base := []string{"diagnose", "--ipamd.address=", "--cni.metrics-url=", "--imds.disable", "--log.ipamd=", "--log.plugin=", "--kubernetes=auto"}
	// With no node name the agent logs at info that the Kubernetes source is off.
	const msg = "Kubernetes source off"
	_, _, stderr := runCLI(t, append(base, "--log.level=info", "--log.format=json")...)
	line := firstLine(stderr)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["level"] != "INFO" || !strings.Contains(fmt.Sprint(rec["msg"]), msg) {
		t.Errorf("--log.format=json: first line %q (%v)", line, err)
	}
	_, _, stderr = runCLI(t, append(base, "--log.level=info", "--log.format=logfmt")...)
	if line := firstLine(stderr); !strings.HasPrefix(line, "time=") || !strings.Contains(line, "level=INFO") || !strings.Contains(line, msg) {
		t.Errorf("--log.format=logfmt: first line %q", line)
	}
	// diagnose's default level is warn: the info line is not printed.
	if _, _, stderr = runCLI(t, base...); strings.Contains(stderr, msg) {
		t.Errorf("default level printed an info line: %q", stderr)
	}
}
