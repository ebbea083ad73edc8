package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/template"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

const appHelp = `Why pods on Amazon EKS cannot get an IP address from the VPC CNI.

Exit status: 0 ran (nothing critical), 1 usage or I/O error, 3 diagnose found a critical
finding. Reference: docs/cli.md.`

// runFunc runs a parsed command and returns its exit code.
type runFunc func(ctx context.Context, s streams) int

// command is one subcommand: help is its text (the first paragraph is the summary in the
// command list); define declares its flags and arguments on its clause and returns the
// function that runs it with their values.
type command struct {
	name   string
	help   string
	define func(c *kingpin.CmdClause) runFunc
}

// commands is every command, in help order. The agent-only build has the same list: the
// commands it leaves out answer errNotInBuild (agentonly.go).
func commands() []command {
	return []command{
		{"run", runHelp, defineRun},
		{"demo", demoHelp, defineDemo},
		{"diagnose", diagnoseHelp, defineDiagnose},
		{"classify", classifyHelp, defineClassify},
		{"maxpods", maxPodsHelp, defineMaxPods},
		{"subnets", subnetsHelp, defineSubnets},
		{"version", "Print the version (what --version prints).", defineVersion},
		{"completion", completionHelp, defineCompletion},
	}
}

// terminated carries kingpin's exit status (help, --version, completion) out of Parse.
type terminated int

// newApp builds the command line of cmds for one invocation, writing help and errors to s.
func newApp(s streams, cmds []command) (*kingpin.Application, map[string]runFunc) {
	app := kingpin.New("ipamwatch", appHelp)
	app.UsageWriter(s.err).ErrorWriter(s.err)
	// The command list shows each command's first paragraph; `ipamwatch CMD --help` the rest.
	app.UsageTemplate(strings.Replace(kingpin.DefaultUsageTemplate, "{{.Help|Wrap 4}}", "{{.Help|Summary|Wrap 4}}", 1))
	app.UsageFuncs(template.FuncMap{"Summary": func(help string) string {
		first, _, _ := strings.Cut(help, "\n\n")
		return first
	}})
	app.Terminate(func(code int) { panic(terminated(code)) })
	app.HelpFlag.Short('h')
	app.Flag("version", "Show the version and exit.").PreAction(func(*kingpin.ParseContext) error {
		fmt.Fprintln(s.out, version.Print("ipamwatch"))
		panic(terminated(exitOK))
	}).Bool()
	runs := map[string]runFunc{}
	for _, c := range cmds {
		runs[c.name] = c.define(app.Command(c.name, c.help))
	}
	return app, runs
}

// dispatch parses args and runs the chosen command.
func dispatch(ctx context.Context, args []string, s streams) int {
	return dispatchCommands(ctx, args, s, commands())
}

// dispatchCommands is dispatch over a given command list (tests replace a command's
// definition, e.g. maxpods with a fake EC2 lookup).
func dispatchCommands(ctx context.Context, args []string, s streams, cmds []command) int {
	app, runs := newApp(s, cmds)
	if len(args) == 0 {
		parse(app, []string{"--help"}, s, cmds) // help, but nothing ran: a usage error
		return exitError
	}
	args, err := acceptBoolValues(app, args)
	if err != nil {
		usageError(s, args, err)
		return exitError
	}
	code, name := parse(app, args, s, cmds)
	if name == "" {
		return code
	}
	return runs[name](ctx, s)
}

// parse runs kingpin on args. It returns the selected command, or "" and the exit code when
// parsing ended the invocation (help, --version, a usage error).
func parse(app *kingpin.Application, args []string, s streams, cmds []command) (code int, name string) {
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			code, name = int(t), ""
		}
	}()
	name, err := app.Parse(args)
	if err != nil {
		usageError(s, args, nameBadValue(cmds, args, err))
		return exitError, ""
	}
	return exitOK, name
}

// nameBadValue adds the flag to a value kingpin could not parse: its own message is the bare
// strconv or time error ("parsing "three": invalid syntax"). The flag is found by setting
// each flag of a fresh parse again until one fails the same way.
func nameBadValue(cmds []command, args []string, err error) error {
	app, _ := newApp(streams{out: io.Discard, err: io.Discard}, cmds)
	pc, perr := app.ParseContext(args)
	if perr != nil || pc == nil {
		return err
	}
	for _, el := range pc.Elements {
		f, ok := el.Clause.(*kingpin.FlagClause)
		if !ok || el.Value == nil {
			continue
		}
		m := f.Model()
		if serr := m.Value.Set(*el.Value); serr != nil && serr.Error() == err.Error() {
			return fmt.Errorf("invalid value %q for --%s: %w", *el.Value, m.Name, err)
		}
	}
	return err
}

// usageError says what was wrong, naming the command, and where help is.
func usageError(s streams, args []string, err error) {
	prefix := "ipamwatch"
	for _, c := range commands() {
		if len(args) > 0 && args[0] == c.name {
			prefix += " " + c.name
		}
	}
	fmt.Fprintf(s.err, "%s: %v\nSee '%s --help'.\n", prefix, err, prefix)
}

// acceptBoolValues rewrites --flag=true and --flag=false of boolean flags into kingpin's
// --flag and --no-flag. kingpin/v2 takes a boolean flag's "=false" for a stray argument,
// while manifests, charts and habits from Go's flag package write --leader-elect=false.
func acceptBoolValues(app *kingpin.Application, args []string) ([]string, error) {
	bools := map[string]bool{}
	model := app.Model()
	for _, f := range model.Flags {
		bools[f.Name] = f.IsBoolFlag()
	}
	for _, c := range model.Commands {
		for _, f := range c.Flags {
			if isBool, seen := bools[f.Name]; seen && isBool != f.IsBoolFlag() {
				delete(bools, f.Name) // boolean in one command, valued in another: leave it to kingpin
				continue
			}
			bools[f.Name] = f.IsBoolFlag()
		}
	}
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...), nil
		}
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") || !bools[name] {
			out = append(out, a)
			continue
		}
		b, err := strconv.ParseBool(val)
		if err != nil {
			return args, fmt.Errorf("--%s takes true or false, not %q", name, val)
		}
		if b {
			out = append(out, "--"+name)
		} else {
			out = append(out, "--no-"+name)
		}
	}
	return out, nil
}
