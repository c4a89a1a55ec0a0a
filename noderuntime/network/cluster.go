package network

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/ingress"
)

// Cluster network modes: how a node's replicas reach the other nodes'.
const (
	// ModeHostGW routes each node's subnet via the node's address: the
	// nodes must share a link.
	ModeHostGW = "host-gw"
	// ModeWireGuard tunnels the cluster CIDR through WireGuard between the
	// nodes' addresses: any network that carries UDP between them will do.
	ModeWireGuard = "wireguard"
)

// DefaultWireGuardPort is the UDP port of a node's WireGuard endpoint.
const DefaultWireGuardPort = 51871

// ClusterSection is the `cluster:` part of the node config's network
// section, read by a cluster node only:
//
//	network:
//	  cluster:
//	    mode: wireguard        # or host-gw (the default)
//	    wireguard_port: 51871  # UDP, open between the nodes
type ClusterSection struct {
	Mode          string `yaml:"mode" enum:"host-gw,wireguard" doc:"How replicas reach the other nodes' replicas: host-gw (routes via the nodes' addresses, the nodes share a link) or wireguard (an encrypted overlay over UDP). The same on every node of a cluster (default host-gw)."`
	WireGuardPort int    `yaml:"wireguard_port" minimum:"0" maximum:"65535" doc:"UDP port of the node's WireGuard endpoint, in wireguard mode (0: 51871)."`
}

// ModeOrDefault is the section's mode, host-gw when it names none.
func (c ClusterSection) ModeOrDefault() string {
	if c.Mode == "" {
		return ModeHostGW
	}
	return c.Mode
}

// PortOrDefault is the section's WireGuard port, or the default.
func (c ClusterSection) PortOrDefault() int {
	if c.WireGuardPort == 0 {
		return DefaultWireGuardPort
	}
	return c.WireGuardPort
}

// ClusterNet is the node's place in its cluster's network: what
// noderuntime/cluster knows and the node's network follows.
type ClusterNet struct {
	CIDR   netip.Prefix // the cluster's, e.g. 10.244.0.0/16
	Subnet netip.Prefix // this node's share of it, e.g. 10.244.3.0/24
	// Peers are the other ready nodes, known once the node has read its
	// work; Changes moves on when they may have changed.
	Peers   func() (peers []Peer, known bool)
	Changes changes.Source
	// Mode is ModeHostGW ("" too) or ModeWireGuard; in wireguard mode Key
	// is the node's private key and Port its endpoint's UDP port.
	Mode string
	Key  wgtypes.Key
	Port int

	// Node is this node's name: a replica of that Node is local.
	Node string
	// Replicas are the other nodes' replicas as last reported (Node set,
	// Addr the address this node reaches each at); ReplicaChanges moves on
	// when they (or Certs) may have changed. Nil: the node routes to its
	// own only.
	Replicas       func() []ingress.Replica
	ReplicaChanges changes.Source
	// Certs are the ingress certificates the cluster shares; known is
	// false until the node has heard from the cluster.
	Certs func() (certs []ingress.CertPEM, known bool)
}

// syncCerts hands the cluster's certificates to the ingress when they
// changed since last, the value returned.
func (c *ClusterNet) syncCerts(g *ingress.Ingress, last []ingress.CertPEM, log *slog.Logger) []ingress.CertPEM {
	if c == nil || c.Certs == nil || g == nil {
		return last
	}
	certs, known := c.Certs()
	if !known || last != nil && ingress.SameCerts(certs, last) {
		return last
	}
	if err := g.SetClusterCerts(certs); err != nil {
		// Named by their hosts: a key is never logged.
		log.Warn("ingress: the cluster's certificates", "err", err)
	}
	if certs == nil {
		certs = []ingress.CertPEM{}
	}
	return certs
}

// remote is the other nodes' replicas (none outside a cluster).
func (c *ClusterNet) remote() []ingress.Replica {
	if c == nil || c.Replicas == nil {
		return nil
	}
	return c.Replicas()
}

// changes is what moves the node's views on: the reconciler's changes and,
// in a cluster, the other nodes' replicas.
func (c *ClusterNet) changes(ctx context.Context, local changes.Source) changes.Source {
	if c == nil || c.ReplicaChanges == nil {
		return local
	}
	return merge(ctx, local, c.ReplicaChanges)
}

// merge is a source that moves on whenever one of srcs does, until ctx
// ends.
func merge(ctx context.Context, srcs ...changes.Source) changes.Source {
	out := &changes.Feed{}
	for _, s := range srcs {
		// Read before the caller can see out: a change right after merge
		// returns is not lost.
		v := s.Version()
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-s.After(v):
					v = s.Version()
					out.Publish()
				}
			}
		}()
	}
	return out
}

// clusterRoutes is what a mode does to the node's network: Sync follows
// the peers, ensure keeps what the mode needs before any peer is known,
// Remove takes all of it away.
type clusterRoutes interface {
	Sync(peers []Peer) error
	ensure() error
	Remove() error
}

// routesFor is the mode's implementation for this node.
func (c *ClusterNet) routesFor(log *slog.Logger) (clusterRoutes, error) {
	switch c.Mode {
	case "", ModeHostGW:
		return &HostGW{CIDR: c.CIDR, Subnet: c.Subnet, Log: log}, nil
	case ModeWireGuard:
		return &WireGuard{CIDR: c.CIDR, Subnet: c.Subnet, Key: c.Key, Port: c.Port, Log: log}, nil
	}
	return nil, fmt.Errorf("network: cluster network mode %q: want %s or %s", c.Mode, ModeHostGW, ModeWireGuard)
}

// modeName is the mode as logs and errors name it.
func (c *ClusterNet) modeName() string { return ClusterSection{Mode: c.Mode}.ModeOrDefault() }

// check is the node config's say against the cluster's: a subnet set in
// the config must be the one the cluster gave the node.
func (c *ClusterNet) check(cfg *Config) error {
	if !c.Subnet.IsValid() || !c.CIDR.IsValid() {
		return fmt.Errorf("network: the cluster gave this node no subnet (cluster CIDR %s)", c.CIDR)
	}
	if !c.CIDR.Contains(c.Subnet.Addr()) || c.Subnet.Bits() < c.CIDR.Bits() {
		return fmt.Errorf("network: this node's cluster subnet %s is not inside the cluster CIDR %s", c.Subnet, c.CIDR)
	}
	if cfg.Subnet != "" {
		p, err := netip.ParsePrefix(cfg.Subnet)
		if err != nil || p.Masked() != c.Subnet.Masked() {
			return fmt.Errorf("network: the node config's subnet %s is not this node's cluster subnet %s: in a cluster the bridge takes the subnet the cluster gave the node (remove subnet from the config's network section, or set it to %s)",
				cfg.Subnet, c.Subnet, c.Subnet)
		}
	}
	cfg.Subnet = c.Subnet.Masked().String()
	// Replicas' packets must fit the tunnel: full-size ones would be
	// dropped at the WireGuard interface, each connection waiting for path
	// MTU discovery.
	if c.Mode == ModeWireGuard && cfg.MTU == 0 {
		cfg.MTU = wgMTU
	}
	return nil
}

// routeRetry is how soon routes that could not all be set are tried again.
const routeRetry = 2 * time.Second

// runRoutes keeps the routes to the cluster's other nodes until ctx ends,
// then removes them and the rules (and in wireguard mode the device): a
// stopped node leaves nothing behind (a restarted one puts them back on
// its first sync).
func runRoutes(ctx context.Context, h clusterRoutes, c *ClusterNet, log *slog.Logger) {
	mode := c.modeName()
	defer func() {
		if err := h.Remove(); err != nil {
			log.Warn(mode+": removing the cluster routes", "err", err)
		}
	}()
	lastErr := ""
	for {
		v := c.Changes.Version()
		var err error
		if peers, known := c.Peers(); known {
			err = h.Sync(peers)
		} else {
			// Until the node has heard from the cluster (a node restarted
			// after a crash, cut off), the routes it left stay: they are
			// the best guess there is.
			err = h.ensure()
		}
		wait := time.Duration(0)
		msg := ""
		if err != nil {
			msg, wait = err.Error(), routeRetry
		}
		if msg != lastErr {
			if err != nil {
				log.Warn(mode+": cluster routes", "err", err)
			} else if lastErr != "" {
				log.Info(mode + ": cluster routes set")
			}
			lastErr = msg
		}
		var retry <-chan time.Time
		if wait > 0 {
			retry = time.After(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.Changes.After(v):
		case <-retry:
		}
	}
}
