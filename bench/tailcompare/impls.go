package main

import (
	"context"
	"io"

	hptail "github.com/hpcloud/tail"
	"github.com/ipamwatch/ipamwatch/logparse"
	nxtail "github.com/nxadm/tail"
)

// follower follows path from its current end until ctx is done, handing each line to
// handle and each error the library reports as a line to lineErr.
type follower func(ctx context.Context, path string, handle func([]byte), lineErr func(error)) error

type impl struct {
	name   string
	follow follower
}

var impls = []impl{
	{"ipamwatch (fsnotify + poll, own reader)", followIpamwatch},
	{"nxadm/tail v1.4.11 inotify", followNxadm(false)},
	{"nxadm/tail v1.4.11 poll", followNxadm(true)},
	{"hpcloud/tail v1.0.0 inotify", followHPCloud(false)},
	{"hpcloud/tail v1.0.0 poll", followHPCloud(true)},
}

func followIpamwatch(ctx context.Context, path string, handle func([]byte), _ func(error)) error {
	t, err := logparse.NewTailer(logparse.TailConfig{Path: path})
	if err != nil {
		return err
	}
	return t.Run(ctx, handle)
}

// Both libraries are configured as `tail -F` from the end, the way an agent would use them.
// nxadm/tail is a fork of hpcloud/tail with the same API over its own types, so the two
// adapters below are the same code twice: a generic one would need an interface wrapping
// every type both libraries hand back, for two functions of a benchmark.

func followHPCloud(poll bool) follower {
	return func(ctx context.Context, path string, handle func([]byte), lineErr func(error)) error {
		t, err := hptail.TailFile(path, hptail.Config{
			Follow:   true,
			ReOpen:   true,
			Poll:     poll,
			Location: &hptail.SeekInfo{Offset: 0, Whence: io.SeekEnd},
			Logger:   hptail.DiscardingLogger,
		})
		if err != nil {
			return err
		}
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			<-ctx.Done()
			if err := t.Stop(); err != nil {
				lineErr(err) // the library's reason for dying, counted with its line errors
			}
		}()
		for l := range t.Lines {
			if l.Err != nil {
				lineErr(l.Err)
				continue
			}
			handle([]byte(l.Text))
		}
		<-stopped
		t.Cleanup()
		return nil
	}
}

func followNxadm(poll bool) follower {
	return func(ctx context.Context, path string, handle func([]byte), lineErr func(error)) error {
		t, err := nxtail.TailFile(path, nxtail.Config{
			Follow:   true,
			ReOpen:   true,
			Poll:     poll,
			Location: &nxtail.SeekInfo{Offset: 0, Whence: io.SeekEnd},
			Logger:   nxtail.DiscardingLogger,
		})
		if err != nil {
			return err
		}
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			<-ctx.Done()
			if err := t.Stop(); err != nil {
				lineErr(err) // the library's reason for dying, counted with its line errors
			}
		}()
		for l := range t.Lines {
			if l.Err != nil {
				lineErr(l.Err)
				continue
			}
			handle([]byte(l.Text))
		}
		<-stopped
		t.Cleanup()
		return nil
	}
}
