// Package adversarial is ipamwatch's committed attack suite: each test attacks the real
// binary, built by the test with `go build`, the way a hostile input or a hostile network
// would, and asserts a bound (peak RSS, CPU time, bytes read, lines printed) and a clear error.
// It runs with the rest of `go test ./...` (`make test`, CI). The tests live in package
// adversarial_test; this file carries the package documentation and the map of the attacks.
//
// Bundle attacks, `ipamwatch diagnose --bundle` (bundle_test.go):
//   - gzip bomb: rotated ipamd-*.log.gz members that inflate to 2 GiB each (one budget for all
//     decompression, the limit named in the report);
//   - 3,000 members with 1 MiB PAX names (names, quoted fragments and problems bounded);
//   - a log over the log limit (its newest part is classified, and the report says so);
//   - more members than the member limit before anything a bundle holds ("not a bundle" names
//     the limit);
//   - a bundle path that is a symlink (read), and a device or FIFO (refused at once).
//
// Upstream attacks, `ipamwatch run` against hostile local servers (upstream_test.go): endless
// bodies and slow drips from ipamd, the CNI metrics page and IMDS; non-finite and astronomical
// CNI samples; a huge but valid /v1/enis; duplicate metric families; an IMDS answering 401.
// Each records the agent's peak RSS (/proc/PID/status VmHWM), which docs/performance.md reports.
//
// Escape sequences (escape_test.go): terminal control sequences in log lines, member names and
// upstream answers never reach `diagnose`, `classify`, /diagnosis?format=text or /metrics raw.
//
// Attacks that live elsewhere, with the code they exercise:
//   - 10,000 idle keep-alive connections to :9713: network_test.go in this package, added with
//     the agent's HTTP server (read, write and idle timeouts, a connection bound);
//   - SIGINT and SIGTERM on endless input (`classify /dev/zero`, a FIFO without a writer):
//     signals_test.go in this package, added with the CLI's signal handling;
//   - per-source faults (hang, 500, garbage, reset) and log floods against the in-process
//     agent: internal/robust.
package adversarial
