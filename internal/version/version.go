// Package version carries the build's version stamp, set with -ldflags -X at build time.
package version

import "runtime"

// Set by the linker: -X github.com/ipamwatch/ipamwatch/internal/version.Version=...
var (
	Version  = "dev"
	Revision = "unknown"
)

// GoVersion is the toolchain that built the binary.
func GoVersion() string { return runtime.Version() }

// String is the one-line form printed by `ipamwatch version`.
func String() string {
	return "ipamwatch " + Version + " (revision " + Revision + ", " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
