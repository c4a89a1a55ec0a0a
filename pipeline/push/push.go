// Package push uploads images from this run's OCI layout folders to their
// registries, byte for byte: what is pushed is exactly what was built, with
// the digest the summary shows, and no rebuild happens at push time.
package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pusher pushes layouts to registries.
type Pusher struct {
	hosts docker.RegistryHosts
}

// New returns a Pusher using the Docker config's credentials. Loopback
// registries and those listed in ZLAYER_INSECURE_REGISTRIES (comma
// separated host[:port]) are spoken to over plain HTTP.
func New() *Pusher {
	insecure := map[string]bool{}
	for _, h := range strings.Split(os.Getenv("ZLAYER_INSECURE_REGISTRIES"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			insecure[h] = true
		}
	}
	hosts := docker.ConfigureDefaultRegistries(
		docker.WithPlainHTTP(func(host string) (bool, error) { return insecure[host] || isLoopback(host), nil }),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(credentials))),
	)
	return &Pusher{hosts: hosts}
}

func isLoopback(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Push uploads the image with digest dgst (the layout's only image when
// empty) from the OCI layout folder dir to every tag.
func (p *Pusher) Push(ctx context.Context, dir, dgst string, tags []string) error {
	desc, err := Find(dir, dgst)
	if err != nil {
		return err
	}
	store := layoutStore(dir)
	for _, tag := range tags {
		ref := Normalize(tag)
		// A resolver per tag: a resolver's upload tracker is keyed by blob
		// digest alone, so pushes to two repositories through one resolver
		// skip a shared layer in the second and its manifest is refused.
		resolver := docker.NewResolver(docker.ResolverOptions{Hosts: p.hosts})
		pusher, err := resolver.Pusher(ctx, ref)
		if err != nil {
			return fmt.Errorf("push %s: %w", tag, err)
		}
		if err := remotes.PushContent(ctx, pusher, desc, store, nil, platforms.All, nil); err != nil {
			return fmt.Errorf("push %s: %w", tag, err)
		}
	}
	return nil
}

// Find returns the descriptor of the image with digest dgst listed in the
// layout's index.json, or its only image when dgst is empty.
func Find(dir, dgst string) (ocispec.Descriptor, error) {
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("OCI layout %s: index.json: %w", dir, err)
	}
	for _, m := range idx.Manifests {
		if dgst == "" || m.Digest.String() == dgst {
			return m, nil
		}
	}
	if dgst == "" {
		return ocispec.Descriptor{}, fmt.Errorf("OCI layout %s holds no image", dir)
	}
	return ocispec.Descriptor{}, fmt.Errorf("OCI layout %s has no image %s", dir, dgst)
}

// Normalize expands a short reference the way Docker does: a name without a
// registry is on docker.io, a single path component is under library/, and
// a missing tag is latest.
func Normalize(ref string) string {
	name, digest, hasDigest := strings.Cut(ref, "@")
	first, rest, hasSlash := strings.Cut(name, "/")
	if !hasSlash || !strings.ContainsAny(first, ".:") && first != "localhost" {
		if !hasSlash {
			name = "docker.io/library/" + name
		} else {
			name = "docker.io/" + first + "/" + rest
		}
	}
	if hasDigest {
		return name + "@" + digest
	}
	if i := strings.LastIndex(name, ":"); i <= strings.LastIndex(name, "/") {
		name += ":latest"
	}
	return name
}

// layoutStore reads blobs of an OCI layout folder. It is read-only and
// writes nothing into the layout (a containerd local store would add its
// ingest folders and log about the file system).
type layoutStore string

func (l layoutStore) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, err
	}
	p := filepath.Join(string(l), "blobs", desc.Digest.Algorithm().String(), desc.Digest.Encoded())
	f, err := os.Open(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("blob %s not in layout %s: %w", desc.Digest, string(l), errdefs.ErrNotFound)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return sizedFile{f, st.Size()}, nil
}

type sizedFile struct {
	*os.File
	size int64
}

func (s sizedFile) Size() int64 { return s.size }
