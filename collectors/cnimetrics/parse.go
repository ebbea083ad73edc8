// Package cnimetrics owns ipamwatch's reading of aws-node's own Prometheus endpoint
// (:61678/metrics): a bounded client, a parser that keeps only the awscni_* families the
// diagnosis needs, and a Tracker that turns counters into reset-aware increases between polls.
// Every family is optional: old CNIs lack newer series and some nodes disable metrics.
//
// The page is outside input. It is read line by line: lines of every other family are skipped
// as they stream past, never parsed or held, so memory does not grow with the page. Samples
// that no node can produce (NaN, ±Inf, a negative or astronomically large counter, a gauge
// beyond what any instance has) are dropped and counted, never summed into a counter or turned
// into an integer.
package cnimetrics

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ipamwatch/ipamwatch/internal/limitio"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// DefaultMaxBodyBytes bounds the page read when no limit is given. A real aws-node page is
// about 12 KiB (the CNI's own test pages, cmd/cni-metrics-helper/metrics/cni_test*.data,
// v1.23.0), plus one awscni_assigned_ip_per_cidr line per address slot (at most a few
// thousand, ~0.3 MiB on the largest instances). The one family that grows without bound is
// awscni_aws_utils_error_count (one series per distinct error text over aws-node's life); it
// is skipped while reading, so the bound costs read time, not memory (a full page of it: about
// 15 ms of CPU, BenchmarkParseSkippedFamily), and leaves it room for weeks of errors.
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

// maxLineBytes is the longest line of a kept family that is read; the whole page may have
// longer ones (free-text error labels), which are skipped when their family is not kept.
const maxLineBytes = 64 << 10

var (
	// ErrEmpty is returned for an empty body.
	ErrEmpty = errors.New("empty metrics response")
	// ErrBodyTooLarge is returned when the exposition exceeds the limit.
	ErrBodyTooLarge = errors.New("metrics body exceeds size limit")
	// ErrDuplicateFamily is returned when a kept family appears in two separate groups of
	// lines, which the text format forbids: its counters would be counted twice.
	ErrDuplicateFamily = errors.New("metric family listed twice")
)

// Reasons a sample is dropped, the `reason` label of ipamwatch_cni_samples_dropped_total.
const (
	// DropNonFinite is a NaN or ±Inf value.
	DropNonFinite = "non_finite"
	// DropImplausible is a counter below zero or above 2^53 (a float64 counter counted one
	// by one cannot get there), or a gauge outside what any instance has.
	DropImplausible = "implausible"
)

// DropReasons lists the reasons, in exposition order.
func DropReasons() []string { return []string{DropNonFinite, DropImplausible} }

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

// maxCounter is the largest plausible counter value: a float64 incremented by one stops
// counting exactly at 2^53.
const maxCounter = 1 << 53

// family describes how one kept family is read.
type family struct {
	label string  // the label kept as key ("" for unlabelled families)
	max   float64 // the largest plausible value
}

// The largest values a gauge can hold on a real node. ENIs: at most 80 on any instance type
// (the CNI's limits table, pkg/vpc/vpc_ip_resource_limit.go, v1.23.0), bounded with margin
// as collectors/ipamd does. Addresses: awscni_ip_max is addresses per ENI x ENIs, at most
// 63 x 16 per ENI with prefixes; awscni_total_ip_addresses counts 2^48 per IPv6 /80
// (CidrInfo.Size in pkg/ipamd/datastore/data_store.go), one per ENI.
var kept = map[string]family{
	famENIMax:          {max: 128},
	famENIAllocated:    {max: 128},
	famIPMax:           {max: 1 << 20},
	famAssignedIPs:     {max: 1 << 20},
	famTotalIPv4Prefix: {max: 1 << 16},
	famTotalIPs:        {max: 1 << 56},
	famBuildInfo:       {label: "version", max: maxCounter},
	famNoAvailableIP:   {max: maxCounter},
	famAPIErrors:       {label: "error", max: maxCounter},
	famIpamdErrors:     {label: "fn", max: maxCounter},
	famEC2APIErrors:    {label: "fn", max: maxCounter},
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

	// Dropped counts the samples of kept families refused, by reason (DropNonFinite,
	// DropImplausible); nil when none was.
	Dropped map[string]int

	// held marks counters with a sample dropped in this page: their value is unknown, and the
	// Tracker carries the previous one forward instead of seeing a reset.
	held map[string]bool
}

// heldKey names a counter series in Sample.held.
func heldKey(fam, key string) string { return fam + "\x00" + key }

// Parse reads Prometheus text exposition from r (at most limit bytes; limit <= 0 means
// DefaultMaxBodyBytes) and keeps the awscni_* families ipamwatch uses. Lines of other families
// are skipped unparsed; a syntax error in a kept family fails the page.
func Parse(r io.Reader, limit int64) (*Sample, error) {
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	p := &parser{s: &Sample{}, closed: map[string]bool{}, ignored: map[string]bool{}}
	br := bufio.NewReaderSize(limitio.Reader(r, limit, ErrBodyTooLarge), maxLineBytes)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if err := p.longLine(line, br); err != nil {
				return nil, err
			}
			continue
		}
		if len(line) > 0 {
			if perr := p.line(line); perr != nil {
				return nil, fmt.Errorf("parsing metrics text: line %d: %w", p.n, perr)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrBodyTooLarge) {
				return nil, ErrBodyTooLarge
			}
			return nil, fmt.Errorf("reading metrics: %w", err)
		}
	}
	if !p.content {
		return nil, ErrEmpty
	}
	return p.finish(), nil
}

// parser is the state of one Parse.
type parser struct {
	s       *Sample
	n       int  // line number
	content bool // a non-blank line was seen
	// Group tracking: the text format lists each family as one group of lines. current is
	// the kept family of the group being read ("" for another family); closed holds kept
	// families whose group has ended.
	current string
	closed  map[string]bool
	ignored map[string]bool // kept families whose TYPE is not gauge, counter or untyped
	sums    map[string]*float64
}

// longLine handles a line longer than the reader's buffer: a line of a family that is not
// kept is skipped to its end without being held; one of a kept family is an error.
func (p *parser) longLine(head []byte, br *bufio.Reader) error {
	p.n++
	p.content = true
	name := head
	if len(name) > 0 && name[0] == '#' {
		name = commentName(name)
	} else {
		name = metricName(name)
	}
	if base := baseName(name); base != "" {
		if _, ok := kept[base]; ok {
			return fmt.Errorf("parsing metrics text: line %d: a line of %s longer than %d bytes", p.n, base, maxLineBytes)
		}
	}
	p.leave()
	for {
		_, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil, errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, ErrBodyTooLarge):
			return ErrBodyTooLarge
		default:
			return fmt.Errorf("reading metrics: %w", err)
		}
	}
}

// line reads one line (with its '\n', if any).
func (p *parser) line(line []byte) error {
	p.n++
	line = bytes.TrimRight(line, "\r\n")
	line = bytes.TrimLeft(line, " \t")
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	p.content = true
	if line[0] == '#' {
		return p.comment(line)
	}
	name := metricName(line)
	if name == nil {
		return fmt.Errorf("no metric name at the start of %q", truncate(string(line), 40))
	}
	base := baseName(name)
	fam, ok := kept[base]
	if !ok {
		if b, created := bytes.CutSuffix(name, []byte("_created")); created && p.current != "" && baseName(b) == p.current {
			return nil // OpenMetrics interleaves a counter's _created series with its samples
		}
		p.leave()
		return nil // another family: skipped unparsed
	}
	if err := p.enter(base); err != nil {
		return err
	}
	if p.ignored[base] {
		return nil
	}
	key, value, err := parseSample(line, fam.label)
	if err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	p.add(base, fam, key, value)
	return nil
}

// comment reads a # HELP or # TYPE line; other comments are ignored.
func (p *parser) comment(line []byte) error {
	fields := bytes.Fields(line[1:])
	if len(fields) < 2 || (string(fields[0]) != "HELP" && string(fields[0]) != "TYPE") {
		return nil
	}
	base := baseName(fields[1])
	if _, ok := kept[base]; !ok {
		p.leave()
		return nil
	}
	if err := p.enter(base); err != nil {
		return err
	}
	if string(fields[0]) == "TYPE" && len(fields) >= 3 {
		switch string(fields[2]) {
		case "gauge", "counter", "untyped":
		default:
			p.ignored[base] = true // a family of an unexpected type is treated as absent
		}
	}
	return nil
}

// leave ends the group of the current kept family: a line of another family was read.
func (p *parser) leave() {
	if p.current != "" {
		p.closed[p.current] = true
	}
	p.current = ""
}

// enter moves to the group of kept family base, refusing one whose group has already ended.
func (p *parser) enter(base string) error {
	if base == p.current {
		return nil
	}
	p.leave()
	if p.closed[base] {
		return fmt.Errorf("%w: %s", ErrDuplicateFamily, base)
	}
	p.current = base
	return nil
}

// add folds one sample into the Sample, dropping it (and counting why) when no node could
// have produced it.
func (p *parser) add(base string, fam family, key []byte, v float64) {
	reason := ""
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		reason = DropNonFinite
	case v < 0 || v > fam.max:
		reason = DropImplausible
	}
	s := p.s
	k := ""
	if fam.label != "" {
		k = sanitizeKey(key)
	}
	if reason != "" {
		if s.Dropped == nil {
			s.Dropped = map[string]int{}
		}
		s.Dropped[reason]++
		if s.held == nil {
			s.held = map[string]bool{}
		}
		s.held[heldKey(base, k)] = true
		return
	}
	switch base {
	case famBuildInfo:
		// The version becomes a label value and report text: only a plain version token.
		if k != OtherKey && (s.Version == "" || k < s.Version) {
			s.Version = k // deterministic if a broken exporter lists several
		}
	case famAPIErrors:
		s.APIErrors = addKey(s.APIErrors, k, v)
	case famIpamdErrors:
		s.IpamdErrors = addKey(s.IpamdErrors, k, v)
	case famEC2APIErrors:
		s.EC2APIErrors = addKey(s.EC2APIErrors, k, v)
	default:
		// Unlabelled gauges and the one unlabelled counter: aws-node exports one series, so
		// the sum is its value (with multi-NIC, last-writer-wins inside ipamd).
		if p.sums == nil {
			p.sums = map[string]*float64{}
		}
		if p.sums[base] == nil {
			p.sums[base] = new(float64)
		}
		*p.sums[base] += v
	}
}

// addKey adds v to m[k]; a map that reaches twice maxSampleKeys keys is folded back to
// maxSampleKeys, so a page of many distinct label values costs bounded memory.
func addKey(m map[string]float64, k string, v float64) map[string]float64 {
	if m == nil {
		m = map[string]float64{}
	}
	m[k] += v
	if len(m) >= 2*maxSampleKeys {
		m = capKeys(m, maxSampleKeys)
	}
	return m
}

// finish assembles the Sample: sums become gauges, maps are capped, and a value made unknown
// by a dropped sample stays unknown.
func (p *parser) finish() *Sample {
	s := p.s
	gauge := func(base string) *float64 {
		if s.held[heldKey(base, "")] {
			return nil // one of its samples was refused: unknown, not a partial sum
		}
		v := p.sums[base]
		if v != nil && *v > kept[base].max {
			s.Dropped[DropImplausible]++ // several plausible series summing past the bound
			return nil
		}
		return v
	}
	if s.Dropped == nil {
		s.Dropped = map[string]int{}
	}
	s.ENIMax, s.IPMax, s.ENIAllocated = gauge(famENIMax), gauge(famIPMax), gauge(famENIAllocated)
	s.TotalIPs, s.AssignedIPs, s.TotalIPv4Prefix = gauge(famTotalIPs), gauge(famAssignedIPs), gauge(famTotalIPv4Prefix)
	s.NoAvailableIP = gauge(famNoAvailableIP)
	for _, m := range []*map[string]float64{&s.APIErrors, &s.IpamdErrors, &s.EC2APIErrors} {
		*m = capKeys(*m, maxSampleKeys)
	}
	// A key with a dropped sample is unknown in this page, not the sum of the others.
	for _, f := range []struct {
		fam string
		m   map[string]float64
	}{{famAPIErrors, s.APIErrors}, {famIpamdErrors, s.IpamdErrors}, {famEC2APIErrors, s.EC2APIErrors}} {
		for k := range f.m {
			if s.held[heldKey(f.fam, k)] {
				delete(f.m, k)
			}
		}
	}
	if len(s.Dropped) == 0 {
		s.Dropped = nil
	}
	return s
}

// metricName returns the metric name at the start of a sample line: an identifier, or the
// quoted name of the UTF-8 form {"name",...}; nil when there is none.
func metricName(line []byte) []byte {
	if len(line) > 0 && line[0] == '{' {
		rest := bytes.TrimLeft(line[1:], " \t")
		if len(rest) > 0 && rest[0] == '"' {
			if end := closingQuote(rest[1:]); end >= 0 {
				return rest[1 : 1+end]
			}
		}
		return nil
	}
	i := 0
	for i < len(line) && isNameByte(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return nil
	}
	return line[:i]
}

// commentName returns the family name of a # HELP or # TYPE line, else nil.
func commentName(line []byte) []byte {
	fields := bytes.Fields(line[1:])
	if len(fields) < 2 || (string(fields[0]) != "HELP" && string(fields[0]) != "TYPE") {
		return nil
	}
	return fields[1]
}

func isNameByte(c byte, first bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || (!first && c >= '0' && c <= '9')
}

// baseName is the family a sample or comment name belongs to: a counter's _total suffix is
// tolerated, as a future client library may add it. Unknown names give themselves.
func baseName(name []byte) string {
	if len(name) == 0 {
		return ""
	}
	if _, ok := kept[string(name)]; ok {
		return string(name)
	}
	if b, ok := bytes.CutSuffix(name, []byte("_total")); ok {
		if _, ok := kept[string(b)]; ok {
			return string(b)
		}
	}
	return "" // not kept; the name itself is never needed
}

// parseSample reads the labels and value of a sample line of a kept family and returns the
// value of label want (nil if absent or want is "").
func parseSample(line []byte, want string) (key []byte, v float64, err error) {
	var rest []byte
	if line[0] == '{' {
		// UTF-8 form: the quoted name is the first member of the braces.
		b := bytes.TrimLeft(line[1:], " \t")
		end := closingQuote(b[1:])
		b = bytes.TrimLeft(b[2+end:], " \t")
		switch {
		case len(b) > 0 && b[0] == ',':
			key, rest, err = parseLabels(b[1:], want)
		case len(b) > 0 && b[0] == '}':
			rest = b[1:]
		default:
			err = errors.New("expected ',' or '}' after the quoted name")
		}
	} else {
		rest = line[len(metricName(line)):]
		if len(rest) > 0 && rest[0] == '{' {
			key, rest, err = parseLabels(rest[1:], want)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	fields := bytes.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return nil, 0, fmt.Errorf("expected a value (and an optional timestamp), got %q", truncate(string(rest), 40))
	}
	v, err = strconv.ParseFloat(string(fields[0]), 64)
	if err != nil {
		return nil, 0, fmt.Errorf("bad value %q", truncate(string(fields[0]), 40))
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(string(fields[1]), 10, 64); err != nil {
			return nil, 0, fmt.Errorf("bad timestamp %q", truncate(string(fields[1]), 40))
		}
	}
	return key, v, nil
}

// parseLabels reads `name="value",...}` and returns the raw value of label want and what
// follows the closing brace. A value holding escapes is returned as is: the escape character
// makes it fail sanitizeKey, which is what such a value deserves.
func parseLabels(b []byte, want string) (key, rest []byte, err error) {
	for {
		b = bytes.TrimLeft(b, " \t")
		if len(b) == 0 {
			return nil, nil, errors.New("unterminated label set")
		}
		if b[0] == '}' {
			return key, b[1:], nil
		}
		var name []byte
		if b[0] == '"' {
			end := bytes.IndexByte(b[1:], '"')
			if end < 0 {
				return nil, nil, errors.New("unterminated label name")
			}
			name, b = b[1:1+end], b[2+end:]
		} else {
			i := 0
			for i < len(b) && isNameByte(b[i], i == 0) && b[i] != ':' {
				i++
			}
			if i == 0 {
				return nil, nil, fmt.Errorf("invalid label name at %q", truncate(string(b), 20))
			}
			name, b = b[:i], b[i:]
		}
		b = bytes.TrimLeft(b, " \t")
		if len(b) < 2 || b[0] != '=' {
			return nil, nil, fmt.Errorf("label %q without a value", truncate(string(name), 40))
		}
		b = bytes.TrimLeft(b[1:], " \t")
		if len(b) == 0 || b[0] != '"' {
			return nil, nil, fmt.Errorf("label %q: value not quoted", truncate(string(name), 40))
		}
		end := closingQuote(b[1:])
		if end < 0 {
			return nil, nil, fmt.Errorf("label %q: unterminated value", truncate(string(name), 40))
		}
		if want != "" && string(name) == want {
			key = b[1 : 1+end]
		}
		b = bytes.TrimLeft(b[2+end:], " \t")
		switch {
		case len(b) > 0 && b[0] == ',':
			b = b[1:]
		case len(b) > 0 && b[0] == '}':
		default:
			return nil, nil, errors.New("expected ',' or '}' after a label")
		}
	}
}

// closingQuote returns the index of the first unescaped '"' in b, or -1.
func closingQuote(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// sanitizeKey keeps label values that look like EC2 error codes, Go function names or
// versions (letters, digits, '.', '_', '-', ':', '+', at most maxKeyLen bytes); anything
// else, and an absent label, is OtherKey.
func sanitizeKey(b []byte) string {
	if len(b) == 0 || len(b) > maxKeyLen {
		return OtherKey
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == ':', c == '+':
		default:
			return OtherKey
		}
	}
	return string(b)
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
		Dropped:             maps.Clone(s.Dropped),
	}
}

func clonePtr(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
