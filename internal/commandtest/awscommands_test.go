package commandtest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/shellcheck"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// commandVars are the values every variable of the scripts has in the world: the confirm
// scripts' shared variables, the ones scripts set themselves from a command (the role, the
// cluster, the Pod Identity association, the node's VPC and zone, the ENIConfig's subnet, the
// cluster's Kubernetes version), each the value that command finds in the world (TestScriptsRun
// runs the commands themselves), and the ones a person types where a block asks (personVars).
func (w world) commandVars() map[string]string {
	vars := map[string]string{
		"NODE": w.Node, "INSTANCE_ID": w.InstanceID, "REGION": w.Region, "INSTANCE_TYPE": w.InstanceType,
		"SUBNET": w.NodeSubnet, "ENICONFIG": w.ENIConfig,
		"CLUSTER": w.Cluster, "ROLE_ARN": w.roleARN(w.IRSARole), "ROLE_NAME": w.IRSARole, "ASSOC": w.PodIdentityID,
		"PROFILE_ARN": fakeec2.InstanceProfile{Name: w.InstanceProfile}.ARN(), "CIDR": w.FreeCIDR,
		"VPC": w.VPC, "AZ": w.AZ, "ENICONFIG_SUBNET": w.PodSubnet, "K8S_VERSION": w.K8sVersion,
	}
	for k, v := range w.personVars() {
		vars[k] = v
	}
	return vars
}

// personVars are the values a person sets where a fix block stops and asks
// (`X=${X:?set X to ...}`), each what the block's confirm or its own earlier command lists in
// the world.
func (w world) personVars() map[string]string {
	return map[string]string{
		// leaked_enis: the one leaked ENI its confirm lists.
		"ENI": availableENI,
		// subnet_discovery_excluded: a subnet of the node's VPC and zone from its confirm list.
		"TAGGED_SUBNET": w.PodSubnet,
		// cni_unknown_instance_type: the newest version describe-addon-versions lists.
		"VERSION": w.AddonVersion,
		// warm_target_conflict: the setting the finding names for the world's aws-node
		// (prefix delegation with every warm target 0, the demo's warm-conflict scenario).
		"CHANGE": "WARM_PREFIX_TARGET=1",
	}
}

// awsExpectation is what one kind of aws command must print in the world: every string of
// want. A command matches when its operation is op and its text contains has.
type awsExpectation struct {
	op, has string
	want    func(w world) []string
}

func one(s ...string) func(world) []string { return func(world) []string { return s } }

var awsExpectations = []awsExpectation{
	{"describe-instances", "SubnetId", func(w world) []string { return []string{w.NodeSubnet + "\n"} }},
	{"describe-instances", "length(Reservations[0].Instances[0].NetworkInterfaces)", one("2\n")},
	{"describe-instances", "MetadataOptions", one(`"HttpEndpoint": "enabled"`, `"HttpTokens": "required"`, `"HttpPutResponseHopLimit": 2`)},
	{"describe-instances", "IamInstanceProfile.Arn", func(w world) []string {
		return []string{fakeec2.InstanceProfile{Name: w.InstanceProfile}.ARN()}
	}},
	{"describe-instance-types", "Hypervisor", one("nitro\n")},
	{"describe-instance-types", "NetworkInfo", one(`"DefaultCard": 0`, `"IPv4PerENI": 10`, `"ENIsPerCard": [[0, 3]]`)},
	{"describe-network-interfaces", "Attachment.DeviceIndex", func(w world) []string {
		return []string{w.eni(0) + "\t" + w.NodeSubnet + "\t0\n", w.eni(1) + "\t" + w.NodeSubnet + "\t1\n"}
	}},
	{"describe-network-interfaces", "Values=available --query 'length(NetworkInterfaces)'", one("1\n")},
	{"describe-network-interfaces", "--region \"$REGION\" --query 'length(NetworkInterfaces)'", one("3\n")},
	{"describe-network-interfaces", "Name=tag-key,Values=node.k8s.amazonaws.com/instance_id", one(availableENI + "\taws-K8S-" + goneInstanceID + "\t" + goneInstanceID + "\n")},
	{"describe-network-interfaces", "Values=available", one(availableENI + "\t")},
	{"describe-subnets", "CidrBlock,AvailableIpAddressCount", func(w world) []string { return []string{w.NodeCIDR + "\t3980\n"} }},
	{"describe-subnets", "Subnets[0].VpcId", func(w world) []string { return []string{w.VPC + "\n"} }},
	{"describe-subnets", "Subnets[0].AvailabilityZone", func(w world) []string { return []string{w.AZ + "\n"} }},
	{"describe-subnets", "Name=vpc-id", func(w world) []string {
		return []string{w.NodeSubnet + "\t3980\tuntagged\tno cluster tag\n", w.PodSubnet + "\t8187\tuntagged\tno cluster tag\n"}
	}},
	{"describe-cluster", "cluster.version", func(w world) []string { return []string{w.K8sVersion + "\n"} }},
	{"describe-addon-versions", "addonVersion", func(w world) []string {
		return []string{w.AddonVersion + "\t" + w.CNIVersion + "-eksbuild.1\n"}
	}},
	{"get-subnet-cidr-reservations", "", one(`"SubnetCidrReservationId": "scr-0demo000000000001"`, `"ReservationType": "prefix"`)},
	{"create-subnet-cidr-reservation", "", func(w world) []string { return []string{`"Cidr": "` + w.FreeCIDR + `"`, `"ReservationType": "prefix"`} }},
	{"modify-instance-metadata-options", "", one(`"HttpEndpoint": "enabled"`, `"State": "pending"`)},
	{"get-service-quota", "Quota.Value", one("5000.0\n")},
	{"get-instance-profile", "Roles[0].Arn", func(w world) []string { return []string{w.roleARN(w.NodeRole) + "\n"} }},
	{"list-attached-role-policies", "PolicyName", one("eks-demo-readonly\n")},
	{"list-role-policies", "PolicyNames", one("deny-eni-writes\n")},
	{"get-role", "PermissionsBoundaryArn", func(w world) []string { return []string{w.Boundary + "\n"} }},
	{"simulate-principal-policy", "EvalDecision", one("ec2:AssignPrivateIpAddresses\texplicitDeny\n", "ec2:DescribeNetworkInterfaces\tallowed\n")},
	{"list-pod-identity-associations", "associationId", func(w world) []string { return []string{w.PodIdentityID + "\n"} }},
	{"describe-pod-identity-association", "roleArn", func(w world) []string { return []string{w.roleARN(w.PodIdentityRole) + "\n"} }},
	{"update-addon", "--addon-version", func(w world) []string {
		return []string{`"type": "AddonVersion"`, `"value": "` + w.AddonVersion + `"`, `"value": "PRESERVE"`}
	}},
	{"update-addon", "", one(`"status": "InProgress"`, `"type": "ResolveConflicts"`, `"value": "OVERWRITE"`)},
}

// awsEffects check the operations that print nothing when they succeed: the fake must have
// changed as the command says.
var awsEffects = map[string]func(w world, srv *fakeec2.Server) error{
	"create-tags": func(w world, srv *fakeec2.Server) error {
		srv.Lock()
		defer srv.Unlock()
		for _, sub := range srv.Subnets {
			if sub.ID == w.personVars()["TAGGED_SUBNET"] && sub.Tags["kubernetes.io/role/cni"] == "1" {
				return nil
			}
		}
		return fmt.Errorf("subnet %s is not tagged kubernetes.io/role/cni=1", w.personVars()["TAGGED_SUBNET"])
	},
	"delete-network-interface": func(w world, srv *fakeec2.Server) error {
		srv.Lock()
		defer srv.Unlock()
		for _, e := range srv.ENIs {
			if e.ID == w.personVars()["ENI"] {
				return fmt.Errorf("ENI %s still exists", e.ID)
			}
		}
		return nil
	},
}

// awsCommand is one aws command found in a script.
type awsCommand struct {
	line    string // as written, variables unexpanded
	op      string
	query   string
	sources []string
}

// awsCommands returns the distinct aws commands of the scripts.
func awsCommands(t *testing.T, scripts []script) []*awsCommand {
	t.Helper()
	byLine := map[string]*awsCommand{}
	for _, s := range scripts {
		cmds, err := shellcheck.Commands(s.Text)
		if err != nil {
			continue // TestRunbookBlocksParse and package diagnosis report it
		}
		for _, words := range cmds {
			if words[0] != "aws" {
				continue
			}
			line := strings.Join(words, " ")
			c := byLine[line]
			if c == nil {
				c = &awsCommand{line: line}
				if len(words) > 2 {
					c.op = words[2] // aws SERVICE OPERATION ...: the scripts name no global option first
				}
				for i, wd := range words {
					if wd == "--query" && i+1 < len(words) {
						c.query = strings.Trim(words[i+1], `'"`)
					}
				}
				byLine[line] = c
			}
			c.sources = append(c.sources, s.Name)
		}
	}
	out := make([]*awsCommand, 0, len(byLine))
	for _, c := range byLine {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].line < out[j].line })
	return out
}

var noneRe = regexp.MustCompile(`(?m)(^|\s)(None|null)(\s|$)`)

// TestAWSCommandsRun runs every aws command of every confirm script, fix block and runbook
// block on its own, with Debian's awscli against the fake holding the world, its variables set
// to the world's values. Each must exit 0 and print what its --query selects: never an empty
// answer or None (what the CLI prints for a path that matches nothing), and, where the table
// above knows the command, the world's values.
func TestAWSCommandsRun(t *testing.T) {
	t.Parallel()
	env := awsEnv(t)
	w := demoWorld(t)
	var scripts []script
	for _, s := range adviceScripts(w) {
		if s.Situation == "live" {
			scripts = append(scripts, s)
		}
	}
	scripts = append(scripts, runbookScripts(t)...)
	cmds := awsCommands(t, scripts)
	if len(cmds) < 15 {
		t.Fatalf("found %d aws commands; the advice table has more", len(cmds))
	}
	var preamble strings.Builder
	preamble.WriteString("set -u -o pipefail\n")
	vars := w.commandVars()
	for _, k := range sortedKeys(vars) {
		fmt.Fprintf(&preamble, "%s='%s'\n", k, vars[k])
	}
	preamble.WriteString(awsFunc)
	for _, c := range cmds {
		t.Run(c.op, func(t *testing.T) {
			t.Parallel()
			srv := fakeec2.New(t)
			w.loadAWS(srv)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			out, errs, err := bash(ctx, preamble.String()+c.line+"\n", append(slices.Clone(env), "COMMANDTEST_AWS_ENDPOINT="+srv.URL))
			where := fmt.Sprintf("%s\n(from %s)", c.line, strings.Join(c.sources, ", "))
			if err != nil {
				t.Fatalf("%s\nfailed: %v\nstderr: %s", where, err, errs)
			}
			if effect := awsEffects[c.op]; effect != nil {
				if err := effect(w, srv); err != nil {
					t.Errorf("%s\nran but did not take effect: %v", where, err)
				}
			} else if strings.TrimSpace(out) == "" || noneRe.MatchString(out) {
				t.Errorf("%s\nprinted nothing its --query promises:\n%s", where, out)
			}
			if op := cliOperation(c.op); srv.Calls(op) == 0 {
				t.Errorf("%s\nnever reached the fake's %s", where, op)
			}
			matched := false
			for _, e := range awsExpectations {
				if e.op != c.op || !strings.Contains(c.line, e.has) {
					continue
				}
				matched = true
				for _, want := range e.want(w) {
					if !containsAnswer(out, want) {
						t.Errorf("%s\nprinted\n%s\nwithout %q", where, out, want)
					}
				}
				break
			}
			if !matched {
				t.Logf("%s\nno expectation in awsExpectations: only the generic checks ran; printed:\n%s", where, out)
			}
		})
	}
}

// containsAnswer reports whether out holds want; JSON (want holds a quote or bracket) is
// compared without white space, so the CLI's indentation does not matter.
func containsAnswer(out, want string) bool {
	if strings.Contains(out, want) {
		return true
	}
	if !strings.ContainsAny(want, `"[{`) {
		return false
	}
	return strings.Contains(strings.Join(strings.Fields(out), ""), strings.Join(strings.Fields(want), ""))
}

// cliOperation turns a CLI operation name into the API's (describe-instances -> DescribeInstances).
func cliOperation(op string) string {
	var b strings.Builder
	for _, p := range strings.Split(op, "-") {
		b.WriteString(upperFirst(p))
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
