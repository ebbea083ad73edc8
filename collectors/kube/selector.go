package kube

import (
	"fmt"
	"strings"
)

// selector is an equality-based label selector (the subset of the Kubernetes syntax the
// aws-node selection needs): comma-separated requirements "key=value", "key==value",
// "key!=value", "key" (exists) and "!key" (does not exist). Set-based requirements
// ("in", "notin") are refused rather than misread.
type selector []requirement

type requirement struct {
	key, value string
	op         string // "=", "!=", "exists", "!exists"
}

func parseSelector(s string) (selector, error) {
	var out selector
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty requirement in %q", s)
		}
		if strings.ContainsAny(part, "() ") {
			return nil, fmt.Errorf("requirement %q: only key=value, key!=value, key and !key are supported", part)
		}
		var r requirement
		switch {
		case strings.Contains(part, "!="):
			r.key, r.value, _ = strings.Cut(part, "!=")
			r.op = "!="
		case strings.Contains(part, "=="):
			r.key, r.value, _ = strings.Cut(part, "==")
			r.op = "="
		case strings.Contains(part, "="):
			r.key, r.value, _ = strings.Cut(part, "=")
			r.op = "="
		case strings.HasPrefix(part, "!"):
			r.key, r.op = part[1:], "!exists"
		default:
			r.key, r.op = part, "exists"
		}
		if !validLabelKey(r.key) {
			return nil, fmt.Errorf("requirement %q: %q is not a valid label key", part, r.key)
		}
		if (r.op == "=" || r.op == "!=") && !validLabelValue(r.value) {
			return nil, fmt.Errorf("requirement %q: %q is not a valid label value", part, r.value)
		}
		out = append(out, r)
	}
	return out, nil
}

func (s selector) matches(labels map[string]string) bool {
	for _, r := range s {
		v, ok := labels[r.key]
		switch r.op {
		case "=":
			if !ok || v != r.value {
				return false
			}
		case "!=":
			if ok && v == r.value {
				return false
			}
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		}
	}
	return true
}

// validLabelKey: an optional DNS subdomain prefix and "/", then a name of 1-63 characters
// (alphanumerics, '-', '_', '.', starting and ending alphanumeric).
func validLabelKey(k string) bool {
	name := k
	if prefix, rest, found := strings.Cut(k, "/"); found {
		if !validDNSSubdomain(prefix) {
			return false
		}
		name = rest
	}
	return name != "" && len(name) <= 63 && validLabelChars(name)
}

// validLabelValue: empty, or up to 63 characters as a label name.
func validLabelValue(v string) bool {
	return v == "" || (len(v) <= 63 && validLabelChars(v))
}

func validLabelChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && ((i == 0 || i == len(s)-1) || (c != '-' && c != '_' && c != '.')) {
			return false
		}
	}
	return true
}

// validDNSSubdomain is RFC 1123 as Kubernetes applies it to object names (node names):
// at most 253 characters, lower-case alphanumerics, '-' and '.', each dot-separated part
// starting and ending alphanumeric (k8s.io/apimachinery validation.IsDNS1123Subdomain).
func validDNSSubdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if !dnsLabelChars(part) {
			return false
		}
	}
	return true
}

// validDNSLabel is RFC 1123 as Kubernetes applies it to namespaces: at most 63 lower-case
// alphanumerics or '-', starting and ending alphanumeric (validation.IsDNS1123Label).
func validDNSLabel(s string) bool {
	return len(s) <= 63 && dnsLabelChars(s)
}

func dnsLabelChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}
