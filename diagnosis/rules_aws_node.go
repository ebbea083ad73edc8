package diagnosis

import (
	"fmt"
	"strings"

	"github.com/ipamwatch/ipamwatch/logparse"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Rules for what stops aws-node itself, and for the ENI placement settings (custom
// networking, subnet discovery) whose failures ipamd names in its log.

// notReadySigns are the log classes that show aws-node not serving the CNI plugin, each with
// the sign the fix acts on, most specific first.
var notReadySigns = []struct {
	class logparse.Class
	sign  string
}{
	{logparse.AWSNodeInitFailed, "ipamd's start-up failed (Initialization failure names the cause): fix that cause"},
	{logparse.AWSNodePanic, "ipamd panicked: a CNI bug; note the version and the stack, then upgrade or roll back the add-on"},
	{logparse.AWSNodeAPIServerUnreachable, "ipamd cannot reach the Kubernetes API server: check kube-proxy and the node's route to the API endpoint"},
	{logparse.AWSNodeNotReady, "the CNI plugin cannot connect to ipamd's gRPC server (connection refused): find why ipamd is not up in the aws-node log"},
}

// awsNodeNotReady: the plugin or ipamd's own log shows aws-node not serving pods. ipamd
// answering introspection now contradicts it (the lines are from a start-up that then
// succeeded), so the finding needs ipamd to be down or unknown.
func (d *diag) awsNodeNotReady() {
	if s, ok := d.st.Sources[nodestate.SourceIPAMD]; ok && s.Up {
		return
	}
	var ev []string
	sign := ""
	for _, s := range notReadySigns {
		cs, ok := d.class(s.class)
		if !ok {
			continue
		}
		ev = append(ev, d.classEvidence(s.class, cs))
		if sign == "" {
			sign = s.sign
		}
	}
	if sign == "" {
		return
	}
	if s, ok := d.st.Sources[nodestate.SourceIPAMD]; ok && !s.Up {
		ev = append(ev, fmt.Sprintf("ipamd's introspection endpoint does not answer either: %s", orDash(s.Err)))
	}
	if pressure, pev := d.poolPressure(); pressure {
		ev = append(ev, pev...)
	}
	d.add(CauseAWSNodeNotReady, measured{
		summary:  "aws-node is not serving the CNI plugin on this node: no pod gets an IP until ipamd is up",
		evidence: ev, logsOnly: !d.st.IPAMD.HasDatastore() && d.st.CNI == nil,
		fix: map[string]string{"sign": sign},
	})
}

// customNetworkingMisconfigured: ipamd cannot get the node's ENIConfig (missing, misnamed,
// unreadable) or the resource controller says the name is not found. Custom networking known
// to be off contradicts it.
func (d *diag) customNetworkingMisconfigured() {
	if d.cfg.CustomNetworking == False {
		return
	}
	cs, ok := d.class(logparse.ENIConfigUnavailable)
	if !ok {
		return
	}
	ev := []string{d.classEvidence(logparse.ENIConfigUnavailable, cs)}
	ev = append(ev, fmt.Sprintf("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG=%s, ENIConfig %q (ipamd looks it up by the node's label or annotation, or ENI_CONFIG_LABEL_DEF)", d.cfg.CustomNetworking, orDash(d.cfg.ENIConfig)))
	if d.has(CauseAWSNodeRBACDenied) {
		ev = append(ev, "the API server also refuses aws-node (aws_node_rbac_denied): the ENIConfig may exist but be unreadable")
	}
	if pressure, pev := d.poolPressure(); pressure {
		ev = append(ev, pev...)
	}
	d.add(CauseCustomNetworkingMisconfig, measured{
		summary:  fmt.Sprintf("custom networking cannot use ENIConfig %q: the node gets no secondary ENIs", orDash(d.cfg.ENIConfig)),
		evidence: ev, logsOnly: d.cfg.CustomNetworking == Unknown,
	})
}

// subnetDiscoveryExcluded: ipamd found no subnet it may create an ENI in.
func (d *diag) subnetDiscoveryExcluded() {
	cs, ok := d.class(logparse.SubnetDiscoveryExcluded)
	if !ok {
		return
	}
	ev := []string{d.classEvidence(logparse.SubnetDiscoveryExcluded, cs)}
	if strings.Contains(cs.Example, "role/cni=0") {
		ev = append(ev, "the node's own subnet is tagged kubernetes.io/role/cni=0")
	}
	ev = append(ev, fmt.Sprintf("ENABLE_SUBNET_DISCOVERY=%s", d.cfg.SubnetDiscovery))
	if pressure, pev := d.poolPressure(); pressure {
		ev = append(ev, pev...)
	}
	d.add(CauseSubnetDiscoveryExcluded, measured{
		summary:  "ipamd finds no subnet it may create ENIs in (subnet discovery tags): the node cannot add ENIs",
		evidence: ev, subnet: d.subnetOf(logparse.SubnetDiscoveryExcluded),
	})
}

// cniUnknownInstanceType: the CNI version predates the instance type.
func (d *diag) cniUnknownInstanceType() {
	cs, ok := d.class(logparse.CNIUnknownInstanceType)
	if !ok {
		return
	}
	ev := []string{d.classEvidence(logparse.CNIUnknownInstanceType, cs)}
	if d.node.CNIVersion != "" {
		ev = append(ev, fmt.Sprintf("CNI %s on %s", d.node.CNIVersion, d.instanceType()))
	}
	d.add(CauseCNIUnknownInstanceType, measured{
		summary:  fmt.Sprintf("the VPC CNI version %s does not know %s: it cannot compute the node's ENI limits", orDash(d.node.CNIVersion), d.instanceType()),
		evidence: ev,
	})
}
