package diagnosis

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

func ip(n int) *int { return &n }

func TestEffectiveConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		st   *nodestate.State
		want Config
	}{
		{"nothing known", &nodestate.State{}, Config{
			PrefixDelegation: Unknown, CustomNetworking: Unknown, PodENI: Unknown, IPv6: Unknown, SubnetDiscovery: Unknown, EnvSource: "none",
		}},
		{"aws-node env is the truth, absent keys take defaults", &nodestate.State{
			Kube: &nodestate.Kube{AWSNodeEnv: map[string]string{"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1", "WARM_IP_TARGET": "0", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false"}},
			// ipamd disagrees on custom networking: the container env wins. WARM_ENI_TARGET is
			// missing from the literal env (valueFrom), so ipamd's value fills it.
			IPAMD: &nodestate.IPAMD{Env: map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true", "WARM_ENI_TARGET": "2"}, ENIConfig: "az1"},
		}, Config{
			PrefixDelegation: True, CustomNetworking: False, PodENI: False, IPv6: False, SubnetDiscovery: True,
			ENIConfig: "az1", WarmIPTarget: ip(0), WarmENITarget: ip(2), WarmPrefixTarget: ip(1), EnvSource: "aws-node+ipamd",
		}},
		{"key missing from the literal env: ipamd fills it; prefixes in use beat the default", &nodestate.State{
			Kube:  &nodestate.Kube{AWSNodeEnv: map[string]string{"WARM_ENI_TARGET": "1"}},
			IPAMD: &nodestate.IPAMD{Shape: "multi_card", Env: map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"}, ENIs: []nodestate.ENI{{ID: "eni-1", Prefixes: 1}}},
		}, Config{
			PrefixDelegation: True, CustomNetworking: True, PodENI: False, IPv6: False, SubnetDiscovery: True,
			WarmENITarget: ip(1), EnvSource: "aws-node+ipamd", Inferred: []string{"ENABLE_PREFIX_DELEGATION"},
		}},
		{"ipamd env only: WARM_IP_TARGET 0 means unset, prefix mode inferred", &nodestate.State{
			IPAMD: &nodestate.IPAMD{
				Shape: "single",
				Env:   map[string]string{"WARM_IP_TARGET": "0", "WARM_ENI_TARGET": "1", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true", "ENABLE_SUBNET_DISCOVERY": "false"},
				ENIs:  []nodestate.ENI{{ID: "eni-1", Prefixes: 2}},
			},
		}, Config{
			PrefixDelegation: True, CustomNetworking: True, PodENI: Unknown, IPv6: False, SubnetDiscovery: False,
			WarmENITarget: ip(1), EnvSource: "ipamd", Inferred: []string{"ENABLE_PREFIX_DELEGATION", "ENABLE_IPv6"},
		}},
		{"metrics show prefixes", &nodestate.State{CNI: &nodestate.CNIMetrics{TotalIPv4Prefix: f64(4)}}, Config{
			PrefixDelegation: True, CustomNetworking: Unknown, PodENI: Unknown, IPv6: Unknown, SubnetDiscovery: Unknown,
			EnvSource: "none", Inferred: []string{"ENABLE_PREFIX_DELEGATION"},
		}},
		{"bad values are reported, not guessed", &nodestate.State{
			Kube: &nodestate.Kube{AWSNodeEnv: map[string]string{"ENABLE_PREFIX_DELEGATION": "yes please", "WARM_IP_TARGET": "-3", "MAX_ENI": "four", "ENABLE_IPv6": " TRUE "}, ENIConfigName: "zone-a"},
		}, Config{
			PrefixDelegation: Unknown, CustomNetworking: False, PodENI: False, IPv6: True, SubnetDiscovery: True, ENIConfig: "zone-a",
			EnvSource: "aws-node", Invalid: []string{"ENABLE_PREFIX_DELEGATION=yes please", "MAX_ENI=four", "WARM_IP_TARGET=-3"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, EffectiveConfig(tc.st)); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(Config{PrefixDelegation: Unknown, CustomNetworking: Unknown, PodENI: Unknown, IPv6: Unknown, SubnetDiscovery: Unknown, EnvSource: "none"}, EffectiveConfig(nil)); diff != "" {
		t.Errorf("nil state (-want +got):\n%s", diff)
	}
}

// FuzzDiagnoseEnv feeds arbitrary env values and counts through the diagnosis: bad input
// must never panic and the report must stay within its contract.
func FuzzDiagnoseEnv(f *testing.F) {
	f.Add("true", "5", "1", "0", -1, 3, 27)
	f.Add("garbage", "-1", "x", "", 0, 0, 0)
	f.Fuzz(func(t *testing.T, pd, warmIP, warmPrefix, minIP string, assigned, eniMax, ipMax int) {
		st := healthyPrefix()
		st.Kube.AWSNodeEnv["ENABLE_PREFIX_DELEGATION"] = pd
		st.Kube.AWSNodeEnv["WARM_IP_TARGET"] = warmIP
		st.Kube.AWSNodeEnv["WARM_PREFIX_TARGET"] = warmPrefix
		st.Kube.AWSNodeEnv["MINIMUM_IP_TARGET"] = minIP
		st.IPAMD.ENIs[0].Assigned = assigned
		st.CNI.ENIMax, st.CNI.IPMax = f64(float64(eniMax)), f64(float64(ipMax))
		r := Diagnose(st, Options{})
		known := map[Ceiling]bool{}
		for _, c := range Ceilings() {
			known[c] = true
		}
		if !known[r.BindingCeiling] || r.Headroom < -1 {
			t.Fatalf("bad report: binding %q headroom %d", r.BindingCeiling, r.Headroom)
		}
		for _, fd := range r.Findings {
			if fd.Cause.Severity() == "" {
				t.Fatalf("unknown cause %q", fd.Cause)
			}
		}
	})
}
