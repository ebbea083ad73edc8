//go:build !unix

package ipamd

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
