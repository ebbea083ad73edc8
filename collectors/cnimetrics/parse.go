// Package cnimetrics owns ipamwatch's reading of aws-node's own Prometheus endpoint
// (:61678/metrics): a bounded client, a parser that keeps only the awscni_* families the
// diagnosis needs, and a Tracker that turns counters into reset-aware increases between polls.
// Every family is optional: old CNIs lack newer series and some nodes disable metrics.
package cnimetrics

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// DefaultMaxBodyBytes bounds the exposition read when no limit is given. aws-node's page is a
// few tens of KiB; the bound only stops a runaway answer.
const DefaultMaxBodyBytes int64 = 16 << 20

// MaxKeys caps the distinct keys of each map handed to nodestate (error codes, fn names);
// the smallest values are folded into OtherKey so label sets built from them stay bounded.
const MaxKeys = 32

// maxSampleKeys caps what a Sample (and so a Tracker) remembers per family.
const maxSampleKeys = 256

// OtherKey collects folded keys and label values that are not short identifier-like tokens.
const OtherKey = "other"

// maxKeyLen bounds a kept label value; EC2 error codes and ipamd function names are shorter.
const maxKeyLen = 64

var (
	// ErrEmpty is returned for an empty body.
	ErrEmpty = errors.New("empty metrics response")
	// ErrBodyTooLarge is returned when the exposition exceeds the limit.
	ErrBodyTooLarge = errors.New("metrics body exceeds size limit")
)

// Family names kept. Counters are exposed without a _total suffix.
const (
	famENIMax          = "awscni_eni_max"
	famIPMax           = "awscni_ip_max"
	famENIAllocated    = "awscni_eni_allocated"
	famTotalIPs        = "awscni_total_ip_addresses"
	famAssignedIPs     = "awscni_assigned_ip_addresses"
	famTotalIPv4Prefix = "awscni_total_ipv4_prefixes"
	famBuildInfo       = "awscni_build_info"
	famAPIErrors       = "awscni_aws_api_error_count"
	famNoAvailableIP   = "awscni_no_available_ip_addresses"
	famIpamdErrors     = "awscni_ipamd_error_count"
	famEC2APIErrors    = "awscni_ec2api_error_count"
)

func isKept(base string) bool {
	switch base {
	case famENIMax, famIPMax, famENIAllocated, famTotalIPs, famAssignedIPs, famTotalIPv4Prefix,
		famBuildInfo, famAPIErrors, famNoAvailableIP, famIpamdErrors, famEC2APIErrors:
		return true
	}
	return false
}

// Sample is one parse of aws-node's exposition, reduced to the kept families. A nil pointer or
// nil map means the family was absent. Label values are already sanitised: anything that is
// not a short identifier-like token becomes OtherKey. awscni_aws_utils_error_count is never
// read at all (its `error` label is free text).
type Sample struct {
	Version string // awscni_build_info{version}; "" if absent

	ENIMax          *float64
	IPMax           *float64
	ENIAllocated    *float64
	TotalIPs        *float64
	AssignedIPs     *float64
	TotalIPv4Prefix *float64

	// NoAvailableIP is the cumulative awscni_no_available_ip_addresses.
	NoAvailableIP *float64
	// APIErrors is the cumulative awscni_aws_api_error_count summed over `api`, keyed by `error`.
	APIErrors map[string]float64
	// IpamdErrors is the cumulative awscni_ipamd_error_count keyed by `fn`.
	IpamdErrors map[string]float64
	// EC2APIErrors is the cumulative awscni_ec2api_error_count keyed by `fn`.
	EC2APIErrors map[string]float64
}

// Parse reads Prometheus text exposition from r (at most limit bytes; limit <= 0 means
// DefaultMaxBodyBytes) and keeps the awscni_* families ipamwatch uses.
func Parse(r io.Reader, limit int64) (*Sample, error) {
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, ErrBodyTooLarge
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEmpty
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics text: %w", err)
	}
	s := &Sample{}
	for name, mf := range fams {
		base := strings.TrimSuffix(name, "_total") // tolerate a suffix a future client library may add
		if !isKept(base) {
			continue
		}
		vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, mf)
		if err != nil {
			continue // a family of an unexpected type is treated as absent
		}
		vec = keep(vec, name)
		switch base {
		case famENIMax:
			s.ENIMax = sumGauge(vec)
		case famIPMax:
			s.IPMax = sumGauge(vec)
		case famENIAllocated:
			s.ENIAllocated = sumGauge(vec)
		case famTotalIPs:
			s.TotalIPs = sumGauge(vec)
		case famAssignedIPs:
			s.AssignedIPs = sumGauge(vec)
		case famTotalIPv4Prefix:
			s.TotalIPv4Prefix = sumGauge(vec)
		case famBuildInfo:
			s.Version = buildVersion(vec)
		case famNoAvailableIP:
			s.NoAvailableIP = sumCounter(vec)
		case famAPIErrors:
			s.APIErrors = byLabel(vec, "error")
		case famIpamdErrors:
			s.IpamdErrors = byLabel(vec, "fn")
		case famEC2APIErrors:
			s.EC2APIErrors = byLabel(vec, "fn")
		}
	}
	return s, nil
}

// keep returns the finite samples of one family that carry exactly its name: gauges,
// counters and untyped series. Summaries and histograms expand to _sum/_count/_bucket names
// and so drop out.
func keep(vec model.Vector, name string) model.Vector {
	var out model.Vector
	for _, smp := range vec {
		if string(smp.Metric[model.MetricNameLabel]) != name {
			continue
		}
		v := float64(smp.Value)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		out = append(out, smp)
	}
	return out
}

// sumGauge sums a family's series. aws-node's gauges are unlabelled (one series), so the sum
// is that value; with multi-NIC they are last-writer-wins inside ipamd, not per card.
func sumGauge(vec model.Vector) *float64 {
	if len(vec) == 0 {
		return nil
	}
	var total float64
	for _, smp := range vec {
		total += float64(smp.Value)
	}
	return &total
}

// sumCounter is sumGauge that ignores negative values, which no counter can hold.
func sumCounter(vec model.Vector) *float64 {
	var total float64
	found := false
	for _, smp := range vec {
		if v := float64(smp.Value); v >= 0 {
			total += v
			found = true
		}
	}
	if !found {
		return nil
	}
	return &total
}

func buildVersion(vec model.Vector) string {
	var versions []string
	for _, smp := range vec {
		if v := string(smp.Metric["version"]); v != "" {
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return ""
	}
	slices.Sort(versions) // deterministic if a broken exporter lists several
	return truncate(versions[0], maxKeyLen)
}

// byLabel sums a counter family by one label, sanitising the label values and keeping at
// most maxSampleKeys keys. Every other label (api, and anything unknown) is summed away.
func byLabel(vec model.Vector, label model.LabelName) map[string]float64 {
	if len(vec) == 0 {
		return nil
	}
	out := map[string]float64{}
	for _, smp := range vec {
		if v := float64(smp.Value); v >= 0 {
			out[sanitizeKey(string(smp.Metric[label]))] += v
		}
	}
	return capKeys(out, maxSampleKeys)
}

// sanitizeKey keeps label values that look like EC2 error codes or Go function names
// (letters, digits, '.', '_', '-', ':', at most maxKeyLen bytes); anything else is OtherKey.
func sanitizeKey(s string) string {
	if s == "" || len(s) > maxKeyLen {
		return OtherKey
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == ':':
		default:
			return OtherKey
		}
	}
	return s
}

// capKeys keeps the n-1 largest values (ties by name) and folds the rest into OtherKey, so
// the result has at most n keys. The input is not modified.
func capKeys(m map[string]float64, n int) map[string]float64 {
	if m == nil {
		return nil
	}
	if len(m) <= n {
		return maps.Clone(m)
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]float64, n)
	kept := 0
	for _, k := range keys {
		if k != OtherKey && kept < n-1 {
			out[k] = m[k]
			kept++
			continue
		}
		out[OtherKey] += m[k]
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Cumulative renders a Sample for one-shot use (a bundle, a single poll): gauges, cumulative
// totals and zero increases, since nothing is known about an earlier poll.
func Cumulative(s *Sample) *nodestate.CNIMetrics {
	if s == nil {
		return nil
	}
	return &nodestate.CNIMetrics{
		Version:             s.Version,
		ENIMax:              clonePtr(s.ENIMax),
		IPMax:               clonePtr(s.IPMax),
		ENIAllocated:        clonePtr(s.ENIAllocated),
		TotalIPs:            clonePtr(s.TotalIPs),
		AssignedIPs:         clonePtr(s.AssignedIPs),
		TotalIPv4Prefix:     clonePtr(s.TotalIPv4Prefix),
		APIErrorIncrease:    map[string]float64{},
		IpamdErrorIncrease:  map[string]float64{},
		EC2APIErrorIncrease: map[string]float64{},
		APIErrorTotal:       capKeys(s.APIErrors, MaxKeys),
		NoAvailableIPTotal:  clonePtr(s.NoAvailableIP),
	}
}

func clonePtr(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
