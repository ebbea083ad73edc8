package diagnosis

import (
	"bufio"
	"embed"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/ipamwatch/ipamwatch/internal/shtext"
)

// Advice is everything ipamwatch tells a person about a cause, written once in
// advice/<cause>.md. The finding, the text report, /diagnosis, docs/diagnosis.md, the alert
// annotations and the runbooks all read it from here; a rule adds only what it measured
// (numbers, IDs, the log line) through the evidence and the {params} of Fix.
type Advice struct {
	Cause    Cause
	Severity Severity
	// Ceiling is the binding ceiling the cause stands for, "" when it binds none.
	Ceiling Ceiling
	// Title is one static line: what is wrong (the alert summary).
	Title string
	// Explanation says what happens and why, for someone who has not seen it before.
	Explanation string
	// Fix is Markdown; {name} marks a value the rule fills in (Params gives the words a
	// runbook uses in its place).
	Fix string
	// Confirm is a shell script that proves or refutes the finding. It uses the shell
	// variables of shellVars ("$NODE", "$SUBNET", ...); ConfirmScript binds them.
	Confirm string
	// Verify says how to see that the fix worked.
	Verify string
	// Upstream names the upstream code and documents the rule follows.
	Upstream string
	// Params maps each {name} of Fix to the words a runbook uses instead of a value.
	Params map[string]string
}

//go:embed advice/*.md
var adviceFS embed.FS

type adviceSet struct {
	byCause map[Cause]Advice
	errs    []error
}

// loadAdvice parses the embedded table once. The files are part of the binary, so a parse
// error is a bug that TestAdviceTable reports; at run time a broken entry degrades to an
// entry with only its cause set instead of stopping the agent.
var loadAdvice = sync.OnceValue(func() adviceSet {
	set := adviceSet{byCause: map[Cause]Advice{}}
	for _, c := range Causes() {
		name := "advice/" + string(c) + ".md"
		b, err := adviceFS.ReadFile(name)
		if err != nil {
			set.errs = append(set.errs, fmt.Errorf("cause %s has no advice file %s", c, name))
			set.byCause[c] = Advice{Cause: c}
			continue
		}
		a, err := parseAdvice(c, string(b))
		if err != nil {
			set.errs = append(set.errs, fmt.Errorf("%s: %w", name, err))
		}
		set.byCause[c] = a
	}
	entries, _ := adviceFS.ReadDir("advice") // embedded: cannot fail
	for _, e := range entries {
		c := Cause(strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
		if _, ok := set.byCause[c]; !ok {
			set.errs = append(set.errs, fmt.Errorf("advice/%s names no known cause", e.Name()))
		}
	}
	return set
})

// AdviceFor returns the advice of a cause (an entry with only Cause set when none exists).
func AdviceFor(c Cause) Advice {
	a, ok := loadAdvice().byCause[c]
	if !ok {
		return Advice{Cause: c}
	}
	return a
}

// adviceErrors reports what is wrong with the embedded table (for tests).
func adviceErrors() []error { return loadAdvice().errs }

var (
	paramRe   = regexp.MustCompile(`\{([a-z_]+)\}`)
	sectionRe = regexp.MustCompile(`^## (\w+)\s*$`)
)

// parseAdvice reads one advice file: a front matter of "key: value" lines between "---"
// lines (severity, ceiling, title, param.NAME), then "## Section" blocks.
func parseAdvice(c Cause, src string) (Advice, error) {
	a := Advice{Cause: c, Params: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(src))
	sections := map[string]*strings.Builder{}
	var cur *strings.Builder
	state := 0 // 0 before front matter, 1 inside, 2 body
	for sc.Scan() {
		line := sc.Text()
		switch state {
		case 0:
			if strings.TrimSpace(line) != "---" {
				return a, fmt.Errorf("must start with a front matter between --- lines")
			}
			state = 1
		case 1:
			if strings.TrimSpace(line) == "---" {
				state = 2
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return a, fmt.Errorf("front matter line %q is not key: value", line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case k == "severity":
				a.Severity = Severity(v)
			case k == "ceiling":
				a.Ceiling = Ceiling(v)
			case k == "title":
				a.Title = v
			case strings.HasPrefix(k, "param."):
				a.Params[strings.TrimPrefix(k, "param.")] = v
			default:
				return a, fmt.Errorf("unknown front matter key %q", k)
			}
		case 2:
			if m := sectionRe.FindStringSubmatch(line); m != nil {
				if sections[m[1]] != nil {
					return a, fmt.Errorf("section %s appears twice", m[1])
				}
				cur = &strings.Builder{}
				sections[m[1]] = cur
				continue
			}
			if cur == nil {
				if strings.TrimSpace(line) != "" {
					return a, fmt.Errorf("text before the first section: %q", line)
				}
				continue
			}
			cur.WriteString(line)
			cur.WriteByte('\n')
		}
	}
	get := func(name string) string {
		if b := sections[name]; b != nil {
			return strings.TrimSpace(b.String())
		}
		return ""
	}
	a.Explanation, a.Fix, a.Verify, a.Upstream = unwrap(get("Explanation")), unwrap(get("Fix")), unwrap(get("Verify")), unwrap(get("Upstream"))
	var err error
	a.Confirm, err = shellBlock(get("Confirm"))
	if err != nil {
		return a, fmt.Errorf("section Confirm: %w", err)
	}
	for name := range sections {
		switch name {
		case "Explanation", "Fix", "Confirm", "Verify", "Upstream":
		default:
			return a, fmt.Errorf("unknown section %s", name)
		}
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"severity", string(a.Severity)}, {"title", a.Title}, {"Explanation", a.Explanation}, {"Fix", a.Fix},
		{"Confirm", a.Confirm}, {"Verify", a.Verify}, {"Upstream", a.Upstream},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return a, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if a.Severity.rank() > 2 {
		return a, fmt.Errorf("unknown severity %q", a.Severity)
	}
	if a.Ceiling != "" && a.Ceiling.Meaning() == "" {
		return a, fmt.Errorf("unknown ceiling %q", a.Ceiling)
	}
	used := map[string]bool{}
	for _, m := range paramRe.FindAllStringSubmatch(a.Fix, -1) {
		used[m[1]] = true
		if _, ok := a.Params[m[1]]; !ok {
			return a, fmt.Errorf("fix uses {%s} but the front matter declares no param.%s", m[1], m[1])
		}
	}
	for p := range a.Params {
		if !used[p] {
			return a, fmt.Errorf("param.%s is declared but the fix does not use it", p)
		}
	}
	if _, err := unknownVars(a.Confirm); err != nil {
		return a, fmt.Errorf("section Confirm: %w", err)
	}
	return a, nil
}

// unwrap joins the hard-wrapped lines of each Markdown paragraph and list item, so that the
// text reads the same in JSON, a terminal and a runbook. Code fences stay as they are.
func unwrap(md string) string {
	var out []string
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "```"):
			inFence = !inFence
			out = append(out, line)
		case inFence || t == "" || strings.HasPrefix(t, "- ") || len(out) == 0:
			out = append(out, line)
		default:
			prev := out[len(out)-1]
			pt := strings.TrimSpace(prev)
			if pt == "" || strings.HasPrefix(pt, "```") {
				out = append(out, line)
				continue
			}
			out[len(out)-1] = prev + " " + t
		}
	}
	return strings.Join(out, "\n")
}

// shellBlock returns the body of the one ```sh fence a section must consist of.
func shellBlock(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	body, ok := strings.CutPrefix(s, "```sh\n")
	if !ok {
		return "", fmt.Errorf("must be one ```sh fenced block")
	}
	body, ok = strings.CutSuffix(body, "\n```")
	if !ok || strings.Contains(body, "```") {
		return "", fmt.Errorf("must be one ```sh fenced block and nothing else")
	}
	return body, nil
}

// FixWith renders Fix with the rule's values and gives each ```sh block of it the lines that
// set the variables it reads. A param the rule did not give keeps the runbook's words, so a
// missing value never prints a raw {name}.
func (a Advice) FixWith(values map[string]string, b Bindings) string {
	fix := paramRe.ReplaceAllStringFunc(a.Fix, func(m string) string {
		name := m[1 : len(m)-1]
		if v, ok := values[name]; ok {
			return v
		}
		return a.Params[name]
	})
	return withPreambles(fix, b)
}

// withPreambles inserts, after the opening line of each ```sh block of md, the lines that
// set the shell variables the block reads.
func withPreambles(md string, b Bindings) string {
	return MapShellBlocks(md, func(body string) string { return Preamble(scriptVars(body), b) + body })
}

// ShellBlocks returns the bodies of the ```sh blocks of a Markdown text.
func ShellBlocks(md string) []string {
	var out []string
	MapShellBlocks(md, func(body string) string {
		out = append(out, body)
		return body
	})
	return out
}

// MapShellBlocks returns md with the body of each ```sh block replaced by f(body); a body
// ends in a newline, and so must what f returns. An unclosed block is left as it is.
func MapShellBlocks(md string, f func(body string) string) string {
	const open = "```sh\n"
	var out strings.Builder
	rest := md
	for {
		i := strings.Index(rest, open)
		if i < 0 {
			break
		}
		j := strings.Index(rest[i+len(open):], "\n```")
		if j < 0 {
			break
		}
		start, end := i+len(open), i+len(open)+j+1
		out.WriteString(rest[:start])
		out.WriteString(f(rest[start:end]))
		rest = rest[end:]
	}
	out.WriteString(rest)
	return out.String()
}

// --- shell variables -------------------------------------------------------------------

// shellVar is a value a confirm script needs. When the diagnosis knows it, the script starts
// with NAME='value'; when not, with NAME=$(a command that finds it from other variables);
// when nothing can find it, with a line that stops the script and says what to set.
type shellVar struct {
	name string
	// finders are alternative commands, each reading other variables; the first whose
	// inputs are known or findable is used.
	finders []string
	// ask is what a person must set when the value is unknown and cannot be found.
	ask string
}

// shellVars are the variables confirm scripts may use. NODE and INSTANCE_ID find each other:
// a live node knows its name, a log-collector bundle its instance id.
var shellVars = []shellVar{
	{name: "NODE", ask: "the name of the node (kubectl get nodes)", finders: []string{
		`kubectl get nodes -o custom-columns=NAME:.metadata.name,ID:.spec.providerID --no-headers | awk -v id="$INSTANCE_ID" '$2 ~ id"$" {print $1}'`,
	}},
	{name: "INSTANCE_ID", ask: "the EC2 instance id of the node", finders: []string{
		`kubectl get node "$NODE" -o jsonpath='{.spec.providerID}' | awk -F/ '{print $NF}'`,
	}},
	{name: "REGION", ask: "the AWS region of the node", finders: []string{
		`kubectl get node "$NODE" -o jsonpath='{.metadata.labels.topology\.kubernetes\.io/region}'`,
	}},
	{name: "INSTANCE_TYPE", ask: "the instance type of the node", finders: []string{
		`kubectl get node "$NODE" -o jsonpath='{.metadata.labels.node\.kubernetes\.io/instance-type}'`,
	}},
	{name: "SUBNET", ask: "the subnet id", finders: []string{
		`aws ec2 describe-instances --region "$REGION" --instance-ids "$INSTANCE_ID" --query 'Reservations[0].Instances[0].SubnetId' --output text`,
	}},
	{name: "CLUSTER", ask: "the name of the EKS cluster", finders: []string{
		`kubectl -n kube-system get daemonset aws-node -o jsonpath='{.spec.template.spec.containers[?(@.name=="aws-node")].env[?(@.name=="CLUSTER_NAME")].value}'`,
	}},
	{name: "ENICONFIG", ask: "the name of the ENIConfig of the node", finders: []string{
		`kubectl get node "$NODE" -o jsonpath='{.metadata.labels.k8s\.amazonaws\.com/eniConfig}{.metadata.annotations.k8s\.amazonaws\.com/eniConfig}'`,
	}},
}

var (
	varRe    = regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)\b`)
	assignRe = regexp.MustCompile(`^\s*([A-Z][A-Z0-9_]*)=`)
)

// scriptVars returns the variables a script reads that it does not set itself, sorted.
// Text in single quotes (awk programs, jq filters, JSONPath) is not expanded by the shell
// and is skipped.
func scriptVars(script string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(script, "\n") {
		if m := assignRe.FindStringSubmatch(line); m != nil {
			set[m[1]] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range varRe.FindAllStringSubmatch(shtext.Unquoted(script), -1) {
		if !set[m[1]] && !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// unknownVars reports a script variable that is neither set by the script nor a shellVar.
func unknownVars(script string) ([]string, error) {
	vars := scriptVars(script)
	for _, v := range vars {
		if shellVarIndex(v) < 0 {
			return nil, fmt.Errorf("uses $%s, which no shell variable rule provides", v)
		}
	}
	return vars, nil
}

func shellVarIndex(name string) int {
	for i, v := range shellVars {
		if v.name == name {
			return i
		}
	}
	return -1
}

// Bindings say what is known of the confirm scripts' variables: Values are literal values
// the diagnosis measured (quoted when emitted); Exprs are shell expressions that find a value
// in a context the diagnosis does not see (a runbook takes the node from the alert), emitted
// as they are.
type Bindings struct {
	Values map[string]string
	Exprs  map[string]string
}

func (b Bindings) has(name string) bool { return b.Values[name] != "" || b.Exprs[name] != "" }

// ConfirmScript returns the advice's confirm script preceded by the lines that set each
// variable it needs: the known value, else a command that finds it, else a stop that says
// what to set. The script runs as pasted.
func (a Advice) ConfirmScript(b Bindings) string {
	if a.Confirm == "" {
		return ""
	}
	return Preamble(scriptVars(a.Confirm), b) + a.Confirm
}

// Preamble returns the lines that set the variables in need, each after the variables its
// finder reads.
func Preamble(need []string, b Bindings) string {
	r := resolver{known: b, done: map[string]bool{}, busy: map[string]bool{}}
	for _, n := range need {
		r.resolve(n)
	}
	return r.out.String()
}

type resolver struct {
	known Bindings
	done  map[string]bool
	busy  map[string]bool
	out   strings.Builder
}

// resolve emits the line that sets name (after its inputs); it reports whether name ends up
// with a value (known or found) rather than a stop.
func (r *resolver) resolve(name string) bool {
	if r.done[name] {
		return true
	}
	if v := r.known.Values[name]; v != "" {
		fmt.Fprintf(&r.out, "%s=%s\n", name, shellQuote(v))
		r.done[name] = true
		return true
	}
	if e := r.known.Exprs[name]; e != "" {
		fmt.Fprintf(&r.out, "%s=%s\n", name, e)
		r.done[name] = true
		return true
	}
	i := shellVarIndex(name)
	if i < 0 || r.busy[name] {
		return false
	}
	r.busy[name] = true
	defer delete(r.busy, name)
	for _, f := range shellVars[i].finders {
		if r.canFind(f) {
			for _, dep := range scriptVars(f) {
				r.resolve(dep)
			}
			fmt.Fprintf(&r.out, "%s=$(%s)\n", name, f)
			r.done[name] = true
			return true
		}
	}
	fmt.Fprintf(&r.out, ": \"${%s:?set %s to %s}\"\n", name, name, shellVars[i].ask)
	r.done[name] = true
	return false
}

// canFind reports whether every input of a finder is known or findable without a cycle.
func (r *resolver) canFind(finder string) bool {
	for _, dep := range scriptVars(finder) {
		if r.done[dep] || r.known.has(dep) {
			continue
		}
		i := shellVarIndex(dep)
		if i < 0 || r.busy[dep] {
			return false
		}
		r.busy[dep] = true
		ok := false
		for _, f := range shellVars[i].finders {
			if r.canFind(f) {
				ok = true
				break
			}
		}
		delete(r.busy, dep)
		if !ok {
			return false
		}
	}
	return true
}

// shellQuote quotes s for a POSIX shell when it holds anything but safe characters.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._/:@", r)
	}
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !safe(r) }) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
