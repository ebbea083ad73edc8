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

// The EKS recommendation caps max-pods under prefix delegation: 110 up to 30 vCPUs, else 250.
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
	// Mode is "secondary_ip" or "prefix" (the mode ipamd will really run in).
	Mode string `json:"mode"`
	// ENIs usable for pod addresses after MAX_ENI, custom networking and the trunk ENI.
	PodENIs          int `json:"pod_enis"`
	SlotsPerENI      int `json:"slots_per_eni"`
	AddressesPerSlot int `json:"addresses_per_slot"`
	PodIPs           int `json:"pod_ips"`
	// Uncapped is pod IPs + 2 host-network pods.
	Uncapped int `json:"uncapped"`
	// Recommended is the EKS cap that applies (prefix mode), 0 when none applies.
	Recommended int `json:"recommended_cap,omitempty"`
	MaxPods     int `json:"max_pods"`
	// BranchENIs is the budget of pods with their own security groups (0 = not applicable or unknown).
	BranchENIs int `json:"branch_enis,omitempty"`
	// Steps is the arithmetic, one line each, for a person to check.
	Steps []string `json:"steps"`
	// Notes are caveats (Xen fallback, assumed vCPUs, ...).
	Notes []string `json:"notes,omitempty"`
}

// MaxPods computes kubelet max-pods the way EKS does, with every step spelled out.
func MaxPods(in MaxPodsInput) (MaxPodsResult, error) {
	r := MaxPodsResult{Input: in, Mode: modeSecondary, AddressesPerSlot: 1}
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
		podENIs--
		r.Steps = append(r.Steps, fmt.Sprintf("security groups for pods: the trunk ENI takes an ENI slot: %d - 1 = %d ENIs", podENIs+1, podENIs))
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
			r.Mode = modePrefix
			r.AddressesPerSlot = addressesPerPrefix
		}
	}
	r.PodIPs = r.PodENIs * r.SlotsPerENI * r.AddressesPerSlot
	if r.Mode == modePrefix {
		r.Steps = append(r.Steps, fmt.Sprintf("pod IPs = %d ENIs x (%d - 1) slots x 16 addresses per /28 = %d", r.PodENIs, in.IPsPerENI, r.PodIPs))
	} else {
		r.Steps = append(r.Steps, fmt.Sprintf("pod IPs = %d ENIs x (%d - 1) secondary IPs = %d", r.PodENIs, in.IPsPerENI, r.PodIPs))
	}
	r.Uncapped = r.PodIPs + hostNetworkAllowance
	r.Steps = append(r.Steps, fmt.Sprintf("max-pods = %d + 2 host-network pods = %d", r.PodIPs, r.Uncapped))
	r.MaxPods = r.Uncapped

	if r.Mode == modePrefix {
		r.Recommended = RecommendedMaxPodsSmall
		switch {
		case in.VCPUs == 0:
			r.Notes = append(r.Notes, fmt.Sprintf("vCPUs unknown: assuming at most %d vCPUs (cap %d); pass --vcpus for the exact cap", recommendedVCPUBoundary, RecommendedMaxPodsSmall))
		case in.VCPUs > recommendedVCPUBoundary:
			r.Recommended = RecommendedMaxPodsLarge
		}
		if r.MaxPods > r.Recommended {
			r.Steps = append(r.Steps, fmt.Sprintf("max-pods = min(%d, %d) = %d: the EKS recommendation for %s", r.Uncapped, r.Recommended, r.Recommended, vcpuPhrase(in.VCPUs)))
			r.MaxPods = r.Recommended
		} else {
			r.Steps = append(r.Steps, fmt.Sprintf("below the EKS recommendation cap %d (%s): no cap", r.Recommended, vcpuPhrase(in.VCPUs)))
		}
	}
	if in.SecurityGroupsForPods {
		r.BranchENIs = in.BranchENIs
		if in.BranchENIs > 0 {
			r.Steps = append(r.Steps, fmt.Sprintf("pods with their own security groups: at most %d (branch ENIs, vpc.amazonaws.com/pod-eni); they count toward max-pods", in.BranchENIs))
		} else {
			r.Notes = append(r.Notes, "branch ENI budget unknown: see the node's vpc.amazonaws.com/pod-eni capacity")
		}
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
