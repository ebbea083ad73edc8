package subnets

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkAnalyzeSlash16 measures the arithmetic of a busy /16: 2,000 ENIs with 10 single
// IPs and 2 prefixes each (52,000 addresses held), plus reservations.
func BenchmarkAnalyzeSlash16(b *testing.B) {
	in := Input{Subnet: Subnet{ID: "subnet-big", CIDR: "10.4.0.0/16"}, Cluster: Cluster{Name: "c"}}
	at := func(i int) string { return netip.AddrFrom4([4]byte{10, 4, byte(i >> 8), byte(i)}).String() }
	for e := range 2000 {
		eni := NetworkInterface{ID: fmt.Sprintf("eni-%d", e), InterfaceType: "interface", InstanceID: fmt.Sprintf("i-%d", e/3)}
		for k := range 10 {
			eni.PrivateIPs = append(eni.PrivateIPs, at(4+(e*10+k)*3%60000))
		}
		for k := range 2 {
			eni.Prefixes = append(eni.Prefixes, at(16*(1+(e*2+k)%4000))+"/28")
		}
		in.ENIs = append(in.ENIs, eni)
	}
	in.Reservations = []Reservation{{ID: "r1", CIDR: "10.4.250.0/24", Type: ReservationPrefix}, {ID: "r2", CIDR: "10.4.251.0/28", Type: ReservationExplicit}}
	b.ReportAllocs()
	for b.Loop() {
		a, err := Analyze(in)
		if err != nil {
			b.Fatal(err)
		}
		_ = Recommend(a, 5)
	}
}
