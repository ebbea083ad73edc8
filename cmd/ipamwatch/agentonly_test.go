//go:build agentonly

package main

import (
	"strings"
	"testing"
)

// TestAgentOnlyStandIns: in the agent-only build the left-out commands exit 1 and say where
// the real command is, maxpods without EC2 still computes, and the command list is the
// full build's.
func TestAgentOnlyStandIns(t *testing.T) {
	t.Parallel()
	const msg = "not in this build; use the full ipamwatch binary"
	for _, args := range [][]string{
		{"demo"},
		{"demo", "--scenario", "large"},
		{"subnets", "--once"},
		{"maxpods", "--instance-type", "m5.large"},
		{"maxpods", "--all"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runCLI(t, args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if want := "ipamwatch " + args[0] + ": "; !strings.HasPrefix(stderr, want) || !strings.Contains(stderr, msg) {
				t.Errorf("stderr %q, want %q...%q", stderr, want, msg)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}

	code, out, stderr := runCLI(t, "maxpods", "--enis", "3", "--ips-per-eni", "10")
	if code != 0 || !strings.Contains(out, "29") {
		t.Errorf("maxpods --enis 3 --ips-per-eni 10: exit %d, stdout %q, stderr %q; want 29 max pods", code, out, stderr)
	}

	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	if got, want := strings.Join(names, " "), "run demo diagnose classify maxpods subnets version completion"; got != want {
		t.Errorf("commands %q, want %q", got, want)
	}
}
