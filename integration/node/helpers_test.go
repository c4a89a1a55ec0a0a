package node

import (
	"context"
	"net/http"

	"testing"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/zlayer/zlayer/integration/scenario"
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

// onNode is a story's fixture: the steps run on its node.
type onNode interface{ node() *Node }

// nodeStep is a story step that has the fixture's node report to the step's
// test while it runs, so a failed CLI call or wait fails the step rather
// than the test that started the node.
func nodeStep[F onNode](name string, run func(t *testing.T, fx F)) scenario.Step[F] {
	return scenario.Step[F]{Name: name, Run: func(t *testing.T, fx F) {
		defer fx.node().Use(t)()
		run(t, fx)
	}}
}
