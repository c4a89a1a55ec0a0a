package reconcile

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Network attaches a replica to a network. The node ships only the host
// network; bridge networking (CNI), service discovery and the ingress plug in
// here: SpecOpts shape the container (its network namespace), Attach runs
// once the task exists (so a CNI plugin can enter /proc/PID/ns/net) and
// returns the address health checks and endpoints use, Detach undoes it.
type Network interface {
	Name() string
	SpecOpts(d, svc string, s *spec.Service) []oci.SpecOpts
	Attach(ctx context.Context, containerID string, pid uint32) (addr string, err error)
	Detach(ctx context.Context, containerID string) error
}

// HostNetwork shares the node's network namespace: replicas are reached on
// the node's loopback and bind their ports on the node directly.
type HostNetwork struct{}

func (HostNetwork) Name() string { return string(spec.NetworkHost) }

func (HostNetwork) SpecOpts(string, string, *spec.Service) []oci.SpecOpts {
	return []oci.SpecOpts{oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf}
}

func (HostNetwork) Attach(context.Context, string, uint32) (string, error) { return "127.0.0.1", nil }
func (HostNetwork) Detach(context.Context, string) error                   { return nil }

// Networks maps network_mode to its implementation; a mode missing here is
// refused at apply time rather than silently run on the host.
type Networks map[spec.NetworkMode]Network

func (n Networks) For(mode spec.NetworkMode) (Network, error) {
	if net, ok := n[mode]; ok {
		return net, nil
	}
	return nil, fmt.Errorf("network_mode %q is not available on this node", mode)
}
