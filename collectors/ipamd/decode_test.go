package ipamd

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

var update = flag.Bool("update", false, "rewrite testdata/enis/*.golden from the decoder's output")

// fixtureNow is the clock every fixture's timestamps were written against.
var fixtureNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// eniCounts is the part of nodestate.ENI the hand-computed expectations check.
type eniCounts struct {
	ID                                   string
	Card, Dev                            int
	Slots, Prefixes, Secondary, V6, Addr int
	Assigned, Cooldown, Free             int
	Primary, Trunk, EFA, Excluded        bool
	Subnet, RouteTable                   string
}

func countsOf(st *nodestate.IPAMD) []eniCounts {
	var out []eniCounts
	for _, e := range st.ENIs {
		out = append(out, eniCounts{
			ID: e.ID, Card: e.NetworkCard, Dev: e.DeviceNumber,
			Slots: e.Slots, Prefixes: e.Prefixes, Secondary: e.SecondaryIPs, V6: e.IPv6Prefixes, Addr: e.Addresses,
			Assigned: e.Assigned, Cooldown: e.Cooldown, Free: e.Free,
			Primary: e.IsPrimary, Trunk: e.IsTrunk, EFA: e.IsEFA, Excluded: e.IsExcluded,
			Subnet: e.SubnetID, RouteTable: e.RouteTableID,
		})
	}
	return out
}

// TestDecodeENIsShapes checks every documented shape against counts worked out by hand from
// the fixtures (not from the decoder), then against the golden rendering of the whole state.
func TestDecodeENIsShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file            string
		shape           string
		total, assigned int
		enis            []eniCounts
	}{
		{
			file: "v1.12-single.json", shape: ShapeSingle, total: 18, assigned: 3,
			enis: []eniCounts{
				// .21 assigned, .22 released 15 s ago (cooldown), .23 released 10 min ago (free).
				{ID: "eni-0a1b2c3d4e5f60001", Dev: 0, Primary: true, Slots: 9, Secondary: 9, Addr: 9, Assigned: 1, Cooldown: 1, Free: 7},
				{ID: "eni-0a1b2c3d4e5f60002", Dev: 1, Slots: 9, Secondary: 9, Addr: 9, Assigned: 2, Free: 7},
			},
		},
		{
			file: "v1.20-multicard.json", shape: ShapeMultiCard, total: 5, assigned: 2,
			enis: []eniCounts{
				{ID: "eni-0c000000000000001", Card: 0, Primary: true, Slots: 3, Secondary: 3, Addr: 3, Assigned: 1, Free: 2},
				{ID: "eni-0c000000000000002", Card: 1, EFA: true, Slots: 2, Secondary: 2, Addr: 2, Assigned: 1, Free: 1},
			},
		},
		{
			file: "v1.20.3-routetable.json", shape: ShapeMultiCard, total: 2, assigned: 1,
			enis: []eniCounts{
				{ID: "eni-0d000000000000001", Primary: true, RouteTable: "2", Slots: 2, Secondary: 2, Addr: 2, Assigned: 1, Free: 1},
			},
		},
		{
			file: "v1.22-subnet.json", shape: ShapeMultiCard, total: 3, assigned: 1,
			enis: []eniCounts{
				{ID: "eni-0e000000000000001", Primary: true, Excluded: true, Subnet: "subnet-0aaaaaaaaaaaaaaa1", RouteTable: "254"},
				{ID: "eni-0e000000000000002", Dev: 1, Trunk: true, Subnet: "subnet-0bbbbbbbbbbbbbbb2", RouteTable: "2"},
				{ID: "eni-0e000000000000003", Dev: 2, Subnet: "subnet-0ccccccccccccccc3", RouteTable: "3", Slots: 3, Secondary: 3, Addr: 3, Assigned: 1, Free: 2},
			},
		},
		{
			// containerID blank: assignment comes from networkName; .12 released 29 s ago.
			file: "v1.23-blanked.json", shape: ShapeMultiCard, total: 3, assigned: 2,
			enis: []eniCounts{
				{ID: "eni-0f000000000000001", Primary: true, Subnet: "subnet-0ddddddddddddddd1", RouteTable: "254", Slots: 3, Secondary: 3, Addr: 3, Assigned: 2, Cooldown: 1, Free: 0},
			},
		},
		{
			// One /80: counted as a prefix, never as 2^48 IPv4 addresses.
			file: "ipv6.json", shape: ShapeMultiCard, total: 1 << 48, assigned: 2,
			enis: []eniCounts{
				{ID: "eni-06000000000000001", Primary: true, Subnet: "subnet-06666666666666661", RouteTable: "254", V6: 1, Assigned: 2},
			},
		},
		{
			// /28s hold 16 addresses each whether or not entries exist.
			file: "prefix-delegation.json", shape: ShapeSingle, total: 48, assigned: 4,
			enis: []eniCounts{
				{ID: "eni-0b000000000000001", Primary: true, Slots: 2, Prefixes: 2, Addr: 32, Assigned: 3, Cooldown: 1, Free: 28},
				{ID: "eni-0b000000000000002", Dev: 1, Slots: 1, Prefixes: 1, Addr: 16, Assigned: 1, Free: 15},
			},
		},
		{file: "empty-datastore.json", shape: ShapeMultiCard},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data := readFixture(t, tc.file)
			st, err := DecodeENIsAt(data, fixtureNow, DefaultCooldown)
			if err != nil {
				t.Fatalf("DecodeENIsAt: %v", err)
			}
			if st.Shape != tc.shape || st.TotalIPs != tc.total || st.AssignedIPs != tc.assigned {
				t.Errorf("shape/total/assigned = %s/%d/%d, want %s/%d/%d", st.Shape, st.TotalIPs, st.AssignedIPs, tc.shape, tc.total, tc.assigned)
			}
			if diff := cmp.Diff(tc.enis, countsOf(st)); diff != "" {
				t.Errorf("per-ENI counts (-want +got):\n%s", diff)
			}
			for _, e := range st.ENIs {
				if e.Slots != e.Prefixes+e.SecondaryIPs {
					t.Errorf("%s: Slots %d != Prefixes %d + SecondaryIPs %d", e.ID, e.Slots, e.Prefixes, e.SecondaryIPs)
				}
				if e.Addresses != e.SecondaryIPs+16*e.Prefixes {
					t.Errorf("%s: Addresses %d != SecondaryIPs + 16*Prefixes", e.ID, e.Addresses)
				}
			}
			// The streaming reader must agree with the byte-slice decoder.
			st2, err := DecodeENIsReaderAt(bytes.NewReader(data), 0, fixtureNow, DefaultCooldown)
			if err != nil {
				t.Fatalf("DecodeENIsReaderAt: %v", err)
			}
			if diff := cmp.Diff(st, st2); diff != "" {
				t.Errorf("reader vs bytes (-bytes +reader):\n%s", diff)
			}
			checkGolden(t, tc.file, render(st, nil))
		})
	}
}

func TestDecodeENIsRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		is      error  // sentinel expected, if any
		contain string // substring of the message
	}{
		{"available-commands.json", ErrAvailableCommands, "AvailableCommands"},
		{"pre1.7-eniippools.json", ErrUnsupportedVersion, "unsupported CNI version"},
		{"empty.json", ErrEmpty, "empty"},
		{"malformed-truncated.json", nil, "unexpected EOF"},
		{"malformed-mask.json", nil, "not contiguous"},
		{"not-found.json", nil, "expected a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			st, err := DecodeENIsAt(readFixture(t, tc.file), fixtureNow, DefaultCooldown)
			if err == nil {
				t.Fatalf("got state %+v, want an error", st)
			}
			if st != nil {
				t.Errorf("got a state next to the error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %q", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.contain) {
				t.Errorf("error %q does not mention %q", err, tc.contain)
			}
			checkGolden(t, tc.file, render(nil, err))
		})
	}
}

func TestDecodeENIsEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, st *nodestate.IPAMD)
	}{
		{name: "empty object", in: `{}`, wantErr: "neither"},
		{name: "array", in: `[]`, wantErr: "expected a JSON object"},
		{name: "null", in: `null`, wantErr: "expected a JSON object"},
		{name: "whitespace only", in: " \n\t", wantErr: "empty"},
		{name: "trailing data", in: `{"0":{"TotalIPs":0}} {"0":{}}`, wantErr: "after the JSON object"},
		{name: "mixed shapes", in: `{"TotalIPs":1,"0":{}}`, wantErr: "both"},
		{name: "duplicate card", in: `{"0":{},"0":{}}`, wantErr: "twice"},
		{name: "wrong type", in: `{"TotalIPs":"many"}`, wantErr: "TotalIPs"},
		{name: "bad time", in: `{"ENIs":{"e":{"AvailableIPv4Cidrs":{"10.0.0.1/32":{"IPAddresses":{"10.0.0.1":{"UnassignedTime":"yesterday"}}}}}}}`, wantErr: "ENIs"},
		{name: "bad cidr key without Cidr", in: `{"ENIs":{"e":{"AvailableIPv4Cidrs":{"nonsense":{}}}}}`, wantErr: "nonsense"},
		{name: "v6 mask on v4", in: `{"ENIs":{"e":{"AvailableIPv4Cidrs":{"k":{"Cidr":{"IP":"10.0.0.1","Mask":"/////////////wAAAAAAAA=="}}}}}}`, wantErr: "v4-in-v6"},
		{name: "unknown top-level member skipped", in: `{"Future":{"x":[1,2]},"TotalIPs":2,"AssignedIPs":0,"ENIs":{}}`,
			check: func(t *testing.T, st *nodestate.IPAMD) {
				if st.Shape != ShapeSingle || st.TotalIPs != 2 {
					t.Errorf("got %+v", st)
				}
			}},
		{name: "cidr from key when Cidr absent, v4-in-v6 16-byte mask", in: `{"ENIs":{"eni-1":{"AvailableIPv4Cidrs":{
			"10.0.0.16/28":{"IsPrefix":true},
			"10.0.0.40/32":{"Cidr":{"IP":"10.0.0.40","Mask":"/////////////////////w=="}}}}}}`,
			check: func(t *testing.T, st *nodestate.IPAMD) {
				e := st.ENIs[0]
				if e.ID != "eni-1" || e.Prefixes != 1 || e.SecondaryIPs != 1 || e.Addresses != 17 || e.Free != 17 {
					t.Errorf("got %+v", e)
				}
				if diff := cmp.Diff([]string{"10.0.0.16/28", "10.0.0.40/32"}, e.CIDRs); diff != "" {
					t.Errorf("CIDRs (-want +got):\n%s", diff)
				}
			}},
		{name: "pod name alone marks assignment", in: `{"ENIs":{"e":{"AvailableIPv4Cidrs":{"10.0.0.1/32":{"IPAddresses":{"10.0.0.1":{"IPAMMetadata":{"k8sPodName":"p"}}}}}}}}`,
			check: func(t *testing.T, st *nodestate.IPAMD) {
				if st.ENIs[0].Assigned != 1 || st.ENIs[0].Free != 0 {
					t.Errorf("got %+v", st.ENIs[0])
				}
			}},
		{name: "containerID alone is not assignment", in: `{"ENIs":{"e":{"AvailableIPv4Cidrs":{"10.0.0.1/32":{"IPAddresses":{"10.0.0.1":{"IPAMKey":{"containerID":"abc"}}}}}}}}`,
			check: func(t *testing.T, st *nodestate.IPAMD) {
				if st.ENIs[0].Assigned != 0 || st.ENIs[0].Free != 1 {
					t.Errorf("got %+v", st.ENIs[0])
				}
			}},
		{name: "route table as string", in: `{"ENIs":{"e":{"RouteTableID":"7"}}}`,
			check: func(t *testing.T, st *nodestate.IPAMD) {
				if st.ENIs[0].RouteTableID != "7" {
					t.Errorf("RouteTableID = %q", st.ENIs[0].RouteTableID)
				}
			}},
		{name: "case-insensitive names and duplicate keys as encoding/json v1 accepts them",
			in: `{"enis":{"e":{"availableipv4cidrs":{"10.0.0.1/32":{"ipaddresses":{"10.0.0.1":{"ipamkey":{"NETWORKNAME":"aws-cni"}}}}},"DeviceNumber":1,"DeviceNumber":2}}}`,
			check: func(t *testing.T, st *nodestate.IPAMD) {
				if e := st.ENIs[0]; e.Assigned != 1 || e.DeviceNumber != 2 {
					t.Errorf("got %+v", e)
				}
			}},
		{name: "IPAddresses null", in: `{"ENIs":{"e":{"AvailableIPv4Cidrs":{"10.0.0.1/32":{"IPAddresses":null}}}}}`,
			check: func(t *testing.T, st *nodestate.IPAMD) {
				if e := st.ENIs[0]; e.Free != 1 {
					t.Errorf("got %+v", e)
				}
			}},
		{name: "IPAddresses array", in: `{"ENIs":{"e":{"AvailableIPv4Cidrs":{"10.0.0.1/32":{"IPAddresses":[]}}}}}`, wantErr: "expected an object"},
		{name: "pre-1.9 IPv4Addresses ENI", in: `{"TotalIPs":1,"ENIs":{"eni-1":{"ID":"eni-1","IPv4Addresses":{"10.0.0.1":{"Address":"10.0.0.1"}}}}}`, wantErr: "unsupported CNI version"},
		{name: "hostile totals saturate", in: `{"0":{"TotalIPs":9223372036854775807},"1":{"TotalIPs":9223372036854775807}}`,
			check: func(t *testing.T, st *nodestate.IPAMD) {
				if st.TotalIPs != math.MaxInt {
					t.Errorf("TotalIPs = %d", st.TotalIPs)
				}
			}},
		{name: "route table as object", in: `{"ENIs":{"e":{"RouteTableID":{}}}}`, wantErr: "number or string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := DecodeENIsAt([]byte(tc.in), fixtureNow, DefaultCooldown)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeENIsAt: %v", err)
			}
			tc.check(t, st)
		})
	}
}

// TestCooldownBoundaries pins the cooldown rule: released at most `cooldown` ago.
func TestCooldownBoundaries(t *testing.T) {
	t.Parallel()
	in := []byte(`{"ENIs":{"e":{"AvailableIPv4Cidrs":{"10.0.0.1/32":{"IPAddresses":{"10.0.0.1":{"UnassignedTime":"2026-11-26T11:59:30Z"}}}}}}}`)
	for _, tc := range []struct {
		name     string
		now      time.Time
		cooldown time.Duration
		want     int
	}{
		{"exactly at the period", fixtureNow, 30 * time.Second, 1},
		{"one ns past", fixtureNow.Add(time.Nanosecond), 30 * time.Second, 0},
		{"longer period", fixtureNow.Add(time.Minute), 5 * time.Minute, 1},
		{"cooldown disabled", fixtureNow, 0, 0},
		{"clock behind the release", fixtureNow.Add(-time.Hour), 30 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := DecodeENIsAt(in, tc.now, tc.cooldown)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.ENIs[0].Cooldown; got != tc.want {
				t.Errorf("Cooldown = %d, want %d", got, tc.want)
			}
			if got := st.ENIs[0].Free; got != 1-tc.want {
				t.Errorf("Free = %d, want %d", got, 1-tc.want)
			}
		})
	}
}

func TestDecodeENIsReaderLimit(t *testing.T) {
	t.Parallel()
	data := readFixture(t, "v1.12-single.json")
	if _, err := DecodeENIsReaderAt(bytes.NewReader(data), int64(len(data)), fixtureNow, DefaultCooldown); err != nil {
		t.Fatalf("body of exactly the limit: %v", err)
	}
	_, err := DecodeENIsReaderAt(bytes.NewReader(data), int64(len(data))-1, fixtureNow, DefaultCooldown)
	if !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
}

func TestDecodeENIConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, wantErr string
		is                error
	}{
		{in: `"default"`, want: "default"},
		{in: "\"us-west-2a\"\n", want: "us-west-2a"},
		{in: ``, wantErr: "empty", is: ErrEmpty},
		{in: "404 page not found\n", wantErr: "expected a JSON string"},
		{in: `{"AvailableCommands":["/v1/enis"]}`, wantErr: "AvailableCommands", is: ErrAvailableCommands},
		{in: `{"name":"x"}`, wantErr: "expected a JSON string"},
		{in: `42`, wantErr: "expected a JSON string"},
	}
	for _, tc := range tests {
		got, err := DecodeENIConfig([]byte(tc.in))
		if tc.wantErr == "" {
			if err != nil || got != tc.want {
				t.Errorf("DecodeENIConfig(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("DecodeENIConfig(%q) err = %v, want %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestDecodeEnvSettings(t *testing.T) {
	t.Parallel()
	got, err := DecodeEnvSettings(readFixture(t, "ipamd-env-settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"AWS_MANAGE_ENIS_NON_SCHEDULABLE":    "false",
		"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
		"ENABLE_SUBNET_DISCOVERY":            "true",
		"WARM_ENI_TARGET":                    "1",
		"WARM_IP_TARGET":                     "0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ipamd env (-want +got):\n%s", diff)
	}

	got, err = DecodeEnvSettings(readFixture(t, "networkutils-env-settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{
		"AWS_VPC_ENI_MTU":                    "9001",
		"AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER": "false",
		"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": `["10.10.0.0/16","10.11.0.0/16"]`,
		"AWS_VPC_K8S_CNI_EXTERNALSNAT":       "false",
		"AWS_VPC_K8S_CNI_RANDOMIZESNAT":      "1",
		"AWS_VPC_K8S_CNI_VETHPREFIX":         "eni",
		"POD_MTU":                            "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("networkutils env (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		in, wantErr string
		is          error
	}{
		{"", "empty", ErrEmpty},
		{"null", "null", nil},
		{`["a"]`, "expected a JSON object", nil},
		{"404 page not found", "expected a JSON object", nil},
		{`{"AvailableCommands":[]}`, "AvailableCommands", ErrAvailableCommands},
		{`{"A":1`, "expected a JSON object", nil},
	} {
		_, err := DecodeEnvSettings([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("DecodeEnvSettings(%q) err = %v, want %q", tc.in, err, tc.wantErr)
		}
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "enis", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// render is the golden form: the decoded state as indented JSON, or the error text.
func render(st *nodestate.IPAMD, err error) []byte {
	if err != nil {
		return []byte("error: " + err.Error() + "\n")
	}
	b, mErr := json.MarshalIndent(st, "", "  ")
	if mErr != nil {
		return []byte("marshal error: " + mErr.Error() + "\n")
	}
	return append(b, '\n')
}

func checkGolden(t *testing.T, fixture string, got []byte) {
	t.Helper()
	testtools.Golden(t, filepath.Join("testdata", "enis", strings.TrimSuffix(fixture, ".json")+".golden"), got, *update)
}
