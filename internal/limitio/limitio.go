// Package limitio bounds what a decoder of outside input reads: a body, a file or a pasted
// page larger than its limit is an error, never a silently cut-off answer.
package limitio

import "io"

// Reader returns a reader of at most n bytes of r that fails with tooLarge as soon as r has
// more. A body of exactly n bytes is fine: only a longer one is an error.
func Reader(r io.Reader, n int64, tooLarge error) io.Reader {
	return &reader{r: r, n: n, tooLarge: tooLarge}
}

type reader struct {
	r        io.Reader
	n        int64
	tooLarge error
}

func (b *reader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		// Probe for one more byte: only a longer body is an error, not one of exactly n.
		var one [1]byte
		k, err := b.r.Read(one[:])
		if k > 0 {
			return 0, b.tooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.r.Read(p)
	b.n -= int64(k)
	return k, err
}
