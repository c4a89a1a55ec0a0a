package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/zlayer/zlayer/noderuntime/registry"
)

// ImageInfo is one image in the node's store and who uses it.
type ImageInfo struct {
	Name   string
	Digest string // the target: manifest or index
	// ConfigDigest is the node platform's config, what `docker image
	// inspect` calls the image ID for a docker-save image.
	ConfigDigest string
	Size         int64 // content for the node's platform
	CreatedAt    time.Time
	// UsedBy are DEPLOYMENT/SERVICE pairs whose spec names the image or
	// whose replicas were made from it (by this name), sorted.
	UsedBy []string
}

// ErrImageInUse is returned by RemoveImage for an image a service uses.
var ErrImageInUse = errors.New("image in use")

// Images lists the node's images.
func (c *Controller) Images(ctx context.Context) ([]ImageInfo, error) {
	_, infos, err := c.listImages(withNS(ctx, c.o.Namespace))
	if err != nil {
		return nil, err
	}
	sort.Slice(infos, func(a, b int) bool { return infos[a].Name < infos[b].Name })
	return infos, nil
}

// listImages answers containerd's image records and, index for index,
// what they are and who uses them.
func (c *Controller) listImages(ctx context.Context) ([]images.Image, []ImageInfo, error) {
	list, err := c.o.Client.ImageService().List(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list images: %w", err)
	}
	users, err := c.imageUsers()
	if err != nil {
		return nil, nil, err
	}
	infos := make([]ImageInfo, 0, len(list))
	for _, i := range list {
		infos = append(infos, c.imageInfo(ctx, i, users))
	}
	return list, infos, nil
}

// ImagesByDigest lists the images whose target or config is d: what a
// client asks before sending an image the node may already have.
func (c *Controller) ImagesByDigest(ctx context.Context, d string) ([]ImageInfo, error) {
	all, err := c.Images(ctx)
	if err != nil {
		return nil, err
	}
	var out []ImageInfo
	for _, i := range all {
		if i.Digest == d || i.ConfigDigest == d {
			out = append(out, i)
		}
	}
	return out, nil
}

func (c *Controller) imageInfo(ctx context.Context, i images.Image, users map[string][]string) ImageInfo {
	img := containerd.NewImageWithPlatform(c.o.Client, i, platforms.Default())
	info := ImageInfo{Name: i.Name, Digest: i.Target.Digest.String(), CreatedAt: i.CreatedAt}
	// An image without content for this platform still lists, with what
	// can be read of it.
	if cfg, err := img.Config(ctx); err == nil {
		info.ConfigDigest = cfg.Digest.String()
	}
	if n, err := img.Size(ctx); err == nil {
		info.Size = n
	}
	info.UsedBy = usersOf(users, info.Name)
	return info
}

// imageUsers maps image names to the DEPLOYMENT/SERVICE pairs that need
// them: stored specs (an image a scaled-to-zero or pull_policy never
// service names is still needed) and live replicas (an adopted one may run
// an image no spec names any more). Names, not digests: another name of
// the same content is not in use, and removing it frees nothing the
// replicas hold.
func (c *Controller) imageUsers() (map[string][]string, error) {
	users := map[string][]string{}
	add := func(key, user string) {
		if key != "" {
			users[key] = append(users[key], user)
		}
	}
	recs, err := c.o.Store.List()
	if err != nil {
		return nil, fmt.Errorf("image users: %w", err)
	}
	for _, rec := range recs {
		for name, svc := range rec.Spec.Services {
			if n, err := registry.Normalize(svc.Image.Name); err == nil {
				add(n, rec.Name+"/"+name)
			}
		}
	}
	for _, r := range c.Replicas() {
		add(r.Image, r.Deployment+"/"+r.Service)
	}
	return users, nil
}

func usersOf(users map[string][]string, name string) []string {
	seen := map[string]bool{}
	var out []string
	for _, u := range users[name] {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// InUseError is ErrImageInUse with the users.
type InUseError struct {
	Name   string
	UsedBy []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("image %s is used by %v", e.Name, e.UsedBy)
}

func (e *InUseError) Unwrap() error { return ErrImageInUse }

// RemovedImage is an image RemoveImage or PruneImages deleted.
type RemovedImage struct {
	ImageInfo
	// Freed is the content this removal let containerd's garbage
	// collector delete (blobs no other image shares).
	Freed int64
}

// RemoveImage deletes the image named ref (normalized as in a spec). An
// image in use is refused with an *InUseError unless force: then running
// replicas go on (their containers hold their snapshots) but a new replica
// needs the image again, pulled as its pull_policy says.
func (c *Controller) RemoveImage(ctx context.Context, ref string, force bool) (RemovedImage, error) {
	name, err := registry.Normalize(ref)
	if err != nil {
		return RemovedImage{}, err
	}
	nctx := withNS(ctx, c.o.Namespace)
	i, err := c.o.Client.ImageService().Get(nctx, name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return RemovedImage{}, fmt.Errorf("image %s: %w", name, errdefs.ErrNotFound)
		}
		return RemovedImage{}, fmt.Errorf("image %s: %w", name, err)
	}
	users, err := c.imageUsers()
	if err != nil {
		return RemovedImage{}, err
	}
	info := c.imageInfo(nctx, i, users)
	if len(info.UsedBy) > 0 && !force {
		return RemovedImage{}, &InUseError{Name: name, UsedBy: info.UsedBy}
	}
	freed, err := c.deleteImages(nctx, []images.Image{i})
	if err != nil {
		return RemovedImage{}, err
	}
	return RemovedImage{ImageInfo: info, Freed: freed[0]}, nil
}

// PruneImages deletes every image no service uses.
func (c *Controller) PruneImages(ctx context.Context) ([]RemovedImage, error) {
	nctx := withNS(ctx, c.o.Namespace)
	list, all, err := c.listImages(nctx)
	if err != nil {
		return nil, err
	}
	var unused []images.Image
	var infos []ImageInfo
	for k, info := range all {
		if len(info.UsedBy) == 0 {
			unused, infos = append(unused, list[k]), append(infos, info)
		}
	}
	if len(unused) == 0 {
		return nil, nil
	}
	freed, err := c.deleteImages(nctx, unused)
	out := make([]RemovedImage, 0, len(freed))
	for k, f := range freed {
		out = append(out, RemovedImage{ImageInfo: infos[k], Freed: f})
	}
	return out, err
}

// deleteImages deletes imgs in order, each with a synchronous garbage
// collection (containerd's own: content another image shares stays), and
// answers per image the content bytes the collections removed (each blob counted for the first image that referred to it). It
// stops at the first failure, answering what was deleted before it.
func (c *Controller) deleteImages(ctx context.Context, imgs []images.Image) ([]int64, error) {
	cs := c.o.Client.ContentStore()
	blobs := make([]map[digest.Digest]int64, len(imgs))
	for k, i := range imgs {
		blobs[k] = map[digest.Digest]int64{}
		m := blobs[k]
		// Every platform's blobs, not just ours: a multi-platform import
		// holds what it was given.
		_ = images.Walk(ctx, images.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
			m[d.Digest] = d.Size
			children, err := images.Children(ctx, cs, d)
			if errdefs.IsNotFound(err) {
				return nil, nil
			}
			return children, err
		}), i.Target)
	}
	var deleted int
	var derr error
	for _, i := range imgs {
		if err := c.o.Client.ImageService().Delete(ctx, i.Name, images.SynchronousDelete()); err != nil {
			derr = fmt.Errorf("delete image %s: %w", i.Name, err)
			break
		}
		deleted++
	}
	freed := make([]int64, deleted)
	counted := map[digest.Digest]bool{}
	for k := range deleted {
		for d, n := range blobs[k] {
			if counted[d] {
				continue
			}
			if _, err := cs.Info(ctx, d); errdefs.IsNotFound(err) {
				counted[d] = true
				freed[k] += n
			}
		}
	}
	return freed, derr
}
