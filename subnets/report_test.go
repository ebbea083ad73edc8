package subnets

import (
	"bytes"
	"strings"
	"testing"
)

// Text from EC2 and Kubernetes reaches the terminal escaped.
func TestWriteTextEscapes(t *testing.T) {
	t.Parallel()
	const esc = "\x1b]0;owned\x07"
	snap := &Snapshot{
		Warnings: []string{"nodes: " + esc},
		Results: []SubnetResult{
			{Subnet: Subnet{ID: "subnet-1" + esc}, Skipped: "IPv6-only" + esc},
			{Subnet: Subnet{ID: "subnet-2", CIDR: "10.0.0.0/28"}, Analysis: &Analysis{AnomalyCount: 1, Anomalies: []string{"bad ip " + esc}},
				Recommendations: []Recommendation{{InstanceID: "i-1", NodeName: "node" + esc, ENIs: []string{"eni-1" + esc}}}},
		},
	}
	var b bytes.Buffer
	if err := WriteText(&b, snap); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") {
		t.Errorf("report holds raw control characters:\n%q", b.String())
	}
	if n := strings.Count(b.String(), `\x1b]0;owned\x07`); n != 6 {
		t.Errorf("%d escaped sequences, want 6:\n%s", n, b.String())
	}
}
