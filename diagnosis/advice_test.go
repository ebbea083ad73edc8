package diagnosis

import (
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/internal/shellcheck"
)

func TestAdviceTable(t *testing.T) {
	t.Parallel()
	for _, err := range adviceErrors() {
		t.Error(err)
	}
	for _, c := range Causes() {
		a := AdviceFor(c)
		if a.Severity == "" || a.Title == "" || a.Confirm == "" || a.Fix == "" || a.Verify == "" || a.Upstream == "" {
			t.Errorf("%s: incomplete advice %+v", c, a)
		}
		if !strings.Contains(a.Upstream, "v1.") && !strings.Contains(a.Upstream, "amazon-eks-ami") && !strings.Contains(a.Upstream, "EKS user guide") {
			t.Errorf("%s: Upstream names no version or document: %q", c, a.Upstream)
		}
	}
}

func TestParseAdviceRejects(t *testing.T) {
	t.Parallel()
	good := "---\nseverity: warning\ntitle: T\n---\n## Explanation\nE\n## Fix\nF\n## Confirm\n```sh\nkubectl get node \"$NODE\"\n```\n## Verify\nV\n## Upstream\nU\n"
	if _, err := parseAdvice("x", good); err != nil {
		t.Fatalf("good advice rejected: %v", err)
	}
	for name, src := range map[string]string{
		"no front matter":      strings.TrimPrefix(good, "---\n"),
		"missing section":      strings.Replace(good, "## Verify\nV\n", "", 1),
		"unknown section":      good + "## Notes\nN\n",
		"confirm not a fence":  strings.Replace(good, "```sh\nkubectl get node \"$NODE\"\n```", "kubectl get node", 1),
		"unknown variable":     strings.Replace(good, `"$NODE"`, `"$NODENAME"`, 1),
		"undeclared param":     strings.Replace(good, "\nF\n", "\nset {n}\n", 1),
		"unused param":         strings.Replace(good, "title: T\n", "title: T\nparam.n: words\n", 1),
		"unknown severity":     strings.Replace(good, "warning", "urgent", 1),
		"unknown ceiling":      strings.Replace(good, "title: T\n", "title: T\nceiling: moon\n", 1),
		"unknown front matter": strings.Replace(good, "title: T\n", "title: T\nowner: me\n", 1),
	} {
		if _, err := parseAdvice("x", src); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// allBindings are the three situations a script is rendered in: a live node that knows
// everything, a log-collector bundle that knows the instance but not the node's name, and
// a runbook that knows nothing but where to find the node.
func allBindings() map[string]Bindings {
	return map[string]Bindings{
		"live": {Values: map[string]string{"NODE": "ip-10-0-1-10.eu-west-1.compute.internal", "INSTANCE_ID": "i-0123456789abcdef0",
			"INSTANCE_TYPE": "m5.large", "REGION": "eu-west-1", "SUBNET": "subnet-0aa", "ENICONFIG": "eu-west-1a"}},
		"bundle":  {Values: map[string]string{"INSTANCE_ID": "i-0123456789abcdef0", "REGION": "eu-west-1"}},
		"nothing": {},
		"runbook": {Exprs: map[string]string{"NODE": `"${NODE:?set NODE to the node label of the alert}"`}},
	}
}

// TestAdviceScriptsRunAsPasted parses every confirm script and every fix block, in every
// situation, with a real bash parser, and rejects <placeholders>.
func TestAdviceScriptsRunAsPasted(t *testing.T) {
	t.Parallel()
	for _, c := range Causes() {
		a := AdviceFor(c)
		for name, b := range allBindings() {
			scripts := append([]string{a.ConfirmScript(b)}, ShellBlocks(a.FixWith(nil, b))...)
			for _, s := range scripts {
				if err := shellcheck.Check(s); err != nil {
					t.Errorf("%s (%s): %v:\n%s", c, name, err, s)
				}
				checkNoExecIntoAWSNode(t, string(c), s)
			}
		}
	}
}

// checkNoExecIntoAWSNode: aws-node has no shell and no curl since CNI v1.12.1 (its image is
// eks-distro's minimal base), so "kubectl exec ... -c aws-node -- curl" cannot run.
func checkNoExecIntoAWSNode(t *testing.T, where, s string) {
	t.Helper()
	if strings.Contains(s, "kubectl") && strings.Contains(s, " exec ") && strings.Contains(s, "aws-node") {
		t.Errorf("%s: execs into aws-node, which has no shell or curl:\n%s", where, s)
	}
	if shellcheck.ChainsCommands(s) {
		t.Errorf("%s: chains commands with &&: one failing command hides the rest:\n%s", where, s)
	}
}

func TestPreamble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		need []string
		b    Bindings
		want string
	}{
		{"known values are quoted when needed", []string{"NODE", "SUBNET"},
			Bindings{Values: map[string]string{"NODE": "ip-10-0-1-10.ec2.internal", "SUBNET": "subnet-1 x"}},
			"NODE=ip-10-0-1-10.ec2.internal\nSUBNET='subnet-1 x'\n"},
		{"node found from the instance id", []string{"NODE"},
			Bindings{Values: map[string]string{"INSTANCE_ID": "i-0abc"}},
			"INSTANCE_ID=i-0abc\nNODE=$(" + shellVars[0].finders[0] + ")\n"},
		{"nothing known: stop and say what to set", []string{"NODE"}, Bindings{},
			": \"${NODE:?set NODE to the name of the node (kubectl get nodes)}\"\n"},
		{"finders chain through the node", []string{"SUBNET"}, Bindings{Values: map[string]string{"NODE": "n1"}},
			"NODE=n1\nINSTANCE_ID=$(" + shellVars[1].finders[0] + ")\nREGION=$(" + shellVars[2].finders[0] + ")\nSUBNET=$(" + shellVars[4].finders[0] + ")\n"},
		{"an expression is emitted as it is", []string{"NODE"}, Bindings{Exprs: map[string]string{"NODE": `"${NODE:?x}"`}},
			"NODE=\"${NODE:?x}\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Preamble(tc.need, tc.b); got != tc.want {
				t.Errorf("Preamble =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestScriptVarsSkipsQuotedText(t *testing.T) {
	t.Parallel()
	got := scriptVars(`X=1; echo "$X $NODE" '$NF' # $SUBNET` + "\n" + `awk '{print $NF}' "${REGION}"`)
	if strings.Join(got, ",") != "NODE,REGION" {
		t.Errorf("scriptVars = %q, want NODE,REGION", got)
	}
}

// TestScenarioFindingsRunAsPasted checks the commands of every finding the diagnosis makes
// in the test scenarios, with the values each one filled in.
func TestScenarioFindingsRunAsPasted(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		r := Diagnose(sc.state(), Options{Now: t0})
		for _, f := range r.Findings {
			for _, s := range append([]string{f.Confirm}, ShellBlocks(f.Fix)...) {
				if err := shellcheck.Check(s); err != nil {
					t.Errorf("%s/%s: %v:\n%s", sc.name, f.Cause, err, s)
				}
				checkNoExecIntoAWSNode(t, sc.name+"/"+string(f.Cause), s)
			}
			if strings.Contains(f.Fix, "{") && paramRe.MatchString(f.Fix) {
				t.Errorf("%s/%s: fix keeps a raw {param}: %s", sc.name, f.Cause, f.Fix)
			}
		}
	}
}
