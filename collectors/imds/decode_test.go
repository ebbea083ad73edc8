package imds

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

func wantMultiENI() *nodestate.Metadata {
	return &nodestate.Metadata{
		InstanceID:       "i-0abc123def4567890",
		InstanceType:     "m6i.32xlarge",
		Region:           "eu-west-1",
		AvailabilityZone: "eu-west-1b",
		AZID:             "euw1-az1",
		PrimaryMAC:       "0a:11:22:33:44:01",
		LocalIPv4:        "10.0.1.10",
		Interfaces: []nodestate.Interface{
			{
				MAC: "0a:11:22:33:44:01", InterfaceID: "eni-0000000000000000a", DeviceNumber: 0, NetworkCard: 0,
				SubnetID: "subnet-0aaa", SubnetCIDR: "10.0.0.0/20", VPCID: "vpc-0123",
				VPCCIDRs: []string{"10.0.0.0/16", "100.64.0.0/16"}, LocalIPv4s: []string{"10.0.1.10"},
				IPv4Prefixes: []string{"10.0.2.16/28", "10.0.2.32/28"},
			},
			{
				MAC: "0a:11:22:33:44:02", InterfaceID: "eni-0000000000000000b", DeviceNumber: 1, NetworkCard: 0,
				SubnetID: "subnet-0bbb", SubnetCIDR: "100.64.0.0/19", VPCID: "vpc-0123",
				VPCCIDRs:   []string{"10.0.0.0/16", "100.64.0.0/16"},
				LocalIPv4s: []string{"100.64.0.5", "100.64.0.6", "100.64.0.7"},
				IPv6s:      []string{"2001:db8::5"}, IPv6Prefixes: []string{"2001:db8:1::/80"},
			},
			{
				MAC: "0a:11:22:33:44:03", InterfaceID: "eni-0000000000000000c", DeviceNumber: 2, NetworkCard: 1,
				SubnetID: "subnet-0aaa", SubnetCIDR: "10.0.0.0/20", VPCID: "vpc-0123",
				VPCCIDRs: []string{"10.0.0.0/16"}, LocalIPv4s: []string{"10.0.3.3"},
			},
		},
	}
}

func TestAssemble(t *testing.T) {
	t.Parallel()
	const m0 = "network/interfaces/macs/0a:11:22:33:44:01/"
	const m1 = "network/interfaces/macs/0a:11:22:33:44:02/"
	tests := []struct {
		name    string
		edit    func(v map[string]string, errs map[string]error)
		regDoc  string
		want    func() *nodestate.Metadata
		wantErr string
	}{
		{name: "multi ENI, two cards, prefixes and IPv6", want: wantMultiENI},
		{
			name: "optional paths absent are empty",
			edit: func(v map[string]string, _ map[string]error) {
				delete(v, "placement/availability-zone-id")
				delete(v, "local-ipv4")
				delete(v, m1+"network-card")
				delete(v, m1+"ipv6s")
				delete(v, m1+"ipv6-prefix")
				delete(v, m0+"ipv4-prefix")
				delete(v, m0+"subnet-ipv4-cidr-block")
			},
			want: func() *nodestate.Metadata {
				md := wantMultiENI()
				md.AZID, md.LocalIPv4 = "", ""
				md.Interfaces[0].IPv4Prefixes = nil
				md.Interfaces[0].SubnetCIDR = ""
				md.Interfaces[1].IPv6s, md.Interfaces[1].IPv6Prefixes = nil, nil
				return md
			},
		},
		{
			name:   "region from identity document",
			edit:   func(v map[string]string, _ map[string]error) { delete(v, "placement/region") },
			regDoc: "eu-west-1",
			want:   wantMultiENI,
		},
		{
			name:    "no region anywhere",
			edit:    func(v map[string]string, _ map[string]error) { delete(v, "placement/region") },
			wantErr: "placement/region absent and identity document unreadable",
		},
		{
			name: "interface detached mid-read is skipped",
			edit: func(v map[string]string, _ map[string]error) { delete(v, m1+"interface-id") },
			want: func() *nodestate.Metadata {
				md := wantMultiENI()
				md.Interfaces = append(md.Interfaces[:1], md.Interfaces[2])
				return md
			},
		},
		{
			name:    "primary interface without interface-id",
			edit:    func(v map[string]string, _ map[string]error) { delete(v, m0+"interface-id") },
			wantErr: "primary interface 0a:11:22:33:44:01 has no interface-id",
		},
		{
			name:    "missing instance-id",
			edit:    func(v map[string]string, _ map[string]error) { delete(v, "instance-id") },
			wantErr: "required path instance-id",
		},
		{
			name:    "missing subnet-id",
			edit:    func(v map[string]string, _ map[string]error) { delete(v, m1+"subnet-id") },
			wantErr: "required path " + m1 + "subnet-id",
		},
		{
			name:    "missing device-number",
			edit:    func(v map[string]string, _ map[string]error) { delete(v, m0+"device-number") },
			wantErr: "required path " + m0 + "device-number",
		},
		{
			name:    "malformed device-number",
			edit:    func(v map[string]string, _ map[string]error) { v[m0+"device-number"] = "zero" },
			wantErr: `device-number: "zero" is not a small non-negative integer`,
		},
		{
			name:    "malformed address in list",
			edit:    func(v map[string]string, _ map[string]error) { v[m1+"local-ipv4s"] = "100.64.0.5\n100.64.0.300" },
			wantErr: `local-ipv4s: "100.64.0.300" is not an IPv4 address`,
		},
		{
			name:    "IPv6 where IPv4 prefix expected",
			edit:    func(v map[string]string, _ map[string]error) { v[m0+"ipv4-prefix"] = "2001:db8::/80" },
			wantErr: "is not an IPv4 CIDR",
		},
		{
			name:    "HTML error page instead of an id",
			edit:    func(v map[string]string, _ map[string]error) { v["instance-id"] = "<html>" + strings.Repeat("x", 200) },
			wantErr: "is not a i-... id",
		},
		{
			name:    "primary MAC not listed",
			edit:    func(v map[string]string, _ map[string]error) { v["mac"] = "0a:11:22:33:44:99" },
			wantErr: "primary MAC 0a:11:22:33:44:99 is not in network/interfaces/macs/",
		},
		{
			name:    "empty MAC list",
			edit:    func(v map[string]string, _ map[string]error) { v["network/interfaces/macs/"] = "\n" },
			wantErr: "empty answer",
		},
		{
			name: "garbage in MAC list",
			edit: func(v map[string]string, _ map[string]error) {
				v["network/interfaces/macs/"] = "0a:11:22:33:44:01/\nnot-a-mac/"
			},
			wantErr: `"not-a-mac" is not a MAC address`,
		},
		{
			name: "transport error stops at the first call",
			edit: func(_ map[string]string, errs map[string]error) {
				errs["instance-id"] = errors.New("reading instance-id: IMDS unreachable")
			},
			wantErr: "IMDS unreachable",
		},
		{
			name: "transport error mid-interface is reported",
			edit: func(_ map[string]string, errs map[string]error) {
				errs[m1+"ipv6s"] = fmt.Errorf("reading %sipv6s: HTTP 500", m1)
			},
			wantErr: "ipv6s: HTTP 500",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := multiENIValues()
			errs := map[string]error{}
			if tc.edit != nil {
				tc.edit(v, errs)
			}
			got, err := assemble(context.Background(), mapSource{values: v, errs: errs, regionDoc: tc.regDoc})
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("got no error, want one containing %q; result %+v", tc.wantErr, got)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("assemble: %v", err)
			}
			if diff := cmp.Diff(tc.want(), got); diff != "" {
				t.Errorf("metadata mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMACList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "0e:49:61:0f:c3:11/", want: []string{"0e:49:61:0f:c3:11"}},
		{in: "0E:49:61:0F:C3:11/\r\n0a:00:00:00:00:01/\n", want: []string{"0e:49:61:0f:c3:11", "0a:00:00:00:00:01"}},
		{in: "0a:00:00:00:00:01/\n0a:00:00:00:00:01", want: []string{"0a:00:00:00:00:01"}},
		{in: "", wantErr: true},
		{in: "0e-49-61-0f-c3-11/", wantErr: true},
		{in: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01/", wantErr: true},
	}
	for _, tc := range tests {
		got, err := parseMACList(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseMACList(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseMACList(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestParseListBound(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("10.0.0.1\n", maxListItems+1)
	if _, err := parseList(body, parseIPv4); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("want a bound error for %d items, got %v", maxListItems+1, err)
	}
	got, err := parseList(" 10.0.0.1 \n\n10.0.0.2", parseIPv4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"10.0.0.1", "10.0.0.2"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzAssemble feeds arbitrary answers for every path a decoder reads and checks that it
// either errors or returns values that passed validation; it must never panic.
func FuzzAssemble(f *testing.F) {
	v := multiENIValues()
	f.Add(v["network/interfaces/macs/"], v["instance-id"], v["instance-type"], "10.0.0.5\n10.0.0.6", "10.0.2.16/28", "2001:db8::/80", "3")
	f.Add("0a:11:22:33:44:01/\n\n", "i-1", "t3.medium", "", "", "", "0")
	f.Add("<html>", "i-", ".", "300.1.1.1", "10.0.0.0/33", "::ffff:1.2.3.4/120", "-1")
	f.Fuzz(func(t *testing.T, macs, id, typ, ips, prefixes, v6prefix, devnum string) {
		vals := multiENIValues()
		vals["network/interfaces/macs/"] = macs
		vals["instance-id"] = id
		vals["instance-type"] = typ
		const m0 = "network/interfaces/macs/0a:11:22:33:44:01/"
		vals[m0+"local-ipv4s"] = ips
		vals[m0+"ipv4-prefix"] = prefixes
		vals[m0+"ipv6-prefix"] = v6prefix
		vals[m0+"device-number"] = devnum
		md, err := assemble(context.Background(), mapSource{values: vals})
		if err != nil {
			if md != nil {
				t.Fatalf("error %v with non-nil result", err)
			}
			return
		}
		if !strings.HasPrefix(md.InstanceID, "i-") || md.PrimaryMAC == "" || len(md.Interfaces) == 0 {
			t.Fatalf("accepted incomplete metadata: %+v", md)
		}
		for _, ifc := range md.Interfaces {
			if !strings.HasPrefix(ifc.InterfaceID, "eni-") || ifc.DeviceNumber < 0 {
				t.Fatalf("accepted bad interface: %+v", ifc)
			}
			for _, p := range ifc.IPv4Prefixes {
				if _, err := parseIPv4Prefix(p); err != nil {
					t.Fatalf("accepted bad prefix %q", p)
				}
			}
		}
	})
}
