package ipamd

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// hugeENIs is a valid v1.20+ body with n ENIs, each with one /32: 148k of them fill 16 MiB.
func hugeENIs(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"0":{"TotalIPs":0,"AssignedIPs":0,"ENIs":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"eni-%017x":{"ID":"eni-%017x","DeviceNumber":%d,"AvailableIPv4Cidrs":{"10.%d.%d.%d/32":{}}}`,
			i, i, i, (i>>16)&255, (i>>8)&255, i&255)
	}
	b.WriteString(`}}}`)
	return b.Bytes()
}

// allocated returns the bytes f allocates (after a GC, so earlier garbage does not count).
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A valid 16 MiB answer listing 140k ENIs is refused after MaxENIs, having allocated what a
// real node's answer does, not what the body holds (before: 1-4 GB in the agent).
func TestDecodeENIsRefusesMoreENIsThanAnyInstance(t *testing.T) {
	body := hugeENIs(140_000)
	if len(body) < 15<<20 || len(body) > int(DefaultMaxBodyBytes) {
		t.Fatalf("body is %d bytes, want a valid answer just under the 16 MiB body cap", len(body))
	}
	var err error
	n := allocated(func() { _, err = DecodeENIsReader(bytes.NewReader(body), 0) })
	if !errors.Is(err, ErrImplausible) || !strings.Contains(err.Error(), "more than 128 ENIs") {
		t.Fatalf("err = %v, want ErrImplausible naming the ENI bound", err)
	}
	if n > 4<<20 {
		t.Errorf("decoding allocated %d MiB before refusing, want under 4 MiB", n>>20)
	}
	// Exactly MaxENIs is a node's answer.
	st, err := DecodeENIs(hugeENIs(MaxENIs))
	if err != nil || len(st.ENIs) != MaxENIs {
		t.Fatalf("%d ENIs: %v, %v", MaxENIs, len(st.ENIs), err)
	}
}

func TestDecodeENIsBounds(t *testing.T) {
	t.Parallel()
	cidrs := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`"10.0.%d.%d/32":{}`, i>>8, i&255))
		}
		return strings.Join(parts, ",")
	}
	addrs := func(n int) string {
		var parts []string
		for i := range n {
			parts = append(parts, fmt.Sprintf(`"a%d":{}`, i))
		}
		return strings.Join(parts, ",")
	}
	for _, c := range []struct {
		name, in, want string
	}{
		{"slots on one ENI", `{"ENIs":{"eni-1":{"AvailableIPv4Cidrs":{` + cidrs(MaxCIDRsPerENI+1) + `}}}}`, "more than 128 address slots"},
		{"address entries", `{"ENIs":{"eni-1":{"AvailableIPv4Cidrs":{"10.0.0.16/28":{"IsPrefix":true,"IPAddresses":{` + addrs(MaxAddressEntries+1) + `}}}}}}`, "more than 65536 address entries"},
		{"long ENI id", `{"ENIs":{"` + strings.Repeat("e", 65) + `":{}}}`, "ENI id of 65 bytes"},
		{"long subnet id", `{"ENIs":{"eni-1":{"SubnetID":"` + strings.Repeat("s", 100) + `"}}}`, "subnet id of 100 bytes"},
		{"long route table", `{"ENIs":{"eni-1":{"RouteTableID":` + strings.Repeat("9", 100) + `}}}`, "route table of 100 bytes"},
		{"card index", `{"64":{"ENIs":{}}}`, "neither"},
	} {
		_, err := DecodeENIs([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	// At the bounds: accepted.
	st, err := DecodeENIs([]byte(`{"63":{"ENIs":{"eni-1":{"AvailableIPv4Cidrs":{` + cidrs(MaxCIDRsPerENI) + `}}}}}`))
	if err != nil || st.ENIs[0].Slots != MaxCIDRsPerENI || st.ENIs[0].NetworkCard != 63 {
		t.Errorf("at the bounds: %v, %+v", err, st)
	}
}

func TestDecodeSettingsBounds(t *testing.T) {
	t.Parallel()
	var many []string
	for i := range maxEnvEntries + 1 {
		many = append(many, fmt.Sprintf(`"K%d":1`, i))
	}
	for _, in := range []string{
		"{" + strings.Join(many, ",") + "}",
		`{"WARM_IP_TARGET":"` + strings.Repeat("1", maxEnvValueBytes+1) + `"}`,
		`{"X":[` + strings.Repeat(`"10.0.0.0/16",`, 400) + `"x"]}`,
	} {
		if _, err := DecodeEnvSettings([]byte(in)); !errors.Is(err, ErrImplausible) {
			t.Errorf("DecodeEnvSettings(%.60q...) err = %v, want ErrImplausible", in, err)
		}
	}
	if _, err := DecodeENIConfig([]byte(`"` + strings.Repeat("n", 254) + `"`)); !errors.Is(err, ErrImplausible) {
		t.Errorf("a 254-byte ENIConfig name: %v", err)
	}
}

// One 16 MiB string is refused before the decoder buffers it (its buffer doubles to hold a
// token: a 16 MiB string cost the agent 160 MiB of RSS).
func TestDecodeENIsRefusesHugeTokens(t *testing.T) {
	for _, body := range []string{
		`{"0":{"ENIs":{"eni-1":{"ID":"` + strings.Repeat("A", 16<<20) + `"}}}}`,
		`{"0":{"TotalIPs":` + strings.Repeat("9", 16<<20) + `}}`,
		`{"0":` + strings.Repeat(" ", 16<<20) + `{}}`,
	} {
		var err error
		n := allocated(func() { _, err = DecodeENIsReader(strings.NewReader(body), 0) })
		if !errors.Is(err, ErrTokenTooLong) {
			t.Errorf("%.40q...: err = %v, want ErrTokenTooLong", body, err)
		}
		if n > 1<<20 {
			t.Errorf("%.40q...: allocated %d KiB before refusing", body, n>>10)
		}
	}
	// Escaped quotes do not end a string early, and long strings end where they end.
	ok := `{"0":{"ENIs":{"eni-1":{"ID":"eni-1","RouteTableID":"a\"b\\","SubnetID":"` + strings.Repeat("s", 60) + `"}}}}`
	if _, err := DecodeENIs([]byte(ok)); err != nil {
		t.Errorf("%s: %v", ok, err)
	}
}
