package main

import (
	"context"
	"fmt"
	"text/template"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

// defineVersion: `ipamwatch version` prints what `ipamwatch --version` prints, prometheus/
// common's version.Print, on standard output.
func defineVersion(*kingpin.CmdClause) runFunc {
	return func(_ context.Context, s streams) int {
		fmt.Fprintln(s.out, version.Print("ipamwatch"))
		return exitOK
	}
}

const completionHelp = `Print a shell completion script (bash or zsh).

  bash:  source <(ipamwatch completion bash)     (or save it in /etc/bash_completion.d/)
  zsh:   ipamwatch completion zsh > "${fpath[1]}/_ipamwatch"`

// defineCompletion prints kingpin's completion script for bash or zsh. The script calls
// `ipamwatch --completion-bash ...` for the words, so completion always matches the binary.
func defineCompletion(c *kingpin.CmdClause) runFunc {
	shell := c.Arg("shell", "bash or zsh.").Required().Enum("bash", "zsh")
	return func(_ context.Context, s streams) int {
		tmpl := kingpin.BashCompletionTemplate
		if *shell == "zsh" {
			tmpl = kingpin.ZshCompletionTemplate
		}
		t, err := template.New(*shell).Parse(tmpl)
		if err == nil {
			err = t.Execute(s.out, map[string]any{"App": map[string]string{"Name": "ipamwatch"}})
		}
		if err != nil {
			fmt.Fprintln(s.err, "ipamwatch completion:", err)
			return exitError
		}
		return exitOK
	}
}
