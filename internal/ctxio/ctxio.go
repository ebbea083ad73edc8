// Package ctxio makes the one-shot readers of the CLI stop when their context ends: a read
// of an endless input (/dev/zero), of a pipe or terminal that never sends, or the open of a
// FIFO that no writer ever opens must not outlive Ctrl-C or SIGTERM.
//
// Regular files never block for long, so a context check before each read is enough there.
// Anything else (FIFOs, pipes, terminals, character devices) is read by a pump goroutine
// through an io.Pipe, and the pipe is closed when the context ends: the reader returns at
// once while the pump, possibly stuck in a read(2) the kernel will not interrupt, is left to
// end with the process. The CLI is a short-lived process, so that goroutine is not a leak
// worth a more intrusive design (non-blocking file descriptors would change the terminal
// the user's shell shares with us).
package ctxio

import (
	"context"
	"io"
	"os"
)

// Open opens name for reading. It returns ctx's error if ctx ends first, even while open(2)
// blocks (a FIFO without a writer); the late file is then closed by the goroutine that
// opened it. The returned reader stops with ctx as NewReader's does; closing it closes the file.
func Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(name)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, o.err
		}
		return &owned{ReadCloser: NewReader(ctx, o.f), f: o.f}, nil
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.f != nil {
				_ = o.f.Close() // opened for reading and never used
			}
		}()
		return nil, ctx.Err()
	}
}

// owned is a reader of a file Open opened: closing it closes the file too.
type owned struct {
	io.ReadCloser
	f *os.File
}

func (o *owned) Close() error {
	_ = o.ReadCloser.Close() // releases the context watch; never fails
	return o.f.Close()
}

// NewReader returns a reader of r that fails with ctx's error once ctx ends. Close releases
// what the reader holds (a pump goroutine, the context watch) but leaves r open: the caller
// owns r. See the package comment for how blocking sources are read.
func NewReader(ctx context.Context, r io.Reader) io.ReadCloser {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return &checked{ctx: ctx, r: f}
		}
	}
	return newPumped(ctx, r)
}

// checked checks ctx before each read of a source that does not block.
type checked struct {
	ctx context.Context
	r   io.Reader
}

func (c *checked) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c *checked) Close() error { return nil }

// pumped reads a possibly blocking source in its own goroutine.
type pumped struct {
	pr   *io.PipeReader
	stop func() bool
}

func newPumped(ctx context.Context, r io.Reader) *pumped {
	pr, pw := io.Pipe()
	go func() {
		// io.Copy's buffer is allocated once; a Write fails once the reader side is closed.
		_, err := io.Copy(pw, r)
		_ = pw.CloseWithError(err) // nil: EOF for the reader
	}()
	// Ending the writer side wakes a blocked Read with ctx's error and fails the pump's next Write.
	return &pumped{pr: pr, stop: context.AfterFunc(ctx, func() { _ = pw.CloseWithError(ctx.Err()) })}
}

func (p *pumped) Read(b []byte) (int, error) { return p.pr.Read(b) }

// Close stops the pump: its next write fails. A pump blocked in a read of a source that
// cannot be interrupted ends with the source or with the process.
func (p *pumped) Close() error {
	p.stop()
	return p.pr.Close()
}
