package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/containerd/errdefs"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// adopt builds the controller's view from the containers in the namespace:
// running tasks are watched again (never restarted), tasks that exited while
// the node was away have their exit recorded and go through the restart
// policy, as do containers whose task is gone.
func (c *Controller) adopt(ctx context.Context) error {
	ctrs, err := c.o.Client.Containers(ctx, fmt.Sprintf("labels.%q", LabelDeployment))
	if err != nil {
		return err
	}
	recs, err := c.o.Store.List()
	if err != nil {
		return err
	}
	// Containers are looked at in parallel: converging quickly after a
	// restart of serve is the point of adopting.
	var digests sync.Map
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, ctr := range ctrs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.adoptOne(ctx, ctr, recs, &digests)
		}()
	}
	wg.Wait()
	c.mu.Lock()
	c.adopted = true
	n := len(c.replicas)
	c.mu.Unlock()
	c.o.Log.Info("adopted containers", "count", n)
	return nil
}

func (c *Controller) adoptOne(ctx context.Context, ctr containerd.Container, recs []*store.Record, digests *sync.Map) {
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return
	}
	l := info.Labels
	r := &Replica{
		ID: ctr.ID(), Deployment: l[LabelDeployment], Service: l[LabelService], Hash: l[LabelHash],
		Index: atoi(l[LabelReplica]), Restarts: atoi(l[LabelRestarts]), Image: info.Image, State: StateUnknown,
	}
	for _, rec := range recs {
		if rec.Name == r.Deployment {
			r.spec = rec.Spec.Services[r.Service]
		}
	}
	if l[LabelHealthy] == "true" {
		healthy := true
		r.Healthy = &healthy
	}
	if d, ok := digests.Load(info.Image); ok {
		r.ImageDigest = d.(string)
	} else if img, err := c.o.Client.GetImage(ctx, info.Image); err == nil {
		r.ImageDigest = img.Target().Digest.String()
		digests.Store(info.Image, r.ImageDigest)
	}
	c.mu.Lock()
	c.replicas[r.ID] = r
	c.changed()
	c.mu.Unlock()
	c.attach(ctx, r, ctr)
}

// attach re-establishes the exit watch on r's task, or records its exit.
func (c *Controller) attach(ctx context.Context, r *Replica, ctr containerd.Container) {
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		c.mu.Lock()
		// The task is gone (e.g. the machine rebooted): treat it as an exit
		// of unknown status so the restart policy decides.
		if r.LastExit == nil {
			c.recordExit(r, -1, time.Time{})
		} else {
			c.afterExit(r, 0)
		}
		c.mu.Unlock()
		return
	}
	st, err := task.Status(ctx)
	if err != nil {
		return
	}
	switch st.Status {
	case containerd.Stopped:
		c.mu.Lock()
		c.recordExit(r, int(st.ExitStatus), st.ExitTime)
		c.mu.Unlock()
		// Keep no dead task around: a restart creates a new one.
		_, _ = task.Delete(ctx)
	case containerd.Running, containerd.Paused, containerd.Pausing:
		wctx, cancel := context.WithCancel(withNS(context.WithoutCancel(ctx), c.o.Namespace))
		ch, err := task.Wait(wctx)
		if err != nil {
			cancel()
			return
		}
		c.mu.Lock()
		if r.cancel != nil {
			r.cancel()
		}
		r.cancel, r.waitCtx, r.PID, r.attached = cancel, wctx, task.Pid(), true
		if r.State == StateUnknown || r.State == "" {
			// Ready again only once afterStart has its address back: the
			// ingress routes ready replicas by address.
			r.State, r.Message = StateRunning, ""
		}
		if r.StartedAt.IsZero() {
			r.StartedAt = time.Now()
			if fi, err := os.Stat(fmt.Sprintf("/proc/%d", r.PID)); err == nil {
				r.StartedAt = fi.ModTime()
			}
		}
		c.changed()
		c.mu.Unlock()
		c.afterStart(wctx, r, task)
		go c.watch(wctx, r, ch)
	default:
		c.o.Log.Warn("replica task in unexpected state", "id", r.ID, "status", st.Status)
	}
}

// reattach follows up replicas that lost their watch (containerd restarted).
func (c *Controller) reattach(ctx context.Context) {
	for _, r := range c.snapshotReplicas() {
		c.mu.Lock()
		lost := r.State == StateUnknown && !r.attached && !r.removing
		c.mu.Unlock()
		if !lost {
			continue
		}
		ctr, err := c.o.Client.LoadContainer(ctx, r.ID)
		if errors.Is(err, errdefs.ErrNotFound) {
			c.mu.Lock()
			delete(c.replicas, r.ID)
			c.changed()
			c.mu.Unlock()
			continue
		}
		if err != nil {
			continue
		}
		c.o.Log.Info("reattaching replica", "id", r.ID)
		c.attach(ctx, r, ctr)
	}
}
