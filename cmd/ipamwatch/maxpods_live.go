package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/collectors/cnimetrics"
	"github.com/ipamwatch/ipamwatch/collectors/imds"
	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// liveMaxPodsInput reads this node's limits at run time: ENIs and addresses per ENI from what
// ipamd computed (awscni_eni_max, awscni_ip_max), the instance type from instance metadata,
// vCPUs from the host, the hypervisor from DMI. No instance-type table is consulted.
func liveMaxPodsInput(ctx context.Context, cniURL, imdsEndpoint string) (diagnosis.MaxPodsInput, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var in diagnosis.MaxPodsInput
	var notes []string
	c, err := cnimetrics.NewClient(cniURL, cnimetrics.Options{Timeout: 5 * time.Second})
	if err != nil {
		return in, nil, err
	}
	defer c.Close()
	m, err := c.Fetch(ctx)
	if err != nil {
		return in, nil, fmt.Errorf("reading the CNI metrics (%s): %w", cniURL, err)
	}
	if m.ENIMax == nil || m.IPMax == nil || *m.ENIMax <= 0 {
		return in, nil, errors.New("the CNI metrics lack awscni_eni_max / awscni_ip_max (CNI too old or metrics disabled): pass --instance-type or --enis/--ips-per-eni")
	}
	enis := int(*m.ENIMax)
	perENI := *m.IPMax / *m.ENIMax
	prefix := m.TotalIPv4Prefix != nil && *m.TotalIPv4Prefix > 0
	if prefix {
		perENI /= 16
		in.PrefixDelegation = true
		notes = append(notes, "prefix delegation is in use on this node (awscni_total_ipv4_prefixes > 0)")
	}
	if perENI != math.Trunc(perENI) {
		notes = append(notes, fmt.Sprintf("awscni_ip_max/awscni_eni_max = %.2f is not whole: multi-card or mixed mode; rounded down", perENI))
	}
	in.ENIs = enis
	in.IPsPerENI = int(perENI) + 1 // ipamd's per-ENI figure excludes the ENI's primary address
	notes = append(notes, fmt.Sprintf("ENIs %d and %d IPv4 per ENI from awscni_eni_max/awscni_ip_max (after MAX_ENI and unmanaged ENIs)", in.ENIs, in.IPsPerENI))
	in.VCPUs = runtime.NumCPU()

	cli, err := imds.NewClient(imds.Options{Endpoint: imdsEndpoint})
	if err == nil {
		if md, err := cli.Fetch(ctx); err == nil {
			in.InstanceType = md.InstanceType
		} else {
			notes = append(notes, "instance metadata unavailable: "+err.Error())
		}
	}
	in.Hypervisor = hypervisorFromDMI()
	if in.Hypervisor == "" {
		notes = append(notes, "hypervisor unknown (no DMI vendor): assuming Nitro")
	}
	return in, notes, nil
}

// hypervisorFromDMI tells Nitro from Xen by the DMI system vendor: Nitro instances report
// "Amazon EC2", Xen instances "Xen".
func hypervisorFromDMI() string {
	b, err := os.ReadFile("/sys/devices/virtual/dmi/id/sys_vendor")
	if err != nil {
		return ""
	}
	switch v := strings.TrimSpace(string(b)); {
	case strings.HasPrefix(v, "Amazon EC2"):
		return "nitro"
	case strings.HasPrefix(v, "Xen"):
		return "xen"
	}
	return ""
}
