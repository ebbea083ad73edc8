package alerts

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// Runbook prose is Markdown source, one file per alert: runbooks/<AlertName>.md with the
// sections Symptom, Confirm, Fix and Verify. An alert that keys on a finding cause writes only
// its Symptom: its explanation, confirm, fix and verify are the advice table's
// (diagnosis.AdviceFor), so a runbook and the finding cannot disagree. The sources are Go
// templates over runbookData (namespace, selector, port of the agent).
//
//go:embed runbooks/*.md
var runbookFS embed.FS

// runbookSections are the sections a runbook source may have, in order.
var runbookSections = []string{"Symptom", "Confirm", "Fix", "Verify"}

var runbookSectionRE = regexp.MustCompile(`^## (\w+)\s*$`)

// runbookSource is the parsed source of one runbook.
type runbookSource map[string]string

// parseRunbook splits a runbook source into its sections; text before the first section, an
// unknown or repeated section, and a cause alert writing more than its symptom are errors.
func parseRunbook(src string, cause bool) (runbookSource, error) {
	out := runbookSource{}
	var order []string
	var cur strings.Builder
	flush := func() {
		if len(order) > 0 {
			out[order[len(order)-1]] = strings.TrimSpace(cur.String())
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(strings.NewReader(src))
	for sc.Scan() {
		line := sc.Text()
		if m := runbookSectionRE.FindStringSubmatch(line); m != nil {
			flush()
			if _, dup := out[m[1]]; dup {
				return nil, fmt.Errorf("section %s appears twice", m[1])
			}
			out[m[1]] = ""
			order = append(order, m[1])
			continue
		}
		if len(order) == 0 && strings.TrimSpace(line) != "" {
			return nil, fmt.Errorf("text before the first section: %q", line)
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	want := runbookSections
	if cause {
		want = runbookSections[:1]
	}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		if cause {
			return nil, fmt.Errorf("sections %v: an alert with a finding cause writes only Symptom (the rest comes from the advice table)", order)
		}
		return nil, fmt.Errorf("sections %v, want %v", order, want)
	}
	for _, name := range order {
		if out[name] == "" {
			return nil, fmt.Errorf("section %s is empty", name)
		}
	}
	return out, nil
}

// runbookData is what runbook sources may quote.
type runbookData struct {
	Namespace   string
	PodSelector string
	Port        int
	Job         string
	Alert       string
	// Series of the cluster-level subnet view (Params.SubnetMetrics).
	FreePrefixBlocks, LastSuccess string
}

// source reads, executes and parses the runbook source of a.
func (p Params) source(a Alert) (runbookSource, error) {
	raw, err := runbookFS.ReadFile("runbooks/" + a.Name + ".md")
	if err != nil {
		return nil, fmt.Errorf("alert %s has no runbook source runbooks/%s.md", a.Name, a.Name)
	}
	t, err := template.New(a.Name).Option("missingkey=error").Funcs(template.FuncMap{
		// adviceFix is a cause's Fix from the advice table, for runbooks whose fix is a
		// cause's (the forecast alert's fixes), with the words the advice gives its values.
		"adviceFix": func(cause string) (string, error) {
			c := diagnosis.Cause(cause)
			adv := diagnosis.AdviceFor(c)
			if adv.Fix == "" {
				return "", fmt.Errorf("no advice with a fix for cause %q", cause)
			}
			return strings.TrimSpace(adv.FixWith(nil, diagnosis.Bindings{})), nil
		},
	}).Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("runbooks/%s.md: %w", a.Name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, runbookData{
		Namespace: p.Namespace, PodSelector: p.PodSelector, Port: p.Port, Job: p.Job, Alert: a.Name,
		FreePrefixBlocks: p.SubnetMetrics.FreePrefixBlocks, LastSuccess: p.SubnetMetrics.LastSuccess,
	}); err != nil {
		return nil, fmt.Errorf("runbooks/%s.md: %w", a.Name, err)
	}
	rs, err := parseRunbook(b.String(), a.Cause != "")
	if err != nil {
		return nil, fmt.Errorf("runbooks/%s.md: %w", a.Name, err)
	}
	return rs, nil
}

// promVar is the shell variable holding Prometheus' URL in runbook scripts.
const promVar = "PROMETHEUS"

// nodeQuery is the PromQL whose first result's node label is the node a runbook's scripts
// look at: the alert's own node, or for a subnet or cluster alert a node of the incident.
func (a Alert) nodeQuery() string {
	firing := fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing"}`, a.Name)
	switch {
	case a.Scope.name == perNode.name:
		return firing
	case a.Name == "IpamwatchWarmPoolHoarding":
		// The node that holds the most idle addresses in the subnet.
		return fmt.Sprintf(`topk(1, sum by (node) (ipamwatch_eni_ip_addresses{state="free"} and on (subnet_id) %s))`, firing)
	case a.Group == GroupSubnets:
		// Cluster-level subnet view: any node, for its region.
		return `max by (node) (ipamwatch_node_info)`
	case a.Scope.name == perSubnet.name && a.Cause != "":
		return fmt.Sprintf(`max by (node) (ipamwatch_finding{cause=%q} == 1) and on (node) (ipamwatch_node_info and on (subnet_id) %s)`, a.Cause, firing)
	case a.Scope.name == perSubnet.name:
		return fmt.Sprintf(`max by (node) (ipamwatch_node_info and on (subnet_id) %s)`, firing)
	case a.Cause != "":
		return fmt.Sprintf(`max by (node) (ipamwatch_finding{cause=%q} == 1)`, a.Cause)
	case a.Name == "IpamwatchPodIPAllocationFailing":
		return `topk(1, max by (node) (ipamwatch_pods_pending_ip))`
	default:
		return `max by (node) (ipamwatch_node_info)`
	}
}

// promQuery writes the shell command that prints one label of the first result of a PromQL
// query, through Prometheus' HTTP API. The query goes in single quotes unless it reads shell
// variables.
func promQuery(query, label string) string {
	arg := "'query=" + query + "'"
	if strings.Contains(query, "$") {
		arg = `"query=` + strings.ReplaceAll(query, `"`, `\"`) + `"`
	}
	return fmt.Sprintf(`curl -fsS "$%s/api/v1/query" --data-urlencode %s | jq -r '.data.result[0].metric.%s // empty'`, promVar, arg, label)
}

// bindings are how a runbook's scripts find the values the alert stands for: NODE from the
// firing alert (or a node of the incident); for a subnet alert SUBNET from the alert itself
// (cluster-level view) or from the node's ipamwatch_node_info. A value already set in the
// shell wins. guards are the lines that stop a script when nothing was found.
func (a Alert) bindings() (diagnosis.Bindings, map[string]string) {
	b := diagnosis.Bindings{Exprs: map[string]string{
		"NODE": fmt.Sprintf(`${NODE:-$(%s)}`, promQuery(a.nodeQuery(), "node")),
	}}
	guards := map[string]string{
		"NODE": fmt.Sprintf(`: "${NODE:?no node found for a firing %s alert in $%s: set NODE to the node to look at}"`, a.Name, promVar),
	}
	if a.Scope.name == perSubnet.name {
		// The forecast's subnet may be a pod subnet (custom networking), not a node's own.
		if a.Group == GroupSubnets || a.Name == AlertExhaustionForecast {
			b.Exprs["SUBNET"] = fmt.Sprintf(`${SUBNET:-$(%s)}`, promQuery(fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing"}`, a.Name), "subnet_id"))
		} else {
			b.Exprs["SUBNET"] = fmt.Sprintf(`${SUBNET:-$(%s)}`, promQuery(`ipamwatch_node_info{node="$NODE"}`, "subnet_id"))
		}
		guards["SUBNET"] = fmt.Sprintf(`: "${SUBNET:?no subnet found for a firing %s alert: set SUBNET to the subnet_id label of the alert}"`, a.Name)
	}
	return b, guards
}

// script gives a runbook script the lines that set the variables it reads (diagnosis'
// preamble with the alert's bindings), a stop after each value found from the alert, and
// Prometheus' URL when a line queries it.
func (a Alert) script(preambled string) string {
	_, guards := a.bindings()
	var out []string
	promSet := false
	for _, line := range strings.Split(preambled, "\n") {
		if !promSet && strings.Contains(line, "$"+promVar) && !strings.HasPrefix(line, "#") {
			out = append(out,
				"# Prometheus' HTTP API, for example after: kubectl -n monitoring port-forward svc/prometheus-operated 9090",
				promVar+"=${"+promVar+":-http://localhost:9090}")
			promSet = true
		}
		out = append(out, line)
		if name, _, ok := strings.Cut(line, "=${"); ok {
			if g, ok := guards[name]; ok && strings.HasPrefix(line, name+"=${"+name+":-") {
				out = append(out, g)
			}
		}
	}
	return strings.Join(out, "\n")
}

// confirmScript is one runbook script bound the runbook's way.
func (a Alert) confirmScript(body string) string {
	b, _ := a.bindings()
	return a.script(diagnosis.Advice{Confirm: body}.ConfirmScript(b))
}

// mapShellBlocks applies f to the body of every ```sh block of a Markdown text; f sees and
// returns the body without its last newline.
func mapShellBlocks(md string, f func(string) string) string {
	return diagnosis.MapShellBlocks(md, func(body string) string {
		return strings.TrimSuffix(f(strings.TrimSuffix(body, "\n")), "\n") + "\n"
	})
}

// runbookBody is the rendered runbook of a, section by section.
type runbookBody struct {
	Symptom, Explanation, Confirm, Fix, Verify, Upstream string
}

// body renders a's runbook: the source's sections with every sh block bound, and for an
// alert with a cause the advice table's sections with the same bindings.
func (p Params) body(a Alert) (runbookBody, error) {
	src, err := p.source(a)
	if err != nil {
		return runbookBody{}, err
	}
	bind := func(md string) string { return mapShellBlocks(md, a.confirmScript) }
	if a.Cause == "" {
		return runbookBody{Symptom: bind(src["Symptom"]), Confirm: bind(src["Confirm"]), Fix: bind(src["Fix"]), Verify: bind(src["Verify"])}, nil
	}
	adv := diagnosis.AdviceFor(a.Cause)
	b, _ := a.bindings()
	confirm := "```sh\n" + a.script(adv.ConfirmScript(b)) + "\n```\n\n" +
		"The agent's finding on the node holds the evidence (numbers, log lines) behind the alert:\n\n" +
		"```sh\n" + a.confirmScript(p.agentFinding(a.Cause)) + "\n```"
	return runbookBody{
		Symptom:     bind(src["Symptom"]),
		Explanation: adv.Explanation,
		Confirm:     confirm,
		Fix:         mapShellBlocks(adv.FixWith(nil, b), a.script),
		Verify:      adv.Verify,
		Upstream:    adv.Upstream,
	}, nil
}

// agentFinding is the script that reads the agent's finding of cause on $NODE through a
// port-forward to the agent pod (whatever namespace it runs in).
func (p Params) agentFinding(cause diagnosis.Cause) string {
	return fmt.Sprintf(`POD=$(kubectl get pods -A -l %[1]s --field-selector spec.nodeName="$NODE" -o jsonpath='{.items[0].metadata.namespace}/{.items[0].metadata.name}')
kubectl -n "${POD%%%%/*}" port-forward "pod/${POD#*/}" %[2]d:%[2]d >/dev/null &
PF=$!
# --retry-connrefused: tries again (once a second) until the port-forward listens
curl -s --retry 10 --retry-connrefused --retry-delay 1 localhost:%[2]d/diagnosis | jq '.findings[] | select(.cause == "%[3]s")'
kill "$PF"`, p.PodSelector, p.Port, cause)
}
