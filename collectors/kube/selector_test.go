package kube

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestSelector(t *testing.T) {
	t.Parallel()
	set := map[string]string{"k8s-app": "aws-node", "tier": "node"}
	tests := []struct {
		sel   string
		match bool
	}{
		{"k8s-app=aws-node", true},
		{"k8s-app==aws-node", true},
		{"k8s-app=other", false},
		{"k8s-app!=other", true},
		{"k8s-app!=aws-node", false},
		{"k8s-app=aws-node,tier=node", true},
		{"k8s-app=aws-node,tier=edge", false},
		{"tier", true},
		{"!tier", false},
		{"!missing", true},
		{"missing!=x", true},
		{"example.com/app=aws-node", false},
	}
	for _, tc := range tests {
		s, err := parseSelector(tc.sel)
		if err != nil {
			t.Fatalf("parseSelector(%q): %v", tc.sel, err)
		}
		if got := s.matches(set); got != tc.match {
			t.Errorf("%q matches %v = %v, want %v", tc.sel, set, got, tc.match)
		}
		// Same answer as apimachinery's selector.
		ref, err := labels.Parse(tc.sel)
		if err != nil {
			t.Fatalf("labels.Parse(%q): %v", tc.sel, err)
		}
		if want := ref.Matches(labels.Set(set)); want != tc.match {
			t.Errorf("test case %q is wrong: labels.Parse says %v", tc.sel, want)
		}
	}
	for _, bad := range []string{"", ",", "a in (b)", "a notin (b)", "=x", "a=b c", "-a=b", "a=" + strings.Repeat("v", 64)} {
		if _, err := parseSelector(bad); err == nil {
			t.Errorf("parseSelector(%q) accepted", bad)
		}
	}
}

// FuzzNames holds the name checks to apimachinery's validation.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"ip-10-0-1-10.eu-west-1.compute.internal", "kube-system", "a", "-a", "a.", "A", "a..b", "k8s.io/app", "app_1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validDNSSubdomain(s), len(validation.IsDNS1123Subdomain(s)) == 0; got != want {
			t.Fatalf("validDNSSubdomain(%q) = %v, apimachinery says %v", s, got, want)
		}
		if got, want := validDNSLabel(s), len(validation.IsDNS1123Label(s)) == 0; got != want {
			t.Fatalf("validDNSLabel(%q) = %v, apimachinery says %v", s, got, want)
		}
		if got, want := validLabelKey(s), len(validation.IsQualifiedName(s)) == 0; got != want {
			t.Fatalf("validLabelKey(%q) = %v, apimachinery says %v", s, got, want)
		}
		if got, want := validLabelValue(s), len(validation.IsValidLabelValue(s)) == 0; got != want {
			t.Fatalf("validLabelValue(%q) = %v, apimachinery says %v", s, got, want)
		}
	})
}
