package logparse

import "testing"

func TestSaysNonNitro(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]bool{
		`{"level":"warn","ts":"2024-03-01T10:00:00.000Z","caller":"ipamd/ipamd.go:480","msg":"Prefix delegation is not supported on non-nitro instance t2.medium hence falling back to default (secondary IP) mode"}`: true,
		`{"level":"error","ts":"2021-09-01T10:00:00.000Z","caller":"ipamd/ipamd.go:390","msg":"Prefix delegation is not supported non-nitro instance - m4.large"}`:                                                    true,
		`{"level":"info","msg":"Using prefix delegation on a nitro instance"}`: false,
		`{"level":"warn","msg":"non-nitro something unrelated"}`:               false,
	} {
		if got := SaysNonNitro([]byte(line)); got != want {
			t.Errorf("SaysNonNitro(%s) = %v, want %v", line, got, want)
		}
	}
}
