package shtext

import (
	"strings"
	"testing"
)

func TestUnquoted(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`echo $A`, `echo $A`},
		{`echo '$A <x>' $B`, "echo" + strings.Repeat(" ", 10) + "$B"},
		{`echo "it's $A"`, `echo "it's $A"`},
		{`echo "a \" '$B'"`, `echo "a \" '$B'"`},
		{"x=1 # $C <y>\necho $D", "x=1" + strings.Repeat(" ", 9) + "\necho $D"},
		{"x=1\t# $C", "x=1\t    "},
		{`echo a#b $E`, `echo a#b $E`},
		{"# $F\n$G", "    \n$G"},
	}
	for _, tc := range tests {
		got := Unquoted(tc.in)
		if got != tc.want {
			t.Errorf("Unquoted(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(got) != len(tc.in) {
			t.Errorf("Unquoted(%q) moved bytes: length %d, want %d", tc.in, len(got), len(tc.in))
		}
	}
}
