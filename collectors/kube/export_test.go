package kube

// LegacyFetch is the previous client-go path, for the external tests (realserver_test.go).
var LegacyFetch = legacyFetch
