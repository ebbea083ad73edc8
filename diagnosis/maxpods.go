package diagnosis

import (
	"errors"
	"fmt"
)

// Hypervisor values for MaxPodsInput.
const (
	HypervisorNitro = "nitro"
	HypervisorXen   = "xen"
)

// The EKS max-pods calculator caps max-pods in both modes: 110 up to 30 vCPUs, else 250
// (amazon-eks-ami templates/al2/runtime/max-pods-calculator.sh, v20260304; managed node
// groups without a custom AMI apply it). nodeadm and bootstrap.sh without the calculator use
// the uncapped formula (eni-max-pods.txt; nodeadm internal/kubelet/eni_max_pods.go).
const (
	RecommendedMaxPodsSmall = 110
	RecommendedMaxPodsLarge = 250
	recommendedVCPUBoundary = 30
	// hostNetworkAllowance is the "+2" of the EKS formula: aws-node and kube-proxy use the host network.
	hostNetworkAllowance = 2
	// addressesPerPrefix is the size of a /28 prefix.
	addressesPerPrefix = 16
)

// ErrInvalidMaxPodsInput is wrapped by every input error of MaxPods.
var ErrInvalidMaxPodsInput = errors.New("invalid max-pods input")

// MaxPodsInput describes an instance type and the CNI features that change its pod density.
type MaxPodsInput struct {
	InstanceType string `json:"instance_type,omitempty"` // for display only
	ENIs         int    `json:"enis"`                    // ENIs on the default network card
	IPsPerENI    int    `json:"ips_per_eni"`             // IPv4 addresses per ENI, primary included
	VCPUs        int    `json:"vcpus"`                   // 0 = unknown
	// Hypervisor is "nitro", "xen" or "" (unknown; bare metal counts as nitro).
	Hypervisor            string `json:"hypervisor"`
	PrefixDelegation      bool   `json:"prefix_delegation"`
	CustomNetworking      bool   `json:"custom_networking"`
	SecurityGroupsForPods bool   `json:"security_groups_for_pods"`
	MaxENIs               int    `json:"max_enis,omitempty"`    // MAX_ENI; 0 = not set
	BranchENIs            int    `json:"branch_enis,omitempty"` // branch ENIs of the type; 0 = unknown
}

// MaxPodsResult is the max-pods value and the arithmetic that produced it.
type MaxPodsResult struct {
	Input MaxPodsInput `json:"input"`
	// Mode is the mode ipamd will really run in (secondary_ip or prefix).
	Mode IPMode `json:"mode"`
	// ENIs usable for pod addresses after MAX_ENI, custom networking and the trunk ENI.
	PodENIs          int `json:"pod_enis"`
	SlotsPerENI      int `json:"slots_per_eni"`
	AddressesPerSlot int `json:"addresses_per_slot"`
	// PodIPs is the addresses of ipamd's pool: pods without their own security groups.
	PodIPs int `json:"pod_ips"`
	// BranchENIs is the budget of pods with their own security groups, which take their
	// address from a branch ENI instead of the pool (0 = not applicable or unknown).
	BranchENIs int `json:"branch_enis,omitempty"`
	// Uncapped is the formula's value: pod IPs + branch ENIs + 2 host-network pods. nodeadm
	// and bootstrap.sh use it when no calculator is involved (eni-max-pods.txt).
	Uncapped int `json:"uncapped"`
	// Recommended is the EKS calculator's cap for the vCPUs: 110 or 250.
	Recommended int `json:"recommended_cap"`
	// MaxPods is min(Uncapped, Recommended): what the EKS max-pods calculator prints and what
	// managed node groups without a custom AMI set.
	MaxPods int `json:"max_pods"`
	// Steps is the arithmetic, one line each, for a person to check.
	Steps []string `json:"steps"`
	// Notes are caveats (Xen fallback, assumed vCPUs, ...).
	Notes []string `json:"notes,omitempty"`
}

// MaxPods computes kubelet max-pods the way EKS does, with every step spelled out.
func MaxPods(in MaxPodsInput) (MaxPodsResult, error) {
	r := MaxPodsResult{Input: in, Mode: ModeSecondary, AddressesPerSlot: 1}
	switch {
	case in.ENIs < 1:
		return r, fmt.Errorf("%w: ENIs must be at least 1, got %d", ErrInvalidMaxPodsInput, in.ENIs)
	case in.IPsPerENI < 2:
		return r, fmt.Errorf("%w: IPv4 addresses per ENI must be at least 2 (the primary address plus one), got %d", ErrInvalidMaxPodsInput, in.IPsPerENI)
	case in.VCPUs < 0:
		return r, fmt.Errorf("%w: vCPUs must not be negative, got %d", ErrInvalidMaxPodsInput, in.VCPUs)
	case in.MaxENIs < 0:
		return r, fmt.Errorf("%w: max ENIs must not be negative, got %d", ErrInvalidMaxPodsInput, in.MaxENIs)
	case in.BranchENIs < 0:
		return r, fmt.Errorf("%w: branch ENIs must not be negative, got %d", ErrInvalidMaxPodsInput, in.BranchENIs)
	case in.Hypervisor != "" && in.Hypervisor != HypervisorNitro && in.Hypervisor != HypervisorXen:
		return r, fmt.Errorf("%w: hypervisor must be %q or %q, got %q", ErrInvalidMaxPodsInput, HypervisorNitro, HypervisorXen, in.Hypervisor)
	}

	enis := in.ENIs
	if in.MaxENIs > 0 && in.MaxENIs < enis {
		r.Steps = append(r.Steps, fmt.Sprintf("MAX_ENI=%d lowers the ENIs from %d to %d", in.MaxENIs, enis, in.MaxENIs))
		enis = in.MaxENIs
	}
	podENIs := enis
	if in.CustomNetworking {
		podENIs--
		r.Steps = append(r.Steps, fmt.Sprintf("custom networking: the primary ENI carries no pods: %d - 1 = %d ENIs", podENIs+1, podENIs))
	}
	if in.SecurityGroupsForPods {
		if n, known := BranchENIs(in.InstanceType); known && n == 0 {
			// ipamd reserves no slot on such a type (IsTrunkingCompatible), and no pod gets a branch ENI.
			r.Notes = append(r.Notes, fmt.Sprintf("%s is not trunking-compatible (VPC resource controller limits): no trunk ENI, no branch ENIs; security groups for pods do not apply to it", in.InstanceType))
			in.SecurityGroupsForPods = false
		} else {
			if known && in.BranchENIs == 0 {
				in.BranchENIs = n
			}
			podENIs--
			r.Steps = append(r.Steps, fmt.Sprintf("security groups for pods: the trunk ENI takes an ENI slot: %d - 1 = %d ENIs", podENIs+1, podENIs))
		}
	}
	if podENIs < 1 {
		return r, fmt.Errorf("%w: no ENI is left for pod addresses (%d ENIs, custom networking %t, security groups for pods %t)",
			ErrInvalidMaxPodsInput, enis, in.CustomNetworking, in.SecurityGroupsForPods)
	}
	r.PodENIs = podENIs
	r.SlotsPerENI = in.IPsPerENI - 1

	if in.PrefixDelegation {
		if in.Hypervisor == HypervisorXen {
			r.Notes = append(r.Notes, "prefix delegation needs a Nitro instance: on Xen ipamd logs a warning and keeps using secondary IPs, so the secondary-IP value applies")
		} else {
			r.Mode = ModePrefix
			r.AddressesPerSlot = addressesPerPrefix
		}
	}
	r.PodIPs = r.PodENIs * r.SlotsPerENI * r.AddressesPerSlot
	if r.Mode == ModePrefix {
		r.Steps = append(r.Steps, fmt.Sprintf("pod IPs = %d ENIs x (%d - 1) slots x 16 addresses per /28 = %d", r.PodENIs, in.IPsPerENI, r.PodIPs))
	} else {
		r.Steps = append(r.Steps, fmt.Sprintf("pod IPs = %d ENIs x (%d - 1) secondary IPs = %d", r.PodENIs, in.IPsPerENI, r.PodIPs))
	}
	if in.SecurityGroupsForPods {
		// Pods selected by a SecurityGroupPolicy take a branch ENI, not a pool address; the
		// others take pool addresses. m5.large: 18 pool IPs + 9 branch ENIs + 2 = 29.
		r.BranchENIs = in.BranchENIs
		if in.BranchENIs > 0 {
			r.Steps = append(r.Steps, fmt.Sprintf("pods with their own security groups get a branch ENI instead: + %d (vpc.amazonaws.com/pod-eni); the other pods share the %d pool IPs", in.BranchENIs, r.PodIPs))
		} else {
			r.Notes = append(r.Notes, "branch ENI budget unknown (--branch-enis, or the node's vpc.amazonaws.com/pod-eni): pods with their own security groups are not counted")
		}
	}
	r.Uncapped = r.PodIPs + r.BranchENIs + hostNetworkAllowance
	if r.BranchENIs > 0 {
		r.Steps = append(r.Steps, fmt.Sprintf("max-pods = %d + %d + 2 host-network pods = %d", r.PodIPs, r.BranchENIs, r.Uncapped))
	} else {
		r.Steps = append(r.Steps, fmt.Sprintf("max-pods = %d + 2 host-network pods = %d", r.PodIPs, r.Uncapped))
	}
	r.MaxPods = r.Uncapped

	r.Recommended = RecommendedMaxPodsSmall
	switch {
	case in.VCPUs == 0:
		r.Notes = append(r.Notes, fmt.Sprintf("vCPUs unknown: assuming at most %d vCPUs (cap %d); pass --vcpus for the exact cap", recommendedVCPUBoundary, RecommendedMaxPodsSmall))
	case in.VCPUs > recommendedVCPUBoundary:
		r.Recommended = RecommendedMaxPodsLarge
	}
	if r.Uncapped > r.Recommended {
		r.MaxPods = r.Recommended
		r.Steps = append(r.Steps, fmt.Sprintf("max-pods = min(%d, %d) = %d: the EKS max-pods calculator's cap for %s", r.Uncapped, r.Recommended, r.Recommended, vcpuPhrase(in.VCPUs)))
		r.Notes = append(r.Notes, fmt.Sprintf("%d is what the EKS max-pods calculator recommends and managed node groups without a custom AMI set; nodeadm and bootstrap.sh without the calculator use the formula's %d (eni-max-pods.txt), which kubelet and the VPC CNI handle but EKS does not recommend", r.MaxPods, r.Uncapped))
	} else {
		r.Steps = append(r.Steps, fmt.Sprintf("below the EKS max-pods calculator's cap %d (%s): no cap", r.Recommended, vcpuPhrase(in.VCPUs)))
	}
	return r, nil
}

func vcpuPhrase(v int) string {
	switch {
	case v == 0:
		return "vCPUs unknown"
	case v > recommendedVCPUBoundary:
		return fmt.Sprintf("%d vCPUs > %d", v, recommendedVCPUBoundary)
	default:
		return fmt.Sprintf("%d vCPUs <= %d", v, recommendedVCPUBoundary)
	}
}
