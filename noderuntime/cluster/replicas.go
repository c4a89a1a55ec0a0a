package cluster

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/ingress"
)

// replicasOf lists, for a work of node, the replicas the other live nodes
// report (servers only): the node's ingress and discovery reach them too.
// A dead node's statuses go with its lease; alive also drops those of a
// node whose lease ended before its statuses did.
func replicasOf(node string, sts map[string][]apitypes.ReplicaStatus, alive map[string]bool) []apitypes.ReplicaStatus {
	var out []apitypes.ReplicaStatus
	for n, rs := range sts {
		if n == node || !alive[n] {
			continue
		}
		for _, r := range rs {
			r.Node = n
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// remoteReplicas turns the other nodes' replicas of a work into what the
// node's network routes to. A bridge replica is reached at its own address
// (the routes to its node's subnet lead there); a host-network one reports
// a loopback address, which is its node's: it is reached at the node's
// advertise address. A replica whose node has no known address, or with no
// address yet, is listed without one (discovery still sees it, nothing
// routes to it).
func remoteReplicas(self string, rs []apitypes.ReplicaStatus, subnets []apitypes.NodeSubnet) []ingress.Replica {
	nodeAddr := map[string]string{}
	for _, s := range subnets {
		nodeAddr[s.Node] = s.Address
	}
	out := make([]ingress.Replica, 0, len(rs))
	for _, r := range rs {
		if r.Node == "" || r.Node == self {
			continue
		}
		addr := ""
		if ip, err := netip.ParseAddr(r.Address); err == nil {
			addr = ip.String()
			if ip.IsLoopback() || ip.IsUnspecified() {
				addr = nodeAddr[r.Node]
			}
		}
		out = append(out, ingress.Replica{ID: r.ID, Deployment: r.Deployment, Service: r.Service, Index: r.Replica,
			Addr: addr, Ready: r.State == apitypes.ReplicaReady, Node: r.Node})
	}
	return out
}

// noteReplicas takes the other nodes' replicas of a work into
// RemoteReplicas, moving replicaFeed on when they changed.
func (rt *Runtime) noteReplicas(w *apitypes.Work) {
	rs := remoteReplicas(rt.name, w.Replicas, w.Subnets)
	rt.mu.Lock()
	same := slices.Equal(rs, rt.remote)
	rt.remote = rs
	rt.mu.Unlock()
	if !same {
		rt.replicaFeed.Publish()
	}
}

// RemoteReplicas are the other nodes' replicas as last read.
func (rt *Runtime) RemoteReplicas() []ingress.Replica {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.remote)
}
