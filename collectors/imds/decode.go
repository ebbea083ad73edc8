package imds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// maxInterfaces bounds the MAC list: the largest instances attach a few hundred ENIs across
// their network cards; anything far beyond is not an IMDS answer.
const maxInterfaces = 1024

// source is what assemble needs from IMDS; *Client implements it, tests substitute fakes.
type source interface {
	get(ctx context.Context, path string) (string, error)
	region(ctx context.Context) (string, error)
}

// assemble reads the instance and interface paths from src in a fixed order and validates
// every value. Reads are sequential on purpose: IMDS throttles per instance, and a 15-ENI node
// needs ~170 small local calls, well under a second.
func assemble(ctx context.Context, src source) (*nodestate.Metadata, error) {
	r := reader{ctx: ctx, src: src}
	md := &nodestate.Metadata{}

	md.InstanceID = r.required("instance-id", parseInstanceID)
	md.InstanceType = r.required("instance-type", parseInstanceType)
	if r.err != nil {
		// The first call tells whether IMDS is there at all: stop before paying for the rest.
		return nil, r.err
	}
	md.Region = r.optional("placement/region", parseRegion)
	if md.Region == "" && r.err == nil {
		reg, err := src.region(ctx)
		if err != nil {
			return nil, fmt.Errorf("region: placement/region absent and identity document unreadable: %w", err)
		}
		if md.Region, err = parseRegion(reg); err != nil {
			return nil, fmt.Errorf("region from identity document: %w", err)
		}
	}
	md.AvailabilityZone = r.required("placement/availability-zone", parseZone)
	md.AZID = r.optional("placement/availability-zone-id", parseZone)
	md.LocalIPv4 = r.optional("local-ipv4", parseIPv4)
	md.PrimaryMAC = r.required("mac", parseMAC)
	macList := r.required("network/interfaces/macs/", nonEmpty)
	if r.err != nil {
		return nil, r.err
	}
	macs, err := parseMACList(macList)
	if err != nil {
		return nil, fmt.Errorf("network/interfaces/macs/: %w", err)
	}
	if !containsString(macs, md.PrimaryMAC) {
		return nil, fmt.Errorf("primary MAC %s is not in network/interfaces/macs/ (%s)", md.PrimaryMAC, strings.Join(macs, ", "))
	}

	for _, mac := range macs {
		ifc, gone, err := readInterface(ctx, src, mac)
		if err != nil {
			return nil, err
		}
		if gone {
			if mac == md.PrimaryMAC {
				return nil, fmt.Errorf("primary interface %s has no interface-id", mac)
			}
			// Detached between the MAC list and this read (ipamd frees ENIs all the time).
			continue
		}
		md.Interfaces = append(md.Interfaces, ifc)
	}
	sort.SliceStable(md.Interfaces, func(i, j int) bool {
		a, b := md.Interfaces[i], md.Interfaces[j]
		if a.NetworkCard != b.NetworkCard {
			return a.NetworkCard < b.NetworkCard
		}
		return a.DeviceNumber < b.DeviceNumber
	})
	return md, nil
}

// readInterface reads one MAC's paths. gone reports an interface whose interface-id answers
// 404, i.e. one detached while we were reading.
func readInterface(ctx context.Context, src source, mac string) (ifc nodestate.Interface, gone bool, err error) {
	base := "network/interfaces/macs/" + mac + "/"
	r := reader{ctx: ctx, src: src}
	ifc.MAC = mac
	id, err := src.get(ctx, base+"interface-id")
	if errors.Is(err, ErrNotFound) {
		return ifc, true, nil
	}
	if err != nil {
		return ifc, false, err
	}
	if ifc.InterfaceID, err = parseENIID(id); err != nil {
		return ifc, false, fmt.Errorf("%sinterface-id: %w", base, err)
	}
	ifc.DeviceNumber = r.requiredInt(base+"device-number", parseSmallInt)
	ifc.NetworkCard = r.optionalInt(base+"network-card", parseSmallInt)
	ifc.SubnetID = r.required(base+"subnet-id", prefixedID("subnet-"))
	ifc.VPCID = r.required(base+"vpc-id", prefixedID("vpc-"))
	ifc.SubnetCIDR = r.optional(base+"subnet-ipv4-cidr-block", parseIPv4Prefix)
	ifc.VPCCIDRs = r.list(base+"vpc-ipv4-cidr-blocks", parseIPv4Prefix)
	ifc.LocalIPv4s = r.list(base+"local-ipv4s", parseIPv4)
	ifc.IPv4Prefixes = r.list(base+"ipv4-prefix", parseIPv4Prefix)
	ifc.IPv6s = r.list(base+"ipv6s", parseIPv6)
	ifc.IPv6Prefixes = r.list(base+"ipv6-prefix", parseIPv6Prefix)
	return ifc, false, r.err
}

// reader keeps the first error so a run of reads stays readable; after an error every read
// is skipped.
type reader struct {
	ctx context.Context
	src source
	err error
}

func (r *reader) fetch(path string) (string, bool) {
	if r.err != nil {
		return "", false
	}
	v, err := r.src.get(r.ctx, path)
	if errors.Is(err, ErrNotFound) {
		return "", false
	}
	if err != nil {
		r.err = err
		return "", false
	}
	return v, true
}

func (r *reader) required(path string, parse func(string) (string, error)) string {
	if r.err != nil {
		return ""
	}
	v, ok := r.fetch(path)
	if !ok {
		if r.err == nil {
			r.err = fmt.Errorf("required path %s: %w", path, ErrNotFound)
		}
		return ""
	}
	out, err := parse(v)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", path, err)
	}
	return out
}

func (r *reader) optional(path string, parse func(string) (string, error)) string {
	v, ok := r.fetch(path)
	if !ok {
		return ""
	}
	out, err := parse(v)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", path, err)
	}
	return out
}

func (r *reader) requiredInt(path string, parse func(string) (int, error)) int {
	if r.err != nil {
		return 0
	}
	v, ok := r.fetch(path)
	if !ok {
		if r.err == nil {
			r.err = fmt.Errorf("required path %s: %w", path, ErrNotFound)
		}
		return 0
	}
	n, err := parse(v)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", path, err)
	}
	return n
}

func (r *reader) optionalInt(path string, parse func(string) (int, error)) int {
	v, ok := r.fetch(path)
	if !ok {
		return 0
	}
	n, err := parse(v)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", path, err)
	}
	return n
}

// list reads a newline-separated list; 404 means empty.
func (r *reader) list(path string, parse func(string) (string, error)) []string {
	v, ok := r.fetch(path)
	if !ok {
		return nil
	}
	out, err := parseList(v, parse)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", path, err)
	}
	return out
}

// parseList splits an IMDS list answer (one item per line) and parses each item.
func parseList(body string, parse func(string) (string, error)) ([]string, error) {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(out) >= maxListItems {
			return nil, fmt.Errorf("more than %d items", maxListItems)
		}
		v, err := parse(line)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// maxListItems bounds address lists: an ENI holds at most 50 IPv4 addresses or prefixes
// per family today; 4096 leaves room without letting a broken answer grow without limit.
const maxListItems = 4096

// parseMACList parses the network/interfaces/macs/ listing ("0e:..:11/" per line).
func parseMACList(body string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), "/")
		if line == "" {
			continue
		}
		mac, err := parseMAC(line)
		if err != nil {
			return nil, err
		}
		if seen[mac] {
			continue
		}
		if len(out) >= maxInterfaces {
			return nil, fmt.Errorf("more than %d interfaces", maxInterfaces)
		}
		seen[mac] = true
		out = append(out, mac)
	}
	if len(out) == 0 {
		return nil, errors.New("no interfaces listed")
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func nonEmpty(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", errors.New("empty answer")
	}
	return s, nil
}

// parseMAC accepts a 48-bit MAC in colon form and returns it lower-cased, the form IMDS uses
// in paths.
func parseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 || strings.Count(s, ":") != 5 {
		return "", fmt.Errorf("%q is not a MAC address", clip(s))
	}
	return hw.String(), nil
}

func parseInstanceID(s string) (string, error) {
	return prefixedID("i-")(s)
}

func parseENIID(s string) (string, error) {
	return prefixedID("eni-")(s)
}

// prefixedID validates EC2 resource ids such as i-0123abcd, eni-..., subnet-..., vpc-....
func prefixedID(prefix string) func(string) (string, error) {
	return func(s string) (string, error) {
		rest, ok := strings.CutPrefix(s, prefix)
		if !ok || rest == "" || len(rest) > 32 || !isLowerAlnum(rest) {
			return "", fmt.Errorf("%q is not a %s... id", clip(s), prefix)
		}
		return s, nil
	}
}

func isLowerAlnum(s string) bool {
	for _, c := range s {
		if !isDigitOrLower(c) {
			return false
		}
	}
	return true
}

func isDigitOrLower(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z'
}

// parseInstanceType accepts family.size names such as m5.large or u-6tb1.112xlarge.
func parseInstanceType(s string) (string, error) {
	fam, size, ok := strings.Cut(s, ".")
	if !ok || fam == "" || size == "" || len(s) > 64 || !isTypeChars(fam) || !isTypeChars(size) {
		return "", fmt.Errorf("%q is not an instance type", clip(s))
	}
	return s, nil
}

func isTypeChars(s string) bool {
	for _, c := range s {
		if c != '-' && !isDigitOrLower(c) {
			return false
		}
	}
	return true
}

// parseRegion accepts region names (us-east-1) and is reused for zone names (us-east-1a)
// and zone ids (use1-az4).
func parseRegion(s string) (string, error) {
	if s == "" || len(s) > 64 || !isTypeChars(s) || !strings.Contains(s, "-") {
		return "", fmt.Errorf("%q is not a region name", clip(s))
	}
	return s, nil
}

func parseZone(s string) (string, error) {
	if _, err := parseRegion(s); err != nil {
		return "", fmt.Errorf("%q is not an availability zone", clip(s))
	}
	return s, nil
}

func parseSmallInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<16 {
		return 0, fmt.Errorf("%q is not a small non-negative integer", clip(s))
	}
	return n, nil
}

func parseIPv4(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return "", fmt.Errorf("%q is not an IPv4 address", clip(s))
	}
	return a.String(), nil
}

func parseIPv6(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return "", fmt.Errorf("%q is not an IPv6 address", clip(s))
	}
	return a.String(), nil
}

func parseIPv4Prefix(s string) (string, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return "", fmt.Errorf("%q is not an IPv4 CIDR", clip(s))
	}
	return p.String(), nil
}

func parseIPv6Prefix(s string) (string, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return "", fmt.Errorf("%q is not an IPv6 CIDR", clip(s))
	}
	return p.String(), nil
}

// clip keeps error messages short when IMDS (or something pretending to be it) answers with
// a page of HTML.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
