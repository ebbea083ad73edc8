// Package termsafe is the one place that makes outside text safe to print. Log lines, member
// names of a bundle, ipamd's answers and error text all reach a terminal in the end (the
// `diagnose` and `classify` output, /diagnosis?format=text read with curl, label values read
// with curl): a raw ESC there can retitle or clear the terminal of the engineer reading it,
// and a raw newline can forge a line of the report. Every control character is shown as a
// visible escape instead, and the rest of the text is left alone.
package termsafe

import (
	"strconv"
	"unicode/utf8"
)

// needsEscape reports whether rune r (of encoded size size) must not reach a terminal raw:
// C0 controls, DEL, C1 controls (U+0080-U+009F, which some terminals obey as ESC-sequences),
// bytes that are not UTF-8, the Unicode line and paragraph separators and the bidirectional
// formatting characters that reorder what is displayed.
func needsEscape(r rune, size int) bool {
	switch {
	case r < 0x20, r == 0x7f:
		return true
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == utf8.RuneError && size <= 1:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029,
		r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// String returns s with every character that could steer a terminal written as an escape:
// `\n`, `\t`, `\r`, `\x1b` for other ASCII controls and bytes that are not UTF-8, `\u009b`
// for C1 controls and bidirectional marks. A string that needs nothing is returned as is,
// without allocating.
func String(s string) string {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, size) {
			b := make([]byte, 0, len(s)+8)
			b = append(b, s[:i]...)
			return string(appendFrom(b, s[i:]))
		}
		i += size
	}
	return s
}

// Append appends s to dst with the escapes of String.
func Append(dst, s []byte) []byte {
	return appendFrom(dst, string(s))
}

func appendFrom(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !needsEscape(r, size) {
			b = append(b, s[i:i+size]...)
			i += size
			continue
		}
		switch {
		case c == '\n':
			b = append(b, `\n`...)
		case c == '\t':
			b = append(b, `\t`...)
		case c == '\r':
			b = append(b, `\r`...)
		case r == utf8.RuneError && size <= 1, r < 0x80:
			b = append(b, `\x`...)
			b = appendHex(b, uint32(c), 2)
		default:
			b = append(b, `\u`...)
			b = appendHex(b, uint32(r), 4)
		}
		i += size
	}
	return b
}

func appendHex(b []byte, v uint32, width int) []byte {
	h := strconv.FormatUint(uint64(v), 16)
	for n := len(h); n < width; n++ {
		b = append(b, '0')
	}
	return append(b, h...)
}
