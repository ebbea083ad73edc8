package termsafe

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"plain text, ünïcode and 日本語", "plain text, ünïcode and 日本語"},
		{"", ""},
		{"title\x1b]0;pwned\x07 clear\x1b[2J", `title\x1b]0;pwned\x07 clear\x1b[2J`},
		{"line\nFINDINGS none\r\tx", `line\nFINDINGS none\r\tx`},
		{"del\x7f nul\x00", `del\x7f nul\x00`},
		{"c1 csi \u009b2J", `c1 csi \u009b2J`},
		{"bad utf8 \xff\xfe end", `bad utf8 \xff\xfe end`},
		{"bidi \u202eevil\u202c \u2066x\u2069", `bidi \u202eevil\u202c \u2066x\u2069`},
		{`back\slash stays`, `back\slash stays`},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := string(Append([]byte("> "), []byte(c.in))); got != "> "+c.want {
			t.Errorf("Append(%q) = %q, want %q", c.in, got, "> "+c.want)
		}
	}
}

func TestStringCleanDoesNotAllocate(t *testing.T) {
	s := "ipamd/plugin logs: 3 subnet_exhausted line(s), error code InsufficientFreeAddressesInSubnet — ünïcode"
	if n := testing.AllocsPerRun(100, func() { _ = String(s) }); n != 0 {
		t.Errorf("String of clean text allocates %.0f times, want 0", n)
	}
}

// FuzzString checks that no output holds a byte a terminal would act on.
func FuzzString(f *testing.F) {
	f.Add("\x1b[31mred\x1b[0m")
	f.Add("\xc2\x9b\xe2\x80\xae\xff")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q is not UTF-8", s, out)
		}
		for i, r := range out {
			if needsEscape(r, utf8.RuneLen(r)) {
				t.Fatalf("String(%q) = %q holds %U at %d", s, out, r, i)
			}
		}
	})
}
