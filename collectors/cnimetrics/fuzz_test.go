package cnimetrics

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseMetrics: no input panics; every kept map stays within its key cap and every
// key is a sanitised token.
func FuzzParseMetrics(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.prom"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("awscni_aws_api_error_count{error=\"a b\"} 1\nawscni_aws_api_error_count{error=\"c\"} -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(bytes.NewReader(data), 1<<20)
		if err != nil {
			if s != nil {
				t.Fatal("sample next to error")
			}
			return
		}
		for _, m := range []map[string]float64{s.APIErrors, s.IpamdErrors, s.EC2APIErrors} {
			if len(m) > maxSampleKeys {
				t.Fatalf("%d keys", len(m))
			}
			for k, v := range m {
				if sanitizeKey([]byte(k)) != k || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("bad entry %q=%v", k, v)
				}
			}
		}
		// No value a node cannot have gets through (NaN, ±Inf, out of range).
		for name, g := range map[string]*float64{
			famENIMax: s.ENIMax, famIPMax: s.IPMax, famENIAllocated: s.ENIAllocated, famTotalIPs: s.TotalIPs,
			famAssignedIPs: s.AssignedIPs, famTotalIPv4Prefix: s.TotalIPv4Prefix, famNoAvailableIP: s.NoAvailableIP,
		} {
			if g != nil && (math.IsNaN(*g) || *g < 0 || *g > kept[name].max) {
				t.Fatalf("%s = %v kept", name, *g)
			}
		}
		var tr Tracker
		tr.Update(s)
		out := tr.Update(s)
		if len(out.APIErrorTotal) > MaxKeys || len(out.APIErrorIncrease) > MaxKeys {
			t.Fatal("nodestate map over the cap")
		}
		for _, v := range out.APIErrorIncrease {
			if v != 0 {
				t.Fatalf("same sample twice gave increase %v", v)
			}
		}
	})
}
