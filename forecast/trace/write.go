package trace

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// help is the HELP text of each family, as the agent and `ipamwatch subnets` write it.
var help = map[string]string{
	"ipamwatch_subnet_node_held_addresses": "Addresses this node holds in the subnet (ENI primary IPs, secondary IPs, 16 per prefix).",
	"ipamwatch_subnet_cidr_addresses":      "Size of the subnet's IPv4 CIDR (from instance metadata).",
	"ipamwatch_node_info":                  "Always 1; node facts.",
	"ipamwatch_pods":                       "Pods on the node (not finished).",
	"ipamwatch_eni_ip_addresses":           "Pod addresses on the ENI by state.",
	"ipamwatch_subnet_size_addresses":      "Addresses in the subnet's IPv4 CIDR.",
	"ipamwatch_subnet_free_addresses":      "Addresses EC2 may still assign automatically.",
	"ipamwatch_subnet_used_addresses":      "Addresses held by ENIs by holder.",
	"ipamwatch_forecast_claim_addresses":   "Addresses one more node like this one would hold in the subnet.",
}

func labelString(s *Series) string {
	parts := make([]string, 0, len(s.Labels))
	for _, l := range s.Labels {
		parts = append(parts, l.Name+"="+strconv.Quote(l.Value))
	}
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}

// WriteOpenMetrics writes traces as one OpenMetrics text with timestamps, each trace's time 0
// at start, for `promtool tsdb create-blocks-from openmetrics`. Families are contiguous and
// each series' samples in time order, as the format requires; the traces must not share a
// series (their subnets and nodes differ when their seeds do).
func WriteOpenMetrics(w io.Writer, start time.Time, traces ...*Trace) error {
	var all []*Series
	for _, t := range traces {
		all = append(all, t.Series...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	bw := bufio.NewWriter(w)
	last, seen := "", map[string]bool{}
	for _, s := range all {
		ls := labelString(s)
		if seen[ls] {
			return fmt.Errorf("series %s is in two traces", ls)
		}
		seen[ls] = true
		if s.Name != last {
			fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s gauge\n", s.Name, help[s.Name], s.Name)
			last = s.Name
		}
		for _, smp := range s.Samples {
			ts := start.Add(smp.At)
			fmt.Fprintf(bw, "%s %s %d.%03d\n", ls, strconv.FormatFloat(smp.Value, 'g', -1, 64), ts.Unix(), ts.Nanosecond()/1e6)
		}
	}
	fmt.Fprintln(bw, "# EOF")
	return bw.Flush()
}

// WritePromtoolSeries writes the trace as the input_series of a promtool rule test with
// interval Scrape (indented for a test file's `input_series:` key). Runs of equal values use
// promtool's `vxN` shorthand, gaps `_xN`, so a day of a flat series is a few characters.
func (t *Trace) WritePromtoolSeries(w io.Writer, indent string) error {
	bw := bufio.NewWriter(w)
	steps := int(t.Spec.Duration/Scrape) + 1
	for _, s := range t.Series {
		vals := make([]string, steps)
		for i := range vals {
			vals[i] = "_"
		}
		for _, smp := range s.Samples {
			if smp.At%Scrape == 0 {
				vals[int(smp.At/Scrape)] = strconv.FormatFloat(smp.Value, 'g', -1, 64)
			}
		}
		// Trailing gaps say nothing.
		for len(vals) > 0 && vals[len(vals)-1] == "_" {
			vals = vals[:len(vals)-1]
		}
		var out []string
		for i := 0; i < len(vals); {
			j := i
			for j+1 < len(vals) && vals[j+1] == vals[i] {
				j++
			}
			switch n := j - i; {
			case vals[i] == "_":
				out = append(out, fmt.Sprintf("_x%d", n+1))
			case n == 0:
				out = append(out, vals[i])
			default:
				out = append(out, fmt.Sprintf("%sx%d", vals[i], n))
			}
			i = j + 1
		}
		fmt.Fprintf(bw, "%s- series: '%s'\n%s  values: '%s'\n", indent, labelString(s), indent, strings.Join(out, " "))
	}
	return bw.Flush()
}
