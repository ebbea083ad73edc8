package ipamd

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBySubnet(t *testing.T) {
	t.Parallel()
	st, err := DecodeENIsAt(readFixture(t, "v1.22-subnet.json"), fixtureNow, DefaultCooldown)
	if err != nil {
		t.Fatal(err)
	}
	// Move the trunk ENI into the third ENI's subnet to check that ENIs add up.
	st.ENIs[1].SubnetID = "subnet-0ccccccccccccccc3"
	st.ENIs = append(st.ENIs, st.ENIs[2])
	st.ENIs[3].SubnetID = ""
	want := []SubnetUsage{
		{SubnetID: "", ENIs: 1, Slots: 3, SecondaryIPs: 3, Addresses: 3, Assigned: 1, Free: 2},
		{SubnetID: "subnet-0aaaaaaaaaaaaaaa1", ENIs: 1},
		{SubnetID: "subnet-0ccccccccccccccc3", ENIs: 2, Slots: 3, SecondaryIPs: 3, Addresses: 3, Assigned: 1, Free: 2},
	}
	if diff := cmp.Diff(want, BySubnet(st)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if BySubnet(nil) != nil {
		t.Error("BySubnet(nil) != nil")
	}
}

func TestPrefixDelegation(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]bool{
		"prefix-delegation.json": true,
		"v1.12-single.json":      false,
		"ipv6.json":              false,
	} {
		st, err := DecodeENIsAt(readFixture(t, file), fixtureNow, DefaultCooldown)
		if err != nil {
			t.Fatal(err)
		}
		if got := PrefixDelegation(st); got != want {
			t.Errorf("%s: PrefixDelegation = %v, want %v", file, got, want)
		}
	}
	if PrefixDelegation(nil) {
		t.Error("PrefixDelegation(nil)")
	}
}
