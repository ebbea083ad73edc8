package demo

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logWriter appends zap-style JSON lines to ipamd.log and plugin.log, buffered and flushed on
// every simulation step so a tailer sees whole lines.
type logWriter struct {
	mu      sync.Mutex
	ipamdF  *os.File
	pluginF *os.File
	ib, pb  *bufio.Writer
	now     func() time.Time
}

func newLogWriter(ipamdPath, pluginPath string, now func() time.Time) (*logWriter, error) {
	i, err := os.OpenFile(ipamdPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	p, err := os.OpenFile(pluginPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		i.Close()
		return nil, err
	}
	return &logWriter{ipamdF: i, pluginF: p, ib: bufio.NewWriterSize(i, 64<<10), pb: bufio.NewWriterSize(p, 16<<10), now: now}, nil
}

func zapLine(w *bufio.Writer, t time.Time, level, caller, msg string) {
	b, _ := json.Marshal(msg)
	fmt.Fprintf(w, `{"level":%q,"ts":%q,"caller":%q,"msg":%s}`+"\n", level, t.UTC().Format("2006-01-02T15:04:05.000Z"), caller, b)
}

func (l *logWriter) ipamd(level, msg string) {
	l.mu.Lock()
	zapLine(l.ib, l.now(), level, "ipamd/ipamd.go:612", msg)
	l.mu.Unlock()
}

func (l *logWriter) plugin(level, msg string) {
	l.mu.Lock()
	zapLine(l.pb, l.now(), level, "routed-eni-cni-plugin/cni.go:283", msg)
	l.mu.Unlock()
}

func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.ib.Flush()
	_ = l.pb.Flush()
}

func (l *logWriter) close() {
	l.flush()
	l.ipamdF.Close()
	l.pluginF.Close()
}

// maskB64 renders a prefix length the way ipamd's JSON does: base64 of the mask bytes.
func maskB64(bits int) string {
	m := uint32(0xffffffff) << (32 - bits)
	return base64.StdEncoding.EncodeToString([]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
}

// mask6B64 renders an IPv6 prefix length as base64 of the 16 mask bytes.
func mask6B64(bits int) string {
	m := make([]byte, 16)
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return base64.StdEncoding.EncodeToString(m)
}

const zeroTime = "0001-01-01T00:00:00Z"

// enisJSON renders /v1/enis in the shape of the simulated CNI version.
func (s *sim) enisJSON() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	total, assigned, _, _ := s.counts()
	v := s.spec.CNIVersion
	atLeast := func(minor, patch int) bool { return versionAtLeast(v, minor, patch) }
	enis := map[string]any{}
	for _, e := range s.enis {
		cidrs := map[string]any{}
		for _, sl := range e.slots {
			ips := map[string]any{}
			for _, a := range sl.addrs {
				info := map[string]any{"Address": a.ip, "IPAMKey": map[string]any{}, "IPAMMetadata": map[string]any{}, "AssignedTime": zeroTime, "UnassignedTime": zeroTime}
				if a.pod != "" {
					key := map[string]any{"networkName": "aws-cni", "ifName": "eth0", "containerID": fmt.Sprintf("%x", len(a.pod)*7919+len(a.ip))}
					if atLeast(23, 0) {
						key["containerID"], key["ifName"] = "", ""
					}
					info["IPAMKey"] = key
					md := map[string]any{"k8sPodNamespace": a.namespace, "k8sPodName": a.pod}
					if atLeast(20, 0) {
						md["interfacesCount"] = 1
					}
					info["IPAMMetadata"] = md
					info["AssignedTime"] = a.assignedAt.UTC().Format(time.RFC3339Nano)
				} else if !a.releasedAt.IsZero() {
					info["UnassignedTime"] = a.releasedAt.UTC().Format(time.RFC3339Nano)
				}
				ips[a.ip] = info
			}
			bits := 32
			if sl.prefix {
				bits = 28
			}
			cidrs[sl.cidr.String()] = map[string]any{
				"Cidr":          map[string]any{"IP": sl.cidr.Addr().String(), "Mask": maskB64(bits)},
				"IPAddresses":   ips,
				"IsPrefix":      sl.prefix,
				"AddressFamily": "",
			}
		}
		v6 := map[string]any{}
		if e.ipv6Pfx != "" {
			v6[e.ipv6Pfx] = map[string]any{"Cidr": map[string]any{"IP": strings.TrimSuffix(e.ipv6Pfx, "/80"), "Mask": mask6B64(80)}, "IPAddresses": map[string]any{}, "IsPrefix": true, "AddressFamily": ""}
		}
		obj := map[string]any{
			"ID": e.id, "IsPrimary": e.primary, "IsTrunk": e.trunk, "IsEFA": false,
			"DeviceNumber": e.device, "AvailableIPv4Cidrs": cidrs, "IPv6Cidrs": v6,
		}
		if atLeast(20, 3) {
			obj["RouteTableID"] = 2 + e.device
		}
		if atLeast(22, 0) {
			obj["IsExcludedForPodIPs"] = false
			obj["SubnetID"] = e.subnet.ID
		}
		enis[e.id] = obj
	}
	if s.mode() == "ipv6" {
		total, assigned = 0, len(s.pods)
	}
	infos := map[string]any{"TotalIPs": total, "AssignedIPs": assigned, "ENIs": enis}
	var out any = infos
	if atLeast(20, 0) {
		out = map[string]any{"0": infos}
	}
	b, _ := json.Marshal(out)
	return b
}

// versionAtLeast compares "v1.MINOR.PATCH" against 1.minor.patch.
func versionAtLeast(v string, minor, patch int) bool {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) < 3 {
		return true
	}
	mi, _ := strconv.Atoi(parts[1])
	pa, _ := strconv.Atoi(strings.SplitN(parts[2], "-", 2)[0])
	return mi > minor || (mi == minor && pa >= patch)
}

func (s *sim) ipamdHandler() http.Handler {
	mux := http.NewServeMux()
	logReq := func(r *http.Request) {
		s.logs.ipamd("info", "Handling http request: GET, from: "+r.RemoteAddr+", URI: "+r.URL.Path)
	}
	mux.HandleFunc("/v1/enis", func(w http.ResponseWriter, r *http.Request) {
		logReq(r)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.enisJSON())
	})
	for path, body := range map[string]func() []byte{
		"/v1/eni-configs":               s.eniConfigJSON,
		"/v1/ipamd-env-settings":        s.ipamdEnvJSON,
		"/v1/networkutils-env-settings": networkUtilsEnvJSON,
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			logReq(r)
			_, _ = w.Write(body())
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		logReq(r)
		_ = json.NewEncoder(w).Encode(map[string]any{"AvailableCommands": []string{"/v1/enis", "/v1/eni-configs", "/v1/ipamd-env-settings", "/v1/networkutils-env-settings"}})
	})
	return mux
}

// eniConfigJSON is /v1/eni-configs: the node's ENIConfig name as a JSON string.
func (s *sim) eniConfigJSON() []byte {
	name := "default"
	if s.customNetworking() {
		name = "us-west-2a"
	}
	b, _ := json.Marshal(name)
	return b
}

// ipamdEnvJSON is /v1/ipamd-env-settings: the few settings ipamd exposes.
func (s *sim) ipamdEnvJSON() []byte {
	atoi := func(k string) int { v, _ := strconv.Atoi(s.spec.Env[k]); return v }
	b, _ := json.Marshal(map[string]any{
		"WARM_IP_TARGET": atoi("WARM_IP_TARGET"), "WARM_ENI_TARGET": atoi("WARM_ENI_TARGET"),
		"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": s.customNetworking(),
		"AWS_MANAGE_ENIS_NON_SCHEDULABLE":    false, "ENABLE_SUBNET_DISCOVERY": s.spec.Env["ENABLE_SUBNET_DISCOVERY"] == "true",
	})
	return b
}

// networkUtilsEnvJSON is /v1/networkutils-env-settings.
func networkUtilsEnvJSON() []byte {
	return []byte(`{"AWS_VPC_ENI_MTU":9001,"AWS_VPC_K8S_CNI_EXTERNALSNAT":false,"AWS_VPC_K8S_CNI_RANDOMIZESNAT":1}`)
}

// metricsText renders the CNI's :61678/metrics (Prometheus text; counters without _total).
func (s *sim) metricsText() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	total, assigned, _, _ := s.counts()
	var b strings.Builder
	g := func(name, help string, v float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	maxENI := s.maxENIs()
	ipMax := maxENI * s.slotsPerENI()
	prefixes := 0
	for _, e := range s.enis {
		for _, sl := range e.slots {
			if sl.prefix {
				prefixes++
			}
		}
	}
	if s.mode() == "prefix" {
		ipMax *= 16
	}
	if s.mode() == "ipv6" {
		total, assigned = 0, len(s.pods)
	}
	fmt.Fprintf(&b, "# HELP awscni_build_info The CNI build information\n# TYPE awscni_build_info gauge\nawscni_build_info{goversion=\"go1.24.9\",version=%q} 1\n", s.spec.CNIVersion)
	g("awscni_eni_max", "The maximum number of ENIs that can be attached to the instance, accounting for unmanaged ENIs", float64(maxENI))
	g("awscni_ip_max", "The maximum number of IP addresses that can be allocated to the instance", float64(ipMax))
	g("awscni_eni_allocated", "The number of ENIs allocated", float64(len(s.enis)))
	g("awscni_total_ip_addresses", "The total number of IP addresses", float64(total))
	g("awscni_assigned_ip_addresses", "The number of IP addresses assigned to pods", float64(assigned))
	g("awscni_total_ipv4_prefixes", "The total number of IPv4 prefixes", float64(prefixes))
	b.WriteString("# HELP awscni_aws_api_error_count The number of times AWS API returns an error\n# TYPE awscni_aws_api_error_count counter\n")
	keys := make([][2]string, 0, len(s.apiErrors))
	for k := range s.apiErrors {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(&b, "awscni_aws_api_error_count{api=%q,error=%q} %g\n", k[0], k[1], s.apiErrors[k])
	}
	b.WriteString("# HELP awscni_ipamd_error_count The number of errors encountered in ipamd\n# TYPE awscni_ipamd_error_count counter\n")
	for fn, v := range s.ipamdErrors {
		fmt.Fprintf(&b, "awscni_ipamd_error_count{fn=%q} %g\n", fn, v)
	}
	fmt.Fprintf(&b, "# HELP awscni_no_available_ip_addresses The number of pod IP assignments that fail due to no available IP addresses\n# TYPE awscni_no_available_ip_addresses counter\nawscni_no_available_ip_addresses %g\n", s.noIP)
	fmt.Fprintf(&b, "# HELP awscni_add_ip_req_count The number of add IP address requests\n# TYPE awscni_add_ip_req_count counter\nawscni_add_ip_req_count %g\n", s.addReq)
	// The unbounded error label ipamwatch must never re-export.
	if len(s.apiErrors) > 0 {
		fmt.Fprintf(&b, "# HELP awscni_aws_utils_error_count The number of errors not handled in awsutils library\n# TYPE awscni_aws_utils_error_count counter\nawscni_aws_utils_error_count{error=\"operation error EC2: AssignPrivateIpAddresses, request id %d\",fn=\"AllocIPAddresses\"} 1\n", len(s.apiErrors))
	}
	return []byte(b.String())
}

// textHandler serves a Prometheus text exposition rendered by body at /metrics.
func textHandler(body func() []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(body())
	})
}

// imdsHandler serves the instance metadata paths ipamwatch reads, with the IMDSv2 token flow.
func (s *sim) imdsHandler() http.Handler {
	const token = "demo-imds-token-AQAEAL0"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" {
			if r.Method != http.MethodPut {
				http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
				return
			}
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
			_, _ = w.Write([]byte(token))
			return
		}
		if r.Header.Get("X-Aws-Ec2-Metadata-Token") != token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		val, ok := s.imdsValue(r.URL.Path)
		if !ok {
			http.Error(w, "404 - Not Found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(val))
	})
}

func (s *sim) imdsValue(path string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	const md = "/latest/meta-data/"
	az := "us-west-2a"
	if path == "/latest/dynamic/instance-identity/document" {
		b, _ := json.Marshal(map[string]any{"instanceId": "i-0d3c5e7a9b1f24680", "instanceType": s.spec.InstanceType, "region": "us-west-2", "availabilityZone": az})
		return string(b), true
	}
	if !strings.HasPrefix(path, md) {
		return "", false
	}
	p := strings.TrimPrefix(path, md)
	primary := s.enis[0]
	switch p {
	case "instance-id":
		return "i-0d3c5e7a9b1f24680", true
	case "instance-type":
		return s.spec.InstanceType, true
	case "placement/availability-zone":
		return az, true
	case "placement/availability-zone-id":
		return "usw2-az1", true
	case "placement/region":
		return "us-west-2", true
	case "local-ipv4":
		return primary.primIP, true
	case "mac":
		return primary.mac, true
	case "network/interfaces/macs", "network/interfaces/macs/":
		var macs []string
		for _, e := range s.enis {
			macs = append(macs, e.mac+"/")
		}
		return strings.Join(macs, "\n"), true
	}
	rest, ok := strings.CutPrefix(p, "network/interfaces/macs/")
	if !ok {
		return "", false
	}
	mac, field, _ := strings.Cut(rest, "/")
	for _, e := range s.enis {
		if e.mac != mac {
			continue
		}
		switch strings.TrimSuffix(field, "/") {
		case "interface-id":
			return e.id, true
		case "device-number":
			return strconv.Itoa(e.device), true
		case "network-card":
			return "0", true
		case "subnet-id":
			return e.subnet.ID, true
		case "subnet-ipv4-cidr-block":
			return e.subnet.CIDR, true
		case "vpc-id":
			return "vpc-0123456789abcdef0", true
		case "vpc-ipv4-cidr-blocks":
			return "10.20.0.0/16\n100.64.0.0/16", true
		case "local-ipv4s":
			ips := []string{e.primIP}
			for _, sl := range e.slots {
				if !sl.prefix {
					ips = append(ips, sl.cidr.Addr().String())
				}
			}
			return strings.Join(ips, "\n"), true
		case "ipv4-prefix":
			var pf []string
			for _, sl := range e.slots {
				if sl.prefix {
					pf = append(pf, sl.cidr.String())
				}
			}
			if len(pf) == 0 {
				return "", false
			}
			return strings.Join(pf, "\n"), true
		case "ipv6-prefix":
			if e.ipv6Pfx == "" {
				return "", false
			}
			return e.ipv6Pfx, true
		}
	}
	return "", false
}

// subnetsText renders what the cluster-level `ipamwatch subnets` exporter would say about the
// simulated subnets (the node agent reads it to tell fragmentation from exhaustion).
func (s *sim) subnetsText() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	ids := make([]string, 0, len(s.subnets))
	for id := range s.subnets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	type row struct {
		id, az                      string
		size, free, blocks, largest int
		frag                        float64
	}
	var rows []row
	// The view's clock: real time, or faster (Spec.ViewSpeedup) so a trend shows quickly.
	speed := max(s.spec.ViewSpeedup, 1)
	viewNow := s.start.Add(time.Duration(float64(s.now.Sub(s.start)) * speed))
	for _, id := range ids {
		sub := s.subnets[id]
		p := netip.MustParsePrefix(sub.CIDR)
		size := 1 << (32 - p.Bits())
		r := row{id: id, az: "us-west-2a", size: size}
		switch {
		case sub.FreeAddresses >= 0:
			r.free = max(sub.FreeAddresses-int(sub.DrainPerHour*viewNow.Sub(s.start).Hours()), 0)
		default:
			r.free = size - 5 - 64 // others hold a little
		}
		switch {
		case sub.FreeBlocks >= 0:
			r.blocks = sub.FreeBlocks
		default:
			r.blocks = r.free / 32
		}
		r.largest = 16
		if r.blocks == 0 {
			r.largest = min(8, r.free)
		}
		if r.free > 0 {
			r.frag = float64(r.free-16*r.blocks) / float64(r.free)
		}
		rows = append(rows, r)
	}
	fam := func(name, help string, v func(r row) float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, r := range rows {
			fmt.Fprintf(&b, "%s{availability_zone=%q,subnet_id=%q} %g\n", name, r.az, r.id, v(r))
		}
	}
	fam("ipamwatch_subnet_size_addresses", "Addresses in the subnet's IPv4 CIDR.", func(r row) float64 { return float64(r.size) })
	fam("ipamwatch_subnet_free_addresses", "Addresses EC2 may still assign.", func(r row) float64 { return float64(r.free) })
	fam("ipamwatch_subnet_free_prefix_blocks", "Free aligned /28 blocks.", func(r row) float64 { return float64(r.blocks) })
	fam("ipamwatch_subnet_largest_free_block_addresses", "Largest aligned free block.", func(r row) float64 { return float64(r.largest) })
	fam("ipamwatch_subnet_fragmentation_ratio", "Share of free addresses that cannot form a /28.", func(r row) float64 { return r.frag })
	fam("ipamwatch_subnet_analyzed", "1 if analysed.", func(row) float64 { return 1 })
	fmt.Fprintf(&b, "# HELP ipamwatch_subnet_last_success_timestamp_seconds Last successful poll.\n# TYPE ipamwatch_subnet_last_success_timestamp_seconds gauge\nipamwatch_subnet_last_success_timestamp_seconds %d\n", viewNow.Unix())
	return []byte(b.String())
}
