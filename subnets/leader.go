package subnets

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderConfig configures the Lease-based election between replicas of `ipamwatch subnets`.
type LeaderConfig struct {
	Client    kubernetes.Interface
	Namespace string
	LeaseName string
	Identity  string // unique per replica, e.g. the pod name
	// Durations; zero values take the Kubernetes controller defaults (15 s, 10 s, 2 s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Logger                                    *slog.Logger
}

func (c *LeaderConfig) validate() error {
	switch {
	case c.Client == nil:
		return errors.New("leader election needs a Kubernetes client")
	case c.Namespace == "" || c.LeaseName == "":
		return errors.New("leader election needs a namespace and a lease name")
	case c.Identity == "":
		return errors.New("leader election needs an identity (set POD_NAME)")
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 15 * time.Second
	}
	if c.RenewDeadline <= 0 {
		c.RenewDeadline = 10 * time.Second
	}
	if c.RetryPeriod <= 0 {
		c.RetryPeriod = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// RunLeaderElected runs work while this replica holds the Lease, and joins the election
// again after losing it, until ctx ends. onLeader (may be nil) hears every change; it is
// called with false after work has returned and before the lease is released, so two
// replicas never poll or export at once. It returns an error only for an unusable
// configuration.
func RunLeaderElected(ctx context.Context, cfg LeaderConfig, work func(context.Context), onLeader func(bool)) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if onLeader == nil {
		onLeader = func(bool) {}
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: cfg.LeaseName, Namespace: cfg.Namespace},
		Client:     cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	for ctx.Err() == nil {
		if err := leaderRound(ctx, cfg, lock, work, onLeader); err != nil {
			return err
		}
		if !sleepCtx(ctx, cfg.RetryPeriod) {
			break
		}
	}
	return nil
}

// leaderRound runs one election: wait for the lease, work while holding it, return when
// the lease is lost or ctx ends. The elector runs under its own context so that, when ctx
// ends, the work stops first and only then is the lease released: the next leader cannot
// start while this one still works.
func leaderRound(ctx context.Context, cfg LeaderConfig, lock resourcelock.Interface, work func(context.Context), onLeader func(bool)) error {
	elCtx, elCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer elCancel()
	var (
		mu       sync.Mutex
		started  bool
		finished bool
		done     = make(chan struct{})
	)
	stopWaiting := context.AfterFunc(ctx, func() {
		mu.Lock()
		leading := started
		mu.Unlock()
		if !leading { // still a candidate: stop campaigning
			elCancel()
		}
	})
	defer stopWaiting()
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		Name:            cfg.LeaseName,
		LeaseDuration:   cfg.LeaseDuration,
		RenewDeadline:   cfg.RenewDeadline,
		RetryPeriod:     cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				mu.Lock()
				if finished { // Run already returned: this round's lease is gone
					mu.Unlock()
					return
				}
				started = true
				mu.Unlock()
				defer close(done)
				// Work ends when the lease is lost (lctx) or the process stops (ctx); then
				// the elector is cancelled, which releases the lease.
				defer elCancel()
				wctx, cancelWork := context.WithCancel(lctx)
				defer cancelWork()
				stop := context.AfterFunc(ctx, cancelWork)
				defer stop()
				cfg.Logger.Info("acquired the leader lease", "lease", cfg.LeaseName, "identity", cfg.Identity)
				onLeader(true)
				work(wctx)
				onLeader(false) // before the lease is released by the deferred elCancel
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return err
	}
	le.Run(elCtx)
	mu.Lock()
	finished = true
	wasLeader := started
	mu.Unlock()
	if wasLeader {
		<-done
		cfg.Logger.Info("released or lost the leader lease", "lease", cfg.LeaseName, "identity", cfg.Identity)
	}
	return nil
}
