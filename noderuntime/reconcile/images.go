package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"

	"github.com/zlayer/zlayer/noderuntime/registry"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// ErrImageNotPresent is returned for pull_policy never when the node lacks
// the image.
var ErrImageNotPresent = errors.New("image not present on the node")

// EnsureImage returns the image named ref (normalized: busybox means
// docker.io/library/busybox:latest), pulling it as policy says, unpacked
// for the node's snapshotter.
func (c *Controller) EnsureImage(ctx context.Context, ref string, policy spec.PullPolicy) (containerd.Image, error) {
	name, err := registry.Normalize(ref)
	if err != nil {
		return nil, err
	}
	img, err := c.o.Client.GetImage(ctx, name)
	if err != nil && !errdefs.IsNotFound(err) {
		return nil, err
	}
	if img == nil || policy == spec.PullAlways || policy == spec.PullNewer && c.remoteDiffers(ctx, name, img) {
		if policy == spec.PullNever {
			return nil, fmt.Errorf("%s: %w and pull_policy is never (import it with `zlayer image import`)", name, ErrImageNotPresent)
		}
		// The pull runs on its own, watched for progress: one stalled
		// registry fails its pull after the progress timeout, and a caller
		// that stops waiting (its replica removed) does not cancel the pull
		// for others waiting on the same image.
		ch := c.pulls.DoChan(name, func() (any, error) {
			start := time.Now()
			pctx, resolver, done := watchPull(context.WithoutCancel(ctx), name, c.o.PullProgressTimeout, c.o.Registries.Resolver())
			defer done()
			img, err := c.o.Client.Pull(pctx, name,
				containerd.WithPullUnpack,
				containerd.WithPullSnapshotter(c.o.Snapshotter),
				containerd.WithResolver(resolver),
			)
			c.o.Metrics.Observe("zlayer_image_pull_duration_seconds", time.Since(start))
			if err != nil {
				if cause := context.Cause(pctx); cause != nil && pctx.Err() != nil {
					return nil, cause
				}
				return nil, fmt.Errorf("pull %s: %w", name, err)
			}
			c.o.Log.Info("pulled image", "image", name, "digest", img.Target().Digest, "took", time.Since(start).Round(time.Millisecond))
			return img, nil
		})
		var v any
		select {
		case res := <-ch:
			v, err = res.Val, res.Err
		case <-ctx.Done():
			return nil, fmt.Errorf("pull %s: %w", name, ctx.Err())
		}
		if err != nil {
			return nil, err
		}
		return v.(containerd.Image), nil
	}
	if ok, _ := img.IsUnpacked(ctx, c.o.Snapshotter); !ok {
		if err := img.Unpack(ctx, c.o.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", name, err)
		}
	}
	return img, nil
}

// remoteDiffers says whether the registry's digest of name is not img's
// (pull_policy newer). A registry that cannot be asked leaves the local
// image in use, as if_not_present would.
func (c *Controller) remoteDiffers(ctx context.Context, name string, img containerd.Image) bool {
	_, desc, err := c.o.Registries.Resolver().Resolve(ctx, name)
	if err != nil {
		c.o.Log.Warn("pull_policy newer: registry not reachable, using the local image", "image", name, "err", err)
		return false
	}
	return desc.Digest != img.Target().Digest
}

// ImportedImage is one image an import created.
type ImportedImage struct {
	Name   string
	Digest string
}

// Import loads a docker-save or OCI-layout tar into the node's image store
// and unpacks it. name, when set, names an image the archive leaves unnamed.
func (c *Controller) Import(ctx context.Context, r io.Reader, name string) ([]ImportedImage, error) {
	ctx = withNS(ctx, c.o.Namespace)
	opts := []containerd.ImportOpt{containerd.WithImportPlatform(platforms.Default())}
	if name != "" {
		n, err := registry.Normalize(name)
		if err != nil {
			return nil, err
		}
		opts = append(opts, containerd.WithIndexName(n))
	}
	imgs, err := c.o.Client.Import(ctx, r, opts...)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	var out []ImportedImage
	for _, i := range imgs {
		img := containerd.NewImageWithPlatform(c.o.Client, i, platforms.Default())
		if err := img.Unpack(ctx, c.o.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", i.Name, err)
		}
		out = append(out, ImportedImage{Name: i.Name, Digest: i.Target.Digest.String()})
	}
	if len(out) == 0 {
		return nil, errors.New("import: the archive names no image; pass a name")
	}
	c.Trigger()
	return out, nil
}
