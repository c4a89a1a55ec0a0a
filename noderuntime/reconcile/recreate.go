package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"

	containerd "github.com/containerd/containerd/v2/client"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// vanished says which node-side resource a container's spec refers to is
// gone ("" when none): a namespace file that is no longer a mounted
// namespace, or a bind mount source that no longer exists. Both happen when
// the node restarts (a docker restart of a node container empties /run,
// where replicas' network namespaces are bind-mounted): a new task of that
// container could never start, so the container has to be made anew.
func vanished(ctx context.Context, ctr containerd.Container) string {
	sp, err := ctr.Spec(ctx)
	if err != nil || sp.Linux == nil {
		return ""
	}
	for _, ns := range sp.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		var st unix.Statfs_t
		if err := unix.Statfs(ns.Path, &st); err != nil || st.Type != unix.NSFS_MAGIC {
			return fmt.Sprintf("%s namespace %s is gone", ns.Type, ns.Path)
		}
	}
	for _, m := range sp.Mounts {
		if !isBind(m) {
			continue
		}
		if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("mount source %s (for %s) is gone", m.Source, m.Destination)
		}
	}
	return ""
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// recreate replaces r's container with a new one made from the stored spec
// (its network namespace, hosts file and volumes made afresh, the network
// attached anew with a new address), keeping its restart count and its
// logs. It is how a replica whose node-side resources vanished comes back
// instead of failing every restart.
func (c *Controller) recreate(ctx context.Context, r *Replica, why string) error {
	rec, err := c.o.Store.Get(r.Deployment)
	if err != nil {
		return fmt.Errorf("recreate %s: %w", r.ID, err)
	}
	s := rec.Spec.Services[r.Service]
	if s == nil || s.Hash() != r.Hash {
		return fmt.Errorf("recreate %s: its spec changed; the rolling update replaces it", r.ID)
	}
	c.o.Log.Warn("replica's node resources vanished; recreating its container", "id", r.ID, "why", why)
	// The old attachment's address lease and rules go first, so the new
	// attachment neither leaks them nor collides with them.
	if n, err := c.o.Networks.For(s.NetworkMode); err == nil {
		if err := n.Detach(ctx, r.ID); err != nil {
			c.o.Log.Warn("release the vanished network", "id", r.ID, "err", err)
		}
	}
	c.mu.Lock()
	r.keepLogs = true
	c.mu.Unlock()
	if err := c.create(ctx, rec.Spec, r); err != nil {
		return fmt.Errorf("recreate %s (%s): %w", r.ID, why, err)
	}
	c.mu.Lock()
	r.Restarts++
	restarts := r.Restarts
	c.changed()
	c.mu.Unlock()
	c.o.Metrics.Add("zlayer_replica_restarts_total", map[string]string{"deployment": r.Deployment, "service": r.Service}, 1)
	if ctr, err := c.o.Client.LoadContainer(ctx, r.ID); err == nil {
		_, _ = ctr.SetLabels(ctx, map[string]string{LabelRestarts: fmt.Sprint(restarts)})
	}
	return nil
}

// vanishedError is a restart refused because the container's node-side
// resources are gone; the caller recreates the container.
type vanishedError struct{ why string }

func (e *vanishedError) Error() string { return "cannot restart: " + e.why }
