package node

import (
	"context"
	"net/http"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/zlayer/zlayer/integration/stack"
)

func namespaced(ctx context.Context, ns string) context.Context {
	return namespaces.WithNamespace(ctx, ns)
}

func withResolver(s *stack.Stack) containerd.RemoteOpt {
	return containerd.WithResolver(s.Resolver())
}

func exportImage(c *containerd.Client, ref string) archive.ExportOpt {
	return archive.WithImage(c.ImageService(), ref)
}

// tlsClient trusts n's CA and offers TLS versions up to max only.
func tlsClient(n *Node, max uint16) *http.Client {
	c := n.HTTPS()
	cfg := c.Transport.(*http.Transport).TLSClientConfig
	cfg.MinVersion, cfg.MaxVersion = 0x0301, max
	return c
}
