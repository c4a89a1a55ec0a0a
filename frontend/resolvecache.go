package frontend

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/moby/buildkit/client/llb/sourceresolver"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	digest "github.com/opencontainers/go-digest"
)

// resolveOnce is a gateway client that asks buildkitd about each image once
// per build: stages often share a base (and each platform resolves again),
// and every question is a round trip through the gateway and the registry.
type resolveOnce struct {
	gwclient.Client
	mu      sync.Mutex
	entries map[string]*resolved
}

type resolved struct {
	done chan struct{}
	ref  string
	dgst digest.Digest
	cfg  []byte
	err  error
}

func (c *resolveOnce) ResolveImageConfig(ctx context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	k, err := json.Marshal(struct {
		Ref string
		Opt sourceresolver.Opt
	}{ref, opt})
	if err != nil {
		return c.Client.ResolveImageConfig(ctx, ref, opt)
	}
	key := string(k)
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*resolved{}
	}
	e, ok := c.entries[key]
	if !ok {
		e = &resolved{done: make(chan struct{})}
		c.entries[key] = e
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			return e.ref, e.dgst, e.cfg, e.err
		case <-ctx.Done():
			return "", "", nil, ctx.Err()
		}
	}
	e.ref, e.dgst, e.cfg, e.err = c.Client.ResolveImageConfig(ctx, ref, opt)
	if e.err != nil && ctx.Err() != nil {
		// A cancelled caller must not poison the answer for the others.
		c.mu.Lock()
		delete(c.entries, key)
		c.mu.Unlock()
	}
	close(e.done)
	return e.ref, e.dgst, e.cfg, e.err
}
