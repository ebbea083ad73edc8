package ipamd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// pdNode builds a v1.23-shaped /v1/enis body for a node with prefix delegation: enis ENIs,
// prefixes /28s on each, and one address entry for every address of every prefix (the worst
// case: all 16 addresses used at least once). 15 x 49 x 16 = 11,760 entries is a fully
// grown large Nitro instance.
func pdNode(tb testing.TB, enis, prefixes int) []byte {
	tb.Helper()
	mask28 := base64.StdEncoding.EncodeToString([]byte{255, 255, 255, 240})
	zero := time.Time{}
	assignedAt := fixtureNow.Add(-time.Hour)
	type key struct {
		NetworkName string `json:"networkName"`
		ContainerID string `json:"containerID"`
		IfName      string `json:"ifName"`
	}
	type meta struct {
		Namespace string `json:"k8sPodNamespace,omitempty"`
		Name      string `json:"k8sPodName,omitempty"`
		Count     int    `json:"interfacesCount,omitempty"`
	}
	type addr struct {
		Address        string
		IPAMKey        key
		IPAMMetadata   meta
		AssignedTime   time.Time
		UnassignedTime time.Time
	}
	type cidr struct {
		Cidr          map[string]string
		IPAddresses   map[string]addr
		IsPrefix      bool
		AddressFamily string
	}
	type eni struct {
		ID                  string
		IsPrimary           bool
		IsTrunk             bool
		IsEFA               bool
		DeviceNumber        int
		AvailableIPv4Cidrs  map[string]cidr
		IPv6Cidrs           map[string]cidr
		IsExcludedForPodIPs bool
		RouteTableID        int
		SubnetID            string
	}
	type infos struct {
		TotalIPs    int
		AssignedIPs int
		ENIs        map[string]eni
	}
	card := infos{ENIs: map[string]eni{}}
	for d := 0; d < enis; d++ {
		e := eni{
			ID: fmt.Sprintf("eni-%017x", d+1), IsPrimary: d == 0, DeviceNumber: d,
			AvailableIPv4Cidrs: map[string]cidr{}, IPv6Cidrs: map[string]cidr{},
			RouteTableID: 254 - d, SubnetID: "subnet-0123456789abcdef0",
		}
		for p := 0; p < prefixes; p++ {
			base := fmt.Sprintf("10.%d.%d", 64+d, p)
			c := cidr{Cidr: map[string]string{"IP": base + ".16", "Mask": mask28}, IPAddresses: map[string]addr{}, IsPrefix: true}
			for i := 0; i < 16; i++ {
				ip := fmt.Sprintf("%s.%d", base, 16+i)
				a := addr{Address: ip, AssignedTime: assignedAt, UnassignedTime: zero}
				switch i % 4 {
				case 0, 1, 2:
					a.IPAMKey = key{NetworkName: "aws-cni"}
					a.IPAMMetadata = meta{Namespace: "default", Name: fmt.Sprintf("pod-%d-%d-%d", d, p, i), Count: 1}
					card.AssignedIPs++
				default:
					a.UnassignedTime = fixtureNow.Add(-10 * time.Second)
				}
				c.IPAddresses[ip] = a
			}
			card.TotalIPs += 16
			e.AvailableIPv4Cidrs[base+".16/28"] = c
		}
		card.ENIs[e.ID] = e
	}
	data, err := json.Marshal(map[string]infos{"0": card})
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestPDNodeFixture(t *testing.T) {
	t.Parallel()
	st, err := DecodeENIsAt(pdNode(t, 15, 49), fixtureNow, DefaultCooldown)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.ENIs) != 15 || st.TotalIPs != 15*49*16 {
		t.Fatalf("got %d ENIs, %d IPs", len(st.ENIs), st.TotalIPs)
	}
	for _, e := range st.ENIs {
		// Per prefix: 12 assigned, 4 released 10 s ago (cooldown), 0 free.
		if e.Prefixes != 49 || e.Addresses != 784 || e.Assigned != 588 || e.Cooldown != 196 || e.Free != 0 {
			t.Fatalf("ENI %s: %+v", e.ID, e)
		}
	}
}

func BenchmarkDecodeENIs(b *testing.B) {
	for _, size := range []struct {
		name           string
		enis, prefixes int
	}{
		{"15eni_49pfx_11760addr", 15, 49},
		{"3eni_9pfx_432addr", 3, 9},
	} {
		data := pdNode(b, size.enis, size.prefixes)
		b.Run(size.name+"/bytes", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := DecodeENIsAt(data, fixtureNow, DefaultCooldown); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(size.name+"/reader", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := DecodeENIsReaderAt(bytes.NewReader(data), 0, fixtureNow, DefaultCooldown); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU adds a cpu-ns/op metric (process user+system time, GC included) to a benchmark.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
