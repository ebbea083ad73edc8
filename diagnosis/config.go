package diagnosis

import (
	"sort"
	"strconv"
	"strings"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Tristate is a boolean setting that may be unknown: "true", "false" or "unknown".
type Tristate string

// Tristate values; they double as metric label values.
const (
	True    Tristate = "true"
	False   Tristate = "false"
	Unknown Tristate = "unknown"
)

// IsTrue reports whether the setting is known to be on.
func (t Tristate) IsTrue() bool { return t == True }

// Config is the CNI's allocation settings as ipamwatch understands them. The env of the
// aws-node container (Kube.AWSNodeEnv) is the truth; ipamd's /v1/ipamd-env-settings fills
// the few keys it exposes when the container env is unknown; prefix and IPv6 mode are
// inferred from the datastore when neither says.
type Config struct {
	PrefixDelegation Tristate `json:"prefix_delegation"`
	CustomNetworking Tristate `json:"custom_networking"`
	PodENI           Tristate `json:"pod_eni"`
	IPv6             Tristate `json:"ipv6"`
	SubnetDiscovery  Tristate `json:"subnet_discovery"`
	// ENIConfig is the node's ENIConfig name ("" unknown).
	ENIConfig string `json:"eniconfig"`

	// Numeric settings; nil = unset (the CNI applies its default).
	WarmIPTarget     *int `json:"warm_ip_target"`
	MinimumIPTarget  *int `json:"minimum_ip_target"`
	WarmENITarget    *int `json:"warm_eni_target"`
	WarmPrefixTarget *int `json:"warm_prefix_target"`
	MaxENI           *int `json:"max_eni"`

	// EnvSource says where the settings came from: "aws-node", "ipamd", "aws-node+ipamd" or "none".
	EnvSource string `json:"env_source"`
	// Inferred lists settings that were deduced from the datastore rather than read.
	Inferred []string `json:"inferred,omitempty"`
	// Invalid lists settings whose value did not parse, as "NAME=value".
	Invalid []string `json:"invalid,omitempty"`
}

// Env keys read by EffectiveConfig.
const (
	envPrefixDelegation = "ENABLE_PREFIX_DELEGATION"
	envCustomNetwork    = "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"
	envPodENI           = "ENABLE_POD_ENI"
	envIPv6             = "ENABLE_IPv6"
	envSubnetDiscovery  = "ENABLE_SUBNET_DISCOVERY"
	envWarmIP           = "WARM_IP_TARGET"
	envMinimumIP        = "MINIMUM_IP_TARGET"
	envWarmENI          = "WARM_ENI_TARGET"
	envWarmPrefix       = "WARM_PREFIX_TARGET"
	envMaxENI           = "MAX_ENI"
)

// EffectiveConfig merges what the sources say about the CNI settings. It never fails: a
// setting nobody reported is Unknown (booleans) or nil (numbers).
func EffectiveConfig(st *nodestate.State) Config {
	c := Config{
		PrefixDelegation: Unknown,
		CustomNetworking: Unknown,
		PodENI:           Unknown,
		IPv6:             Unknown,
		SubnetDiscovery:  Unknown,
		EnvSource:        "none",
	}
	if st == nil {
		return c
	}
	var kubeEnv, ipamdEnv map[string]string
	if st.Kube != nil && st.Kube.AWSNodeEnv != nil {
		kubeEnv = st.Kube.AWSNodeEnv
	}
	if st.IPAMD != nil && st.IPAMD.Env != nil {
		ipamdEnv = st.IPAMD.Env
	}
	switch {
	case kubeEnv != nil && ipamdEnv != nil:
		c.EnvSource = "aws-node+ipamd"
	case kubeEnv != nil:
		c.EnvSource = "aws-node"
	case ipamdEnv != nil:
		c.EnvSource = "ipamd"
	}

	// With the container env known, an absent boolean is the CNI default.
	boolSetting := func(key string, def Tristate, fromIPAMD bool) Tristate {
		if kubeEnv != nil {
			if v, ok := kubeEnv[key]; ok {
				return c.parseBool(key, v)
			}
		}
		if fromIPAMD && ipamdEnv != nil {
			if v, ok := ipamdEnv[key]; ok {
				return c.parseBool(key, v)
			}
		}
		if kubeEnv != nil {
			return def
		}
		return Unknown
	}
	c.PrefixDelegation = boolSetting(envPrefixDelegation, False, false)
	c.CustomNetworking = boolSetting(envCustomNetwork, False, true)
	c.PodENI = boolSetting(envPodENI, False, false)
	c.IPv6 = boolSetting(envIPv6, False, false)
	c.SubnetDiscovery = boolSetting(envSubnetDiscovery, True, true)

	intSetting := func(key string, fromIPAMD, ipamdZeroUnset bool) *int {
		if kubeEnv != nil {
			if v, ok := kubeEnv[key]; ok && strings.TrimSpace(v) != "" {
				return c.parseInt(key, v)
			}
		}
		if fromIPAMD && ipamdEnv != nil {
			if v, ok := ipamdEnv[key]; ok && strings.TrimSpace(v) != "" {
				p := c.parseInt(key, v)
				if p != nil && *p == 0 && ipamdZeroUnset {
					return nil
				}
				return p
			}
		}
		return nil
	}
	// ipamd reports an unset WARM_IP_TARGET as 0.
	c.WarmIPTarget = intSetting(envWarmIP, true, true)
	c.MinimumIPTarget = intSetting(envMinimumIP, false, false)
	c.WarmENITarget = intSetting(envWarmENI, true, false)
	c.WarmPrefixTarget = intSetting(envWarmPrefix, false, false)
	c.MaxENI = intSetting(envMaxENI, false, false)

	if st.IPAMD != nil {
		c.ENIConfig = st.IPAMD.ENIConfig
	}
	if c.ENIConfig == "" && st.Kube != nil {
		c.ENIConfig = st.Kube.ENIConfigName
	}

	// The datastore shows the mode even when no env was readable, and beats a default
	// assumed for a key the literal env lacks (it may come from a ConfigMap).
	if c.PrefixDelegation == False && !hasKey(kubeEnv, envPrefixDelegation) && prefixesInUse(st) {
		c.PrefixDelegation = True
		c.Inferred = append(c.Inferred, envPrefixDelegation)
	}
	if c.PrefixDelegation == Unknown {
		if prefixesInUse(st) {
			c.PrefixDelegation = True
			c.Inferred = append(c.Inferred, envPrefixDelegation)
		} else if (st.IPAMD.HasDatastore() && secondaryInUse(st)) || secondaryByMetrics(st) {
			c.PrefixDelegation = False
			c.Inferred = append(c.Inferred, envPrefixDelegation)
		}
	}
	if c.IPv6 == Unknown && st.IPAMD.HasDatastore() {
		v6 := false
		for _, e := range st.IPAMD.ENIs {
			if e.IPv6Prefixes > 0 {
				v6 = true
			}
		}
		if v6 {
			c.IPv6 = True
		} else {
			c.IPv6 = False
		}
		c.Inferred = append(c.Inferred, envIPv6)
	}
	sort.Strings(c.Invalid)
	return c
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

func (c *Config) parseBool(key, v string) Tristate {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		c.Invalid = append(c.Invalid, key+"="+v)
		return Unknown
	}
	if b {
		return True
	}
	return False
}

func (c *Config) parseInt(key, v string) *int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		c.Invalid = append(c.Invalid, key+"="+v)
		return nil
	}
	return &n
}

func prefixesInUse(st *nodestate.State) bool {
	if st.IPAMD.HasDatastore() {
		for _, e := range st.IPAMD.ENIs {
			if e.Prefixes > 0 {
				return true
			}
		}
	}
	return st.CNI != nil && st.CNI.TotalIPv4Prefix != nil && *st.CNI.TotalIPv4Prefix > 0
}

func secondaryInUse(st *nodestate.State) bool {
	for _, e := range st.IPAMD.ENIs {
		if e.SecondaryIPs > 0 {
			return true
		}
	}
	return false
}

// secondaryByMetrics: ipamd holds addresses but reports no prefixes, so it runs on /32s.
func secondaryByMetrics(st *nodestate.State) bool {
	c := st.CNI
	return c != nil && c.TotalIPv4Prefix != nil && *c.TotalIPv4Prefix == 0 && c.TotalIPs != nil && *c.TotalIPs > 0
}
