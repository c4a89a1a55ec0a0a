package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/clusterjoin"
	"github.com/zlayer/zlayer/noderuntime/clusterstate"
	"github.com/zlayer/zlayer/noderuntime/network"
)

// subnetFile is the node's share of the cluster CIDR as the cluster gave it,
// kept in the identity folder: the bridge needs it before the node can
// reach any server.
type subnetFile struct {
	Subnet      string `json:"subnet"`
	ClusterCIDR string `json:"cluster_cidr"`
	// NetworkMode is the cluster network mode the node joined with (empty
	// in files written before it was kept).
	NetworkMode string `json:"network_mode,omitempty"`
}

func (rt *Runtime) subnetPath() string { return filepath.Join(rt.dir, "subnet.json") }

// loadSubnet reads the node's saved subnet; a server without one (the first
// start of a cluster, or one made before subnets were kept) is given one
// from etcd, an agent keeps what its join gave it.
func (rt *Runtime) loadSubnet(ctx context.Context, joined string) error {
	var f subnetFile
	err := loadJSON(rt.subnetPath(), &f)
	switch {
	case err == nil:
		if f.ClusterCIDR != rt.cfg.ClusterCIDR && rt.cfg.ClusterCIDR != DefaultClusterCIDR {
			rt.log.Warn("--cluster-cidr differs from the one this node joined with; keeping the node's", "node", f.ClusterCIDR, "flag", rt.cfg.ClusterCIDR)
		}
		if f.NetworkMode != "" && f.NetworkMode != rt.cfg.NetworkMode {
			return fmt.Errorf("%w: this node joined a cluster whose network mode is %s, its node config says %s (set network.cluster.mode: %s)",
				clusterjoin.ErrNetworkMismatch, f.NetworkMode, rt.cfg.NetworkMode, f.NetworkMode)
		}
		f.NetworkMode = rt.cfg.NetworkMode
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("this node's subnet: %w", err)
	default:
		f = subnetFile{Subnet: joined, ClusterCIDR: rt.cfg.ClusterCIDR, NetworkMode: rt.cfg.NetworkMode}
		if f.Subnet == "" && rt.state != nil {
			cidr, err := netip.ParsePrefix(rt.cfg.ClusterCIDR)
			if err != nil {
				return err
			}
			sub, err := rt.state.AllocateSubnet(ctx, rt.name, cidr, DefaultSubnetBits)
			if err != nil {
				return fmt.Errorf("a subnet for this node: %w", err)
			}
			f.Subnet = sub.String()
		}
		if f.Subnet == "" {
			rt.log.Warn("the cluster gave this node no subnet: bridge replicas are not reachable from other nodes (join again to get one)")
			return nil
		}
	}
	sub, err := netip.ParsePrefix(f.Subnet)
	if err != nil {
		return fmt.Errorf("this node's subnet %q: %w", f.Subnet, err)
	}
	cidr, err := netip.ParsePrefix(f.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("this node's cluster CIDR %q: %w", f.ClusterCIDR, err)
	}
	if !cidr.Contains(sub.Addr()) {
		return fmt.Errorf("the cluster gave this node the subnet %s, outside --cluster-cidr %s: give the cluster's --cluster-cidr", sub, cidr)
	}
	if err := saveJSON(rt.subnetPath(), f); err != nil {
		return err
	}
	rt.subnet, rt.cidr = sub, cidr
	return nil
}

// Network is the node's part of the cluster's network for the node's
// bridge and routes; nil when the node has no subnet.
func (rt *Runtime) Network() *network.ClusterNet {
	if !rt.subnet.IsValid() {
		return nil
	}
	return &network.ClusterNet{CIDR: rt.cidr, Subnet: rt.subnet, Peers: rt.Peers, Changes: &rt.peerFeed,
		Mode: rt.cfg.NetworkMode, Key: rt.wgKey, Port: rt.cfg.WireGuardPort,
		Node: rt.name, Replicas: rt.RemoteReplicas, ReplicaChanges: &rt.replicaFeed, Certs: rt.ClusterCerts}
}

// Peers are the cluster's other ready nodes with a subnet, as last read;
// known is false until the node has read its work once.
func (rt *Runtime) Peers() (peers []network.Peer, known bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.nodePeers), rt.peersKnown
}

// notePeers takes the node subnets of a work into Peers.
func (rt *Runtime) notePeers(subnets []apitypes.NodeSubnet) {
	var peers []network.Peer
	for _, s := range subnets {
		if s.Node == rt.name {
			continue
		}
		sub, err1 := netip.ParsePrefix(s.Subnet)
		via, err2 := netip.ParseAddr(s.Address)
		if err1 != nil || err2 != nil {
			continue
		}
		p := network.Peer{Node: s.Node, Subnet: sub, Via: via, PublicKey: s.PublicKey}
		if ep, err := netip.ParseAddrPort(s.Endpoint); err == nil {
			p.Port = int(ep.Port())
		}
		peers = append(peers, p)
	}
	rt.mu.Lock()
	same := rt.peersKnown && slices.Equal(peers, rt.nodePeers)
	rt.nodePeers, rt.peersKnown = peers, true
	rt.mu.Unlock()
	if !same {
		rt.peerFeed.Publish()
	}
}

// subnetsOf lists the ready nodes' subnets for a work (servers only).
func subnetsOf(nodes []clusterstate.NodeInfo, alive map[string]bool) []apitypes.NodeSubnet {
	var out []apitypes.NodeSubnet
	for _, n := range nodes {
		if alive[n.Name] && n.Subnet != "" && n.Address != "" {
			s := apitypes.NodeSubnet{Node: n.Name, Subnet: n.Subnet, Address: n.Address, PublicKey: n.WireGuardKey}
			if ip, err := netip.ParseAddr(n.Address); err == nil && n.WireGuardPort > 0 {
				s.Endpoint = netip.AddrPortFrom(ip, uint16(n.WireGuardPort)).String()
			}
			out = append(out, s)
		}
	}
	return out
}

// checkNetwork holds a server to the cluster's network mode: the first
// server records its own, a later one whose config says another mode is
// refused (every node must route the same way).
func (rt *Runtime) checkNetwork(ctx context.Context) error {
	n, err := rt.state.InitNetwork(ctx, clusterstate.Network{Mode: rt.cfg.NetworkMode})
	if err != nil {
		return err
	}
	if n.Mode != rt.cfg.NetworkMode {
		return fmt.Errorf("%w: the cluster's network mode is %s, this node's config says %s (set network.cluster.mode: %s in the node config)",
			clusterjoin.ErrNetworkMismatch, n.Mode, rt.cfg.NetworkMode, n.Mode)
	}
	return nil
}

// checkJoiner refuses a joiner whose network mode is not the cluster's.
func (rt *Runtime) checkJoiner(ctx context.Context, name, mode string) error {
	if mode == "" {
		mode = network.ModeHostGW
	}
	n, err := rt.state.InitNetwork(ctx, clusterstate.Network{Mode: rt.cfg.NetworkMode})
	if err != nil {
		return err
	}
	if n.Mode != mode {
		return fmt.Errorf("%w: the cluster's network mode is %s, %s's node config says %s (set network.cluster.mode: %s in its node config)",
			clusterjoin.ErrNetworkMismatch, n.Mode, name, mode, n.Mode)
	}
	return nil
}
