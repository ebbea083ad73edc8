package diagnosis

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMaxPodsKnownValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          MaxPodsInput
		wantMaxPods int
		wantPodIPs  int
		wantMode    IPMode
		wantNote    string // substring of a note, if any
	}{
		// Values from the EKS max-pods table (reference section 6).
		{"m5.large", MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: 2, Hypervisor: HypervisorNitro}, 29, 27, ModeSecondary, ""},
		{"t3.medium", MaxPodsInput{ENIs: 3, IPsPerENI: 6, VCPUs: 2, Hypervisor: HypervisorNitro}, 17, 15, ModeSecondary, ""},
		{"m5.xlarge", MaxPodsInput{ENIs: 4, IPsPerENI: 15, VCPUs: 4, Hypervisor: HypervisorNitro}, 58, 56, ModeSecondary, ""},
		// The EKS calculator caps both modes (max-pods-calculator.sh, amazon-eks-ami v20260304); the
		// formula's 737 is what nodeadm uses without it, and the note says so.
		{"m5.24xlarge secondary capped at 250 by the calculator", MaxPodsInput{ENIs: 15, IPsPerENI: 50, VCPUs: 96, Hypervisor: HypervisorNitro}, 250, 735, ModeSecondary, "formula's 737"},
		{"m5.large prefix capped at 110", MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: 2, Hypervisor: HypervisorNitro, PrefixDelegation: true}, 110, 432, ModePrefix, "formula's 434"},
		{"m5.24xlarge prefix capped at 250", MaxPodsInput{ENIs: 15, IPsPerENI: 50, VCPUs: 96, Hypervisor: HypervisorNitro, PrefixDelegation: true}, 250, 11760, ModePrefix, "formula's 11762"},
		{"30 vCPUs still 110", MaxPodsInput{ENIs: 8, IPsPerENI: 30, VCPUs: 30, PrefixDelegation: true}, 110, 3712, ModePrefix, "formula's 3714"},
		{"prefix below the cap", MaxPodsInput{ENIs: 2, IPsPerENI: 2, VCPUs: 2, Hypervisor: HypervisorNitro, PrefixDelegation: true}, 34, 32, ModePrefix, ""},
		{"prefix with unknown vCPUs assumes 110", MaxPodsInput{ENIs: 3, IPsPerENI: 10, PrefixDelegation: true}, 110, 432, ModePrefix, "vCPUs unknown"},
		{"secondary with unknown vCPUs below the cap", MaxPodsInput{ENIs: 3, IPsPerENI: 10}, 29, 27, ModeSecondary, "vCPUs unknown"},
		{"custom networking drops the primary ENI", MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: 2, CustomNetworking: true}, 20, 18, ModeSecondary, ""},
		// Branch-ENI pods take branch ENIs, the others the pool: m5.large 18 pool IPs + 9 branch
		// ENIs + 2 = 29 (issue: the trunk's slot was subtracted and the branch budget ignored).
		{"security groups for pods: trunk ENI, branch budget given", MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: 2, SecurityGroupsForPods: true, BranchENIs: 9}, 29, 18, ModeSecondary, ""},
		{"security groups for pods: branch budget from the table", MaxPodsInput{InstanceType: "m5.large", ENIs: 3, IPsPerENI: 10, VCPUs: 2, SecurityGroupsForPods: true}, 29, 18, ModeSecondary, ""},
		{"security groups for pods: c5.xlarge 42 + 18 + 2", MaxPodsInput{InstanceType: "c5.xlarge", ENIs: 4, IPsPerENI: 15, VCPUs: 4, SecurityGroupsForPods: true}, 62, 42, ModeSecondary, ""},
		{"security groups for pods on a type without trunking", MaxPodsInput{InstanceType: "t3.medium", ENIs: 3, IPsPerENI: 6, VCPUs: 2, SecurityGroupsForPods: true}, 17, 15, ModeSecondary, "not trunking-compatible"},
		{"custom networking and trunk", MaxPodsInput{ENIs: 4, IPsPerENI: 15, VCPUs: 4, CustomNetworking: true, SecurityGroupsForPods: true}, 30, 28, ModeSecondary, "branch ENI budget unknown"},
		{"MAX_ENI lowers the ENIs", MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: 2, MaxENIs: 2}, 20, 18, ModeSecondary, ""},
		{"MAX_ENI above the limit changes nothing", MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: 2, MaxENIs: 8}, 29, 27, ModeSecondary, ""},
		{"Xen refuses prefix delegation", MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: 2, Hypervisor: HypervisorXen, PrefixDelegation: true}, 29, 27, ModeSecondary, "Nitro"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := MaxPods(tc.in)
			if err != nil {
				t.Fatalf("MaxPods: %v", err)
			}
			got := []any{r.MaxPods, r.PodIPs, r.Mode}
			want := []any{tc.wantMaxPods, tc.wantPodIPs, tc.wantMode}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("max-pods, pod IPs, mode (-want +got):\n%s\nsteps: %q", diff, r.Steps)
			}
			if len(r.Steps) < 2 {
				t.Errorf("want the arithmetic spelled out, got %q", r.Steps)
			}
			notes := strings.Join(r.Notes, "\n")
			if tc.wantNote != "" && !strings.Contains(notes, tc.wantNote) {
				t.Errorf("notes %q lack %q", notes, tc.wantNote)
			}
			if tc.wantNote == "" && notes != "" {
				t.Errorf("unexpected notes %q", notes)
			}
		})
	}
}

func TestMaxPodsSteps(t *testing.T) {
	t.Parallel()
	r, err := MaxPods(MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: 2, PrefixDelegation: true, Hypervisor: HypervisorNitro})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pod IPs = 3 ENIs x (10 - 1) slots x 16 addresses per /28 = 432",
		"max-pods = 432 + 2 host-network pods = 434",
		"max-pods = min(434, 110) = 110: the EKS max-pods calculator's cap for 2 vCPUs <= 30",
	}
	if diff := cmp.Diff(want, r.Steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestMaxPodsRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   MaxPodsInput
		want string
	}{
		{"no ENIs", MaxPodsInput{ENIs: 0, IPsPerENI: 10}, "ENIs must be at least 1"},
		{"one IP per ENI", MaxPodsInput{ENIs: 3, IPsPerENI: 1}, "at least 2"},
		{"negative vCPUs", MaxPodsInput{ENIs: 3, IPsPerENI: 10, VCPUs: -1}, "vCPUs"},
		{"negative max ENIs", MaxPodsInput{ENIs: 3, IPsPerENI: 10, MaxENIs: -2}, "max ENIs"},
		{"negative branch ENIs", MaxPodsInput{ENIs: 3, IPsPerENI: 10, BranchENIs: -2}, "branch ENIs"},
		{"unknown hypervisor", MaxPodsInput{ENIs: 3, IPsPerENI: 10, Hypervisor: "kvm"}, "hypervisor"},
		{"no ENI left", MaxPodsInput{ENIs: 2, IPsPerENI: 4, CustomNetworking: true, SecurityGroupsForPods: true}, "no ENI is left"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := MaxPods(tc.in)
			if err == nil || !errors.Is(err, ErrInvalidMaxPodsInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidMaxPodsInput mentioning %q", err, tc.want)
			}
		})
	}
}

func FuzzMaxPods(f *testing.F) {
	f.Add(3, 10, 2, 0, 0, true, false, false, "nitro")
	f.Add(15, 50, 96, 4, 54, true, true, true, "")
	f.Add(0, -1, -5, -1, -1, false, true, true, "xen")
	f.Fuzz(func(t *testing.T, enis, ips, vcpus, maxENIs, branch int, pd, cn, sgp bool, hv string) {
		in := MaxPodsInput{ENIs: enis % 100, IPsPerENI: ips % 100, VCPUs: vcpus % 1000, MaxENIs: maxENIs % 100, BranchENIs: branch % 200,
			PrefixDelegation: pd, CustomNetworking: cn, SecurityGroupsForPods: sgp, Hypervisor: hv}
		r, err := MaxPods(in)
		if err != nil {
			return
		}
		if r.MaxPods < 3 || r.MaxPods > r.Uncapped || (r.Mode == ModePrefix && r.MaxPods > RecommendedMaxPodsLarge) {
			t.Fatalf("implausible result %+v for %+v", r, in)
		}
	})
}
