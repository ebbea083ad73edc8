package ctxio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// readUntilErr reads r until an error; it returns the error and the bytes read.
func readUntilErr(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
}

func TestRegularFileStopsWithContext(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, bytes.Repeat([]byte("x\n"), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*owned).ReadCloser.(*checked); !ok {
		t.Fatalf("a regular file is read directly, got %T", r.(*owned).ReadCloser)
	}
	buf := make([]byte, 10)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v, want context.Canceled", err)
	}
}

// /dev/zero never ends; the read loop must end with the context.
func TestEndlessDeviceStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Open(ctx, "/dev/zero")
	if err != nil {
		t.Skipf("no /dev/zero: %v", err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		_, err := readUntilErr(r)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("endless read ended with %v, want context.Canceled", err)
	}
}

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}

// A FIFO that no writer opens blocks open(2) itself.
func TestFIFOWithoutWriterStopsWithContext(t *testing.T) {
	p := mkfifo(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		r, err := Open(ctx, p)
		if err == nil {
			r.Close()
		}
		done <- err
	}()
	if !blockedInFIFOOpen(t) {
		cancel()
		t.Skip("cannot see the open blocked in this kernel's /proc/*/wchan")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("open ended with %v, want context.Canceled", err)
	}
	// Release the opener goroutine, which then closes the late file.
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// blockedInFIFOOpen waits until a thread of this process sleeps in the kernel's FIFO open.
func blockedInFIFOOpen(t *testing.T) bool {
	t.Helper()
	for range 1000 {
		tasks, _ := filepath.Glob("/proc/self/task/*/wchan")
		for _, w := range tasks {
			b, _ := os.ReadFile(w)
			if s := string(b); s == "wait_for_partner" || s == "fifo_open" {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// A FIFO whose writer sends nothing blocks read(2); Close ends the pump.
func TestSilentFIFOStopsWithContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := mkfifo(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := make(chan io.ReadCloser, 1)
	go func() {
		r, err := Open(ctx, p)
		if err != nil {
			t.Error(err)
		}
		opened <- r
	}()
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := <-opened
	if r == nil {
		t.FailNow()
	}
	if _, err := w.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 5)
	if _, err := io.ReadFull(r, line); err != nil || string(line) != "line\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	// Then nothing more: only the context ends the read (else it would be EOF or data).
	done := make(chan error, 1)
	go func() {
		_, err := readUntilErr(r)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("silent read ended with %v, want context.Canceled", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// A reader that is not a file (stdin in tests) is pumped and stops with the context; Close
// leaves the source to its owner.
func TestNonFileReader(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	defer pw.Close()
	r := NewReader(ctx, pr)
	done := make(chan error, 1)
	go func() {
		_, err := readUntilErr(r)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("read ended with %v, want context.Canceled", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("close: %v", err)
	}

	// Uncancelled, the data arrives whole.
	in := bytes.Repeat([]byte("0123456789"), 10000)
	r = NewReader(context.Background(), bytes.NewReader(in))
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, in) {
		t.Errorf("ReadAll: %d bytes, %v; want %d bytes", len(got), err, len(in))
	}
	r.Close()
}
