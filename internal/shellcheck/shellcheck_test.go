package shellcheck

import "testing"

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, script string
		ok           bool
	}{
		{"plain command", `kubectl get node "$NODE" -o jsonpath='{.status.allocatable.pods}'`, true},
		{"placeholder read as redirections", `kubectl get node <node> -o wide`, false},
		{"placeholder that breaks parsing", `aws iam list-attached-role-policies --role-name <role-name>`, false},
		{"assignment placeholder", `NODE=<the node label of the alert>`, false},
		{"placeholder inside single quotes is data", `jq '.findings[] | select(.x == "<a>")'`, true},
		{"placeholder in a comment", "# set <node> below\nNODE=n1", true},
		{"real redirections", `curl -s localhost:9713 >/dev/null 2>&1 & PF=$!`, true},
		{"unterminated quote", `kubectl get node 'x`, false},
		{"guarded variable", `: "${NODE:?set NODE to the node name}"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Check(tc.script)
			if (err == nil) != tc.ok {
				t.Fatalf("Check(%q) = %v, want ok=%v", tc.script, err, tc.ok)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	cmds, err := Commands("NODE=$(kubectl get nodes -o name)\nif [ -n \"$NODE\" ]; then aws ec2 describe-subnets --subnet-ids \"$SUBNET\"; fi")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cmds {
		names = append(names, c[0])
	}
	if len(names) < 3 || names[0] != "kubectl" {
		t.Fatalf("commands = %q", names)
	}
}

func TestChainsCommands(t *testing.T) {
	t.Parallel()
	for script, want := range map[string]bool{
		`kubectl get node n1 && aws ec2 describe-subnets`:   true,
		`if [ -z "$A" ] && [ -n "$B" ]; then echo x; fi`:    false,
		`[ -n "$A" ] || exit 1`:                             false,
		"kubectl get node n1\naws ec2 describe-subnets":     false,
		`kubectl debug node/n1 -- sh -c 'curl a && curl b'`: false,
	} {
		if got := ChainsCommands(script); got != want {
			t.Errorf("ChainsCommands(%q) = %v, want %v", script, got, want)
		}
	}
}
