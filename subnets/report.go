package subnets

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/termsafe"
)

// blocksPerRow is the width of the printed block map: 64 blocks = 1,024 addresses a row.
const blocksPerRow = 64

// BlockLegend explains the block map characters.
const BlockLegend = ". free  r free (prefix reservation)  + partly used  # full  R explicit reservation  P prefix  A AWS-reserved"

// Verdict classifies an analysed subnet for prefix delegation: "exhausted" (fewer free
// addresses than one /28), "fragmented" (enough free addresses but no free aligned /28),
// "low" (fewer than 4 free /28 blocks) or "ok".
func Verdict(a *Analysis) string {
	switch {
	case a.Free < blockSize:
		return "exhausted"
	case a.FreePrefixBlocks == 0:
		return "fragmented"
	case a.FreePrefixBlocks < 4:
		return "low"
	default:
		return "ok"
	}
}

// JSONSubnet is one subnet in `ipamwatch subnets --once --format json`.
type JSONSubnet struct {
	SubnetID             string           `json:"subnet_id"`
	AvailabilityZone     string           `json:"availability_zone"`
	AvailabilityZoneID   string           `json:"availability_zone_id,omitempty"`
	VPCID                string           `json:"vpc_id,omitempty"`
	CIDR                 string           `json:"cidr,omitempty"`
	Skipped              string           `json:"skipped,omitempty"`
	EC2Available         int              `json:"ec2_available_addresses"`
	Size                 int              `json:"size_addresses"`
	AWSReserved          int              `json:"aws_reserved_addresses"`
	ExplicitReserved     int              `json:"explicit_reserved_addresses"`
	PrefixReserved       int              `json:"prefix_reserved_addresses"`
	Used                 int              `json:"used_addresses"`
	UsedBy               map[string]int   `json:"used_by_holder,omitempty"`
	Free                 int              `json:"free_addresses"`
	FreePrefixOnly       int              `json:"free_prefix_only_addresses"`
	FreePrefixBlocks     int              `json:"free_prefix_blocks"`
	AssignedPrefixBlocks int              `json:"assigned_prefix_blocks"`
	LargestFreeBlock     int              `json:"largest_free_block_addresses"`
	FragmentationRatio   float64          `json:"fragmentation_ratio"`
	Verdict              string           `json:"verdict,omitempty"`
	BlockMap             string           `json:"block_map,omitempty"`
	Anomalies            []string         `json:"anomalies,omitempty"`
	Recommendations      []Recommendation `json:"recommendations,omitempty"`
	LeakedENICount       int              `json:"leaked_enis"`
	LeakedAddresses      int              `json:"leaked_eni_addresses"`
	LeakedENIs           []LeakedENI      `json:"leaked_eni_list,omitempty"`
	WhatIf               *WhatIf          `json:"what_if,omitempty"`
}

// JSONReport is the whole --once JSON document.
type JSONReport struct {
	Time     time.Time    `json:"time"`
	Legend   string       `json:"block_map_legend"`
	Subnets  []JSONSubnet `json:"subnets"`
	Warnings []string     `json:"warnings,omitempty"`
}

// ToJSON converts a snapshot to its JSON report.
func ToJSON(s *Snapshot) JSONReport {
	rep := JSONReport{Time: s.Time.UTC(), Legend: BlockLegend, Subnets: []JSONSubnet{}, Warnings: s.Warnings}
	for _, r := range s.Results {
		j := JSONSubnet{
			SubnetID: r.Subnet.ID, AvailabilityZone: r.Subnet.AvailabilityZone, AvailabilityZoneID: r.Subnet.AvailabilityZoneID,
			VPCID: r.Subnet.VPCID, CIDR: r.Subnet.CIDR, Skipped: r.Skipped, EC2Available: r.Subnet.AvailableIPs,
		}
		if a := r.Analysis; a != nil {
			j.Size, j.AWSReserved, j.ExplicitReserved, j.PrefixReserved = a.Size, a.AWSReserved, a.ExplicitReserved, a.PrefixReserved
			j.Used, j.UsedBy, j.Free, j.FreePrefixOnly = a.Used, a.UsedBy, a.Free, a.FreePrefixOnly
			j.FreePrefixBlocks, j.AssignedPrefixBlocks, j.LargestFreeBlock = a.FreePrefixBlocks, a.AssignedPrefixes, a.LargestFreeBlock
			j.FragmentationRatio, j.Verdict, j.BlockMap, j.Anomalies = a.FragmentationRatio, Verdict(a), string(a.Blocks), a.Anomalies
			j.Recommendations = r.Recommendations
			j.WhatIf = r.WhatIf
			j.LeakedENICount, j.LeakedAddresses, j.LeakedENIs = a.LeakedENICount, a.LeakedAddresses, a.LeakedENIs
		}
		rep.Subnets = append(rep.Subnets, j)
	}
	return rep
}

// WriteJSON writes the JSON report, indented.
func WriteJSON(w io.Writer, s *Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ToJSON(s))
}

// WriteText writes the human report: per subnet the numbers, a verdict, the block map and
// the nodes to drain. Text that came from EC2 or Kubernetes (errors, odd inputs, ids, node
// names) is escaped for the terminal (termsafe).
func WriteText(w io.Writer, s *Snapshot) error {
	var b strings.Builder
	for _, warn := range s.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", termsafe.String(warn))
	}
	for i, r := range s.Results {
		if i > 0 {
			b.WriteString("\n")
		}
		sub := r.Subnet
		fmt.Fprintf(&b, "%s  %s  %s  %s\n", termsafe.String(sub.ID), termsafe.String(orDash(sub.AvailabilityZone)), termsafe.String(orDash(sub.CIDR)), termsafe.String(orDash(sub.VPCID)))
		if r.Analysis == nil {
			fmt.Fprintf(&b, "  skipped: %s\n", termsafe.String(r.Skipped))
			continue
		}
		a := r.Analysis
		fmt.Fprintf(&b, "  verdict: %s\n", Verdict(a))
		fmt.Fprintf(&b, "  size %d  reserved: aws %d, explicit %d, prefix %d  used %d  free %d (%d prefix-only)  ec2-available %d\n",
			a.Size, a.AWSReserved, a.ExplicitReserved, a.PrefixReserved, a.Used, a.Free, a.FreePrefixOnly, sub.AvailableIPs)
		fmt.Fprintf(&b, "  free /28 blocks %d  assigned prefixes %d  largest free block %d  fragmentation %.1f%%\n",
			a.FreePrefixBlocks, a.AssignedPrefixes, a.LargestFreeBlock, 100*a.FragmentationRatio)
		var holders []string
		for _, h := range holderOrder {
			if a.UsedBy[h] > 0 {
				holders = append(holders, fmt.Sprintf("%s %d", h, a.UsedBy[h]))
			}
		}
		if len(holders) > 0 {
			fmt.Fprintf(&b, "  used by: %s\n", strings.Join(holders, ", "))
		}
		whatIfText(&b, r.WhatIf)
		fmt.Fprintf(&b, "  block map, one character per /28 (%s):\n", BlockLegend)
		writeBlockRows(&b, a)
		if a.AnomalyCount > 0 {
			fmt.Fprintf(&b, "  ignored %d odd input(s), e.g.: %s\n", a.AnomalyCount, termsafe.String(strings.Join(a.Anomalies, "; ")))
		}
		if a.LeakedENICount > 0 {
			fmt.Fprintf(&b, "  leaked CNI ENIs %d holding %d address(es) (detached, created by the VPC CNI; delete after checking the instance is gone: aws ec2 delete-network-interface --network-interface-id ENI):\n", a.LeakedENICount, a.LeakedAddresses)
			for _, l := range a.LeakedENIs {
				fmt.Fprintf(&b, "    %s  created for %s  %d address(es)\n", l.ID, orDash(l.InstanceID), l.Addresses)
			}
			if a.LeakedENICount > len(a.LeakedENIs) {
				fmt.Fprintf(&b, "    ... and %d more\n", a.LeakedENICount-len(a.LeakedENIs))
			}
		}
		if len(r.Recommendations) > 0 {
			b.WriteString("  to free whole /28 blocks, drain and replace:\n")
			for _, rec := range r.Recommendations {
				name := ""
				if rec.NodeName != "" {
					name = " (" + rec.NodeName + ")"
				}
				fmt.Fprintf(&b, "    %s%s  ENIs %s: frees %d /28 block(s), holds %d address(es) in them\n",
					termsafe.String(rec.InstanceID), termsafe.String(name), termsafe.String(strings.Join(rec.ENIs, ",")), rec.BlocksFreed, rec.AddressesHeld)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// blockAddr is the first address of /28 block k of p.
func blockAddr(p netip.Prefix, k int) netip.Addr {
	v := addrNum(p.Addr()) + uint32(k*blockSize)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// writeBlockRows prints the block map, 64 blocks a row; three or more consecutive rows of
// free blocks collapse into one line, so a mostly empty /16 stays readable.
func writeBlockRows(b *strings.Builder, a *Analysis) {
	allFree := func(row []byte) bool { return strings.Count(string(row), string(rune(BlockFree))) == len(row) }
	rowAt := func(i int) []byte { return a.Blocks[i:min(i+blocksPerRow, len(a.Blocks))] }
	for row := 0; row < len(a.Blocks); row += blocksPerRow {
		end := row
		for end < len(a.Blocks) && allFree(rowAt(end)) {
			end += blocksPerRow
		}
		if end-row >= 3*blocksPerRow {
			fmt.Fprintf(b, "    %-15s ... %d rows of free blocks (%d addresses) ...\n", blockAddr(a.Prefix, row), (end-row)/blocksPerRow, (end-row)*blockSize)
			row = end - blocksPerRow
			continue
		}
		fmt.Fprintf(b, "    %-15s %s\n", blockAddr(a.Prefix, row), rowAt(row))
	}
}
