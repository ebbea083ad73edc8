// Package robust holds the agent's robustness tests: fault injection per upstream source,
// bounded memory under huge bodies and log floods, stable series under noisy input, and a
// goroutine-leak check around the agent's lifecycle. The tests live in package robust_test
// and drive the real agent (agent.New, Run) through its HTTP endpoints; this file only
// carries the package documentation. Attacks on the built binaries (peak RSS and CPU of the
// shipped programs under hostile bundles and upstreams) live in internal/adversarial.
package robust
