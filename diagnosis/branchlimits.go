package diagnosis

import (
	_ "embed"
	"strconv"
	"strings"
	"sync"
)

// branchLimitsTSV lists, per instance type, the branch ENIs it supports for security groups
// for pods, 0 when it is not trunking-compatible. Generated from the VPC resource
// controller's limits table by diagnosis/internal/genbranch (see the file's header).
//
//go:embed branchlimits.tsv
var branchLimitsTSV string

var branchLimits = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, 1200)
	for _, line := range strings.Split(branchLimitsTSV, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, n, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if v, err := strconv.Atoi(n); err == nil {
			m[name] = v
		}
	}
	return m
})

// BranchENIs returns the branch ENIs of an instance type (0: not trunking-compatible) and
// whether the type is in the table.
func BranchENIs(instanceType string) (int, bool) {
	n, ok := branchLimits()[instanceType]
	return n, ok
}

// trunkingCompatible answers the way ipamd does (IsTrunkingCompatible in
// amazon-vpc-cni-k8s v1.23.0 pkg/awsutils/awsutils.go): a type missing from the table counts
// as compatible.
func trunkingCompatible(instanceType string) bool {
	n, ok := BranchENIs(instanceType)
	return !ok || n > 0
}
