package alerts

import (
	"fmt"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// agentAlerts watch ipamwatch itself: no agent scraped at all (per cluster), one agent down,
// a source failing, the log tail stalled. The first two can only look at `up`, so they select
// the agent's scrape job (Params.Job).
func (x builder) agentAlerts() []Alert {
	w := x.t("failureWindow")
	// Concatenated, not %q: in Helm mode the job is a marker that %q would escape.
	job := `job=~"` + x.job() + `"`
	up := x.s("up", job)
	perSource := scope{"node", []string{"node", "source"}}
	agentsDown := fmt.Sprintf("%s of %s", x.count(perCluster, "count("+x.sq(perCluster, "up", job)+" == 0)", "0"), x.count(perCluster, "count("+x.sq(perCluster, "up", job)+")", "0"))
	return []Alert{
		{
			Name: "IpamwatchAgentAbsent", Group: GroupAgent, Scope: perCluster, Severity: diagnosis.SeverityWarning, For: "15m",
			// With a cluster label, a cluster whose targets Prometheus knows but none of whose
			// agents is up; without, no agent up at all.
			Expr: x.ifCluster(
				fmt.Sprintf("%s unless on (%s) %s", x.agg("count", perCluster, x.s("up")), x.cl(), x.agg("count", perCluster, up+" == 1")),
				fmt.Sprintf("absent(%s == 1)", up)),
			Summary: "No ipamwatch agent is scraped successfully.",
			Description: fmt.Sprintf("No target of the agent's job (%s) is up, %s targets of it are known: every ipamwatch alert is blind.",
				job, x.count(perCluster, "count("+x.sq(perCluster, "up", job)+")", "0")),
			Meaning: "Prometheus scrapes no healthy ipamwatch target: the DaemonSet is missing, the scrape configuration (ServiceMonitor/PodMonitor, the job the rules select) is wrong, or every agent is down.",
		},
		{
			Name: "IpamwatchAgentDown", Group: GroupAgent, Scope: perNode, Severity: diagnosis.SeverityWarning, For: "15m",
			Expr:        fmt.Sprintf(`%s == 0`, x.agg("min", perNode, up)),
			Summary:     "The ipamwatch agent on a node cannot be scraped.",
			Description: fmt.Sprintf("The ipamwatch agent on {{ $labels.node }} cannot be scraped (up == 0); %s agents are down.", agentsDown),
			Meaning:     "One agent's scrape fails: the pod crashed, is not scheduled, or its port is unreachable. IP alerts for that node are blind.",
		},
		{
			Name: "IpamwatchSourceDown", Group: GroupAgent, Scope: perNode, Severity: diagnosis.SeverityWarning, For: "15m",
			Expr:    fmt.Sprintf(`%s == 0`, x.agg("max", perNode, x.s("ipamwatch_source_up", `source!="ipamd"`), "source")),
			Summary: "The agent cannot read one of its sources.",
			Description: fmt.Sprintf("On {{ $labels.node }} the agent cannot read {{ $labels.source }}: %s failed polls in %s, last success %s. Findings that need it are missing or stale.",
				x.count(perSource, fmt.Sprintf("sum(increase(%s[%s]))", x.sq(perSource, "ipamwatch_source_errors_total"), w), "0"), w,
				x.age(perSource, "max("+x.sq(perSource, "ipamwatch_source_last_success_timestamp_seconds")+" > 0)", "never")),
			Meaning: "A source of the agent (CNI metrics, instance metadata, Kubernetes API, logs) fails for a long time; ipamd itself is covered by IpamwatchIpamdUnreachable.",
		},
		{
			Name: "IpamwatchLogTailStalled", Group: GroupAgent, Scope: perNode, Severity: diagnosis.SeverityWarning, For: "15m",
			Expr: fmt.Sprintf(`
				time() - %s > %s
				or
				%s == 0`,
				x.agg("max", perNode, x.s("ipamwatch_log_last_read_timestamp_seconds", `log="ipamd"`), "log"), x.seconds("logStall"),
				x.agg("max", perNode, x.s("ipamwatch_log_file_readable", `log="ipamd"`), "log")),
			Summary: "The agent reads no new lines from ipamd.log.",
			Description: fmt.Sprintf("On {{ $labels.node }} the tail of ipamd.log is stuck: last line read %s, %s lines read in %s. ipamd writes several lines a minute, so the tail is stuck or ipamd is down; log-based findings cannot fire.",
				x.age(perNode, "max("+x.sq(perNode, "ipamwatch_log_last_read_timestamp_seconds", `log="ipamd"`)+" > 0)", "never"),
				x.count(perNode, fmt.Sprintf("sum(increase(%s[%s]))", x.sq(perNode, "ipamwatch_log_lines_total", `log="ipamd"`), w), "0"), w),
			Meaning: "No line read from ipamd.log for the log-stall time, or the file cannot be read: the log tail is stuck, ipamd is down or logs elsewhere.",
		},
	}
}
