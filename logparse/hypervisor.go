package logparse

import "bytes"

var nonNitro = []byte("non-nitro")

// SaysNonNitro reports whether an ipamd line states that the instance is not on Nitro: ipamd
// says so when prefix delegation is requested there ("Prefix delegation is not supported on
// non-nitro instance <type> hence falling back to default (secondary IP) mode" at WARN since
// v1.10; "... not supported non-nitro instance - <type>" at ERROR before). It is the only
// place ipamd names the hypervisor. Callers check it on warn/error lines only, which are rare.
func SaysNonNitro(line []byte) bool {
	return bytes.Contains(line, nonNitro) && bytes.Contains(bytes.ToLower(line), []byte("prefix delegation"))
}
