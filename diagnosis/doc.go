// Package diagnosis owns the triage logic of ipamwatch: pure functions that turn one node's
// nodestate.State into capacity per ceiling, headroom, the binding ceiling and findings (cause,
// severity, evidence, fix, confirm command), plus the kubelet max-pods arithmetic.
//
// Nothing here does I/O or keeps state: the live agent and the one-shot CLI call the same
// functions on the snapshot they assembled, and tests call them on literal structs.
package diagnosis
