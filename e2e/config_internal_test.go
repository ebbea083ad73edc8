package e2e

import (
	"net/netip"
	"strings"
	"testing"
)

// TestOccupy checks the fake EC2 layout the cluster-level alerts are asserted on: exactly the
// requested free addresses and whole free /28 blocks.
func TestOccupy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cidr              string
		free, freeBlocks  int
		wantUsed          int
		wantWhole         int
		wantErrSubstring  string
		wantNothingListed bool
	}{
		{cidr: "10.20.48.0/24", free: 6, freeBlocks: 0, wantUsed: 256 - 5 - 6, wantWhole: 0},
		{cidr: "10.20.64.0/22", free: 140, freeBlocks: 2, wantUsed: 1024 - 5 - 140, wantWhole: 2},
		{cidr: "10.20.64.0/22", free: 64, freeBlocks: -1, wantUsed: 1024 - 5 - 64, wantWhole: 4},
		{cidr: "10.20.32.0/20", free: -1, freeBlocks: -1, wantNothingListed: true},
		{cidr: "10.0.0.0/28", free: 11, freeBlocks: 1, wantErrSubstring: "cannot leave"},
		{cidr: "10.0.0.0/27", free: 40, freeBlocks: 0, wantErrSubstring: "too small"},
	} {
		t.Run(tc.cidr, func(t *testing.T) {
			t.Parallel()
			p := netip.MustParsePrefix(tc.cidr)
			used, err := occupy(p, tc.free, tc.freeBlocks)
			if tc.wantErrSubstring != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstring) {
					t.Fatalf("occupy: error %v, want one containing %q", err, tc.wantErrSubstring)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNothingListed {
				if len(used) != 0 {
					t.Fatalf("occupy listed %d addresses, want none", len(used))
				}
				return
			}
			if len(used) != tc.wantUsed {
				t.Errorf("used %d addresses, want %d", len(used), tc.wantUsed)
			}
			size := 1 << (32 - p.Bits())
			taken := make([]bool, size)
			base := p.Masked().Addr().As4()
			start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
			for _, a := range used {
				b := a.As4()
				i := int(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) - start)
				if i < 4 || i >= size-1 {
					t.Fatalf("%s is AWS-reserved or outside %s", a, p)
				}
				if taken[i] {
					t.Fatalf("%s listed twice", a)
				}
				taken[i] = true
			}
			taken[0], taken[1], taken[2], taken[3], taken[size-1] = true, true, true, true, true
			whole := 0
			for blk := 0; blk < size/16; blk++ {
				free := true
				for i := 16 * blk; i < 16*blk+16; i++ {
					free = free && !taken[i]
				}
				if free {
					whole++
				}
			}
			if whole != tc.wantWhole {
				t.Errorf("%d whole free /28 blocks, want %d", whole, tc.wantWhole)
			}
		})
	}
}
