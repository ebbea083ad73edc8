package diagnosis

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/termsafe"
)

// WriteText writes the triage report a person reads at 02:14: node facts, the capacity
// table, headroom and binding ceiling, then each finding with evidence, fix and confirm.
func WriteText(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	n := r.Node
	ew.printf("NODE %s\n", orDash(n.Name))
	ew.printf("  instance   %s  %s  %s / %s (%s)\n", orDash(n.InstanceID), orDash(n.InstanceType), orDash(n.Region), orDash(n.AvailabilityZone), orDash(n.AZID))
	ew.printf("  subnet     %s\n", orDash(n.PrimarySubnet))
	ew.printf("  ip mode    %s   CNI %s\n", orDash(string(n.IPMode)), orDash(n.CNIVersion))
	cfg := r.Config
	ew.printf("  settings   prefix delegation %s, custom networking %s (ENIConfig %s), pod ENI %s, IPv6 %s [from %s]\n",
		cfg.PrefixDelegation, cfg.CustomNetworking, orDash(cfg.ENIConfig), cfg.PodENI, cfg.IPv6, cfg.EnvSource)
	ew.printf("  warm       WARM_ENI_TARGET=%s WARM_IP_TARGET=%s MINIMUM_IP_TARGET=%s WARM_PREFIX_TARGET=%s MAX_ENI=%s\n",
		intp(cfg.WarmENITarget), intp(cfg.WarmIPTarget), intp(cfg.MinimumIPTarget), intp(cfg.WarmPrefixTarget), intp(cfg.MaxENI))
	if len(cfg.Invalid) > 0 {
		ew.printf("  invalid    %s\n", strings.Join(cfg.Invalid, ", "))
	}
	for _, p := range r.Partial {
		ew.printf("  partial    %s\n", p)
	}
	ew.printf("\nCAPACITY\n")
	c := r.Capacity
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	rows := [][2]string{
		{"ENIs attached / max", fmt.Sprintf("%s / %s", fmtInt(c.ENIs), fmtInt(c.MaxENIs))},
		{"slots per ENI", fmtInt(c.SlotsPerENI)},
		{"/28 prefixes", fmtInt(c.Prefixes)},
		{"pod IPs held now", fmtInt(c.HeldIPs)},
		{"  assigned", fmtInt(c.AssignedIPs)},
		{"  free", fmtInt(c.FreeIPs)},
		{"  cooldown", fmtInt(c.CooldownIPs)},
		{"pod IPs with attached ENIs", fmtInt(c.AttachedCapacity)},
		{"pod IPs ever (ENI ceiling)", fmtInt(c.MaxCapacity)},
		{"kubelet max-pods", fmtInt(c.KubeletMaxPods)},
		{"pods (host network)", fmt.Sprintf("%s (%s)", fmtInt(c.Pods), fmtInt(c.HostNetworkPods))},
		{"pods waiting for an IP", fmtInt(c.PendingPods)},
		{"branch ENIs requested / capacity", fmt.Sprintf("%s / %s", fmtInt(c.BranchENIRequested), fmtInt(c.BranchENICapacity))},
	}
	for _, row := range rows {
		// Write errors surface through ew (tabwriter writes into it) and Flush.
		_, _ = fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
	}
	if err := tw.Flush(); err != nil && ew.err == nil {
		ew.err = err
	}
	ew.printf("\nHEADROOM %s more pod(s)   BINDING CEILING %s   (nearest: %s)\n", fmtInt(r.Headroom), r.BindingCeiling, orDash(string(r.NearestCeiling)))
	if f := r.Forecast; f != nil && f.Subnet != nil {
		o := f.Subnet
		ew.printf("\nSUBNET %s IS LOW: %s (basis %s)\n", o.SubnetID, o.Why, o.Space.Basis)
		if o.TrendPolls > 0 {
			out := "does not fill"
			if o.RunsOutInSeconds > 0 {
				out = "runs out in " + seconds(o.RunsOutInSeconds).Round(time.Minute).String()
			}
			ew.printf("  trend      %d free, %.0f more used per hour over %s (%d polls of the cluster view): %s\n",
				o.Space.Free, o.PerHour, seconds(o.TrendSpanSeconds).Round(time.Second), o.TrendPolls, out)
		}
		ew.printf("  what-if    %s\n", o.Sentence)
		for _, c := range f.Claims {
			for _, sc := range c.Subnets {
				if sc.SubnetID == o.SubnetID {
					ew.printf("  per node   %d addresses at %d pods with %s (%s)\n", sc.Addresses, f.Pods, c.Settings, c.Scenario)
				}
			}
		}
	}

	if len(r.Findings) == 0 {
		ew.printf("\nFINDINGS none\n")
	} else {
		ew.printf("\nFINDINGS %d\n", len(r.Findings))
	}
	if len(r.Missing) > 0 {
		names, adds := make([]string, len(r.Missing)), make([]string, len(r.Missing))
		for i, m := range r.Missing {
			names[i], adds[i] = m.Source, m.Add
		}
		ew.printf("PARTIAL EVIDENCE without %s; to be sure, add %s, or the whole log-collector bundle\n", strings.Join(names, ", "), strings.Join(adds, ", "))
	}
	for i, f := range r.Findings {
		basis := ""
		if f.Basis == BasisLogsOnly {
			basis = " [logs only]"
		}
		ew.printf("\n%d. [%s]%s %s: %s\n", i+1, strings.ToUpper(string(f.Severity)), basis, f.Cause, f.Summary)
		if len(f.Evidence) > 0 {
			ew.printf("   evidence:\n")
			for _, e := range f.Evidence {
				ew.printf("     - %s\n", e)
			}
		}
		ew.block("fix", f.Fix)
		ew.block("confirm", f.Confirm)
		ew.block("verify", f.Verify)
	}
	return ew.err
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// errWriter keeps the first write error so the report code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// block writes a labelled, possibly multi-line text indented under its label.
func (e *errWriter) block(label, text string) {
	if text == "" {
		return
	}
	e.printf("   %s:\n", label)
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			e.printf("\n")
			continue
		}
		e.printf("     %s\n", line)
	}
}

// printf ignores the error here because errWriter records it for WriteText to return. Every
// text argument passes through termsafe: evidence quotes log lines and upstream answers.
func (e *errWriter) printf(format string, args ...any) {
	for i, a := range args {
		switch v := a.(type) {
		case fmt.Stringer:
			args[i] = termsafe.String(v.String())
		default:
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.String {
				args[i] = termsafe.String(rv.String())
			}
		}
	}
	_, _ = fmt.Fprintf(e, format, args...)
}
