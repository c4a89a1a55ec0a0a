package network

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/discovery"
	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/nameserver"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Network modes.
const (
	ModeBridge = spec.NetworkBridge
	ModeHost   = spec.NetworkHost
)

// NetworkSection is the `network:` section of the node config file
// (`zlayer serve --config`, read once by noderuntime/nodeconfig):
//
//	network:
//	  disabled: false         # true: host networking only
//	  default_mode: bridge    # or host: what specs without network_mode get
//	  bridge: zlayer0
//	  subnet: 10.210.0.0/16
//	  mtu: 1500
//	  plugin_dirs: [/opt/cni/bin]
//	  netns_dir: /run/zlayer/netns
//	  cluster:                # cluster nodes only, see ClusterSection
//	    mode: host-gw         # or wireguard
//	    wireguard_port: 51871
//	  dns: {...}              # see DNSSection
type NetworkSection struct {
	// Disabled turns bridge networking off: every replica shares the
	// node's network.
	Disabled    bool             `yaml:"disabled" doc:"Turn bridge networking off: every replica shares the node's network."`
	DefaultMode spec.NetworkMode `yaml:"default_mode" enum:"bridge,host" doc:"network_mode of services that set none (default bridge when networking is on)."`
	DNS         DNSSection       `yaml:"dns" nullable:"true" doc:"The node's DNS server for bridge replicas: service names of the cluster, other names forwarded."`
	Config      `yaml:",inline"`
	// Cluster is how a cluster node's replicas reach the other nodes'.
	Cluster ClusterSection `yaml:"cluster" doc:"How a cluster node's replicas reach the other nodes' replicas."`
}

// IngressSection is the `ingress:` section of the node config file:
//
//	ingress:
//	  listen: 0.0.0.0          # address the public ports bind
//	  disabled: false
//	  certs:
//	    - {hosts: [example.com], cert: /etc/zlayer/example.crt, key: /etc/zlayer/example.key}
//	  trusted_proxies: [10.0.0.0/8, 127.0.0.1]  # peers whose X-Forwarded-* are kept
//	  fast_path: true           # false: every http request through net/http
//	  prefer_local: true        # cluster: this node's replicas while one is healthy
//	  max_conns: 10000          # per http/https/tcp listener
//	  max_conns_per_source: 256
//	  header_timeout: 30s       # TLS handshake and request head
//	  idle_timeout: 120s        # http keep-alive
//	  write_timeout: 60s        # a client that reads nothing this long is cut off
//	  tcp_idle_timeout: 10m
//	  udp_idle_timeout: 60s
//	  udp_max_sessions: 10000   # per udp listener
//	  udp_max_sessions_per_source: 256
type IngressSection struct {
	Listen   string         `yaml:"listen" doc:"IP address the public ports bind (default 0.0.0.0)."`
	Disabled bool           `yaml:"disabled" doc:"Turn the ingress off."`
	Certs    []ingress.Cert `yaml:"certs" doc:"TLS certificates for https endpoints, chosen by SNI host."`
	// TrustedProxies are addresses or CIDRs; the config reader parses them
	// into TrustedPrefixes.
	TrustedProxies  []string       `yaml:"trusted_proxies" doc:"Addresses or CIDRs of peers whose X-Forwarded-* headers are kept."`
	TrustedPrefixes []netip.Prefix `yaml:"-"`
	FastPath        *bool          `yaml:"fast_path" doc:"false: every http request goes through net/http (default true)."`
	PreferLocal     *bool          `yaml:"prefer_local" doc:"In a cluster, send requests to this node's replicas while one is healthy, to the other nodes' only when none is; false spreads them over all (default true)."`

	MaxConns                int           `yaml:"max_conns" minimum:"0" doc:"Connections per http/https/tcp listener (0: the default)."`
	MaxConnsPerSource       int           `yaml:"max_conns_per_source" minimum:"0" doc:"Connections per source address (0: the default)."`
	HeaderTimeout           time.Duration `yaml:"header_timeout" doc:"Time for the TLS handshake and request head, at least 10ms (0: the default)."`
	IdleTimeout             time.Duration `yaml:"idle_timeout" doc:"HTTP keep-alive idle time, at least 10ms (0: the default)."`
	WriteTimeout            time.Duration `yaml:"write_timeout" doc:"A client that reads nothing this long is cut off, at least 10ms (0: the default)."`
	TCPIdleTimeout          time.Duration `yaml:"tcp_idle_timeout" doc:"Idle time of a proxied TCP connection, at least 10ms (0: the default)."`
	UDPIdleTimeout          time.Duration `yaml:"udp_idle_timeout" doc:"Idle time of a UDP session, at least 10ms (0: the default)."`
	UDPMaxSessions          int           `yaml:"udp_max_sessions" minimum:"0" doc:"Sessions per udp listener (0: the default)."`
	UDPMaxSessionsPerSource int           `yaml:"udp_max_sessions_per_source" minimum:"0" doc:"UDP sessions per source address (0: the default)."`
}

// Options are the ingress settings of the section (the rest of
// ingress.Options comes from the node).
func (i IngressSection) Options() ingress.Options {
	return ingress.Options{
		ListenHost:     i.Listen,
		Certs:          i.Certs,
		TrustedProxies: i.TrustedPrefixes,
		NoFastPath:     i.FastPath != nil && !*i.FastPath,
		PreferLocal:    i.PreferLocal == nil || *i.PreferLocal,
		Limits: ingress.Limits{
			MaxConns: i.MaxConns, MaxConnsPerSource: i.MaxConnsPerSource,
			HeaderTimeout: i.HeaderTimeout, IdleTimeout: i.IdleTimeout, WriteTimeout: i.WriteTimeout,
			TCPIdle: i.TCPIdleTimeout, UDPIdle: i.UDPIdleTimeout,
			MaxUDPSessions: i.UDPMaxSessions, MaxUDPSessionsPerSource: i.UDPMaxSessionsPerSource,
		},
	}
}

// View is a deployment as the node sees it: its spec and its replicas.
type View struct {
	Spec     *spec.Deployment
	Replicas []ingress.Replica
}

// Node ties the node's networking together: it feeds the ingress the ready
// replicas of public endpoints and keeps the DNS server's names and the
// discovery hosts files current.
type Node struct {
	Bridge  *Bridge          // nil when bridge networking is off
	Ingress *ingress.Ingress // nil when the ingress is off
	Log     *slog.Logger
	// DefaultMode is what specs without network_mode get on this node.
	DefaultMode spec.NetworkMode
	// DNS answers bridge replicas' queries at the gateway (nil when off).
	DNS *nameserver.Server

	// Set in a cluster (routes only with bridge networking on).
	cluster *ClusterNet
	routes  clusterRoutes

	lastErr string
}

// Sync applies one view of the node.
func (n *Node) Sync(views []View) error {
	var routes []ingress.Route
	var peers []discovery.Peer
	for _, v := range views {
		if v.Spec == nil {
			continue
		}
		reps := v.Replicas
		if n.cluster != nil && slices.ContainsFunc(reps, func(r ingress.Replica) bool { return r.Node == n.cluster.Node }) {
			// The ingress tells local replicas by an empty Node.
			reps = slices.Clone(reps)
			for i := range reps {
				if reps[i].Node == n.cluster.Node {
					reps[i].Node = ""
				}
			}
		}
		routes = append(routes, ingress.Routes(v.Spec, reps)...)
		for _, r := range v.Replicas {
			ip := r.Addr
			if s := v.Spec.Services[r.Service]; s != nil && s.NetworkMode == ModeHost && n.Bridge != nil && n.local(r) {
				// Host-network replicas listen on the node, which bridge
				// replicas reach at the gateway. Another node's are
				// reached at that node's address, which Addr is already.
				ip = n.Bridge.Gateway().String()
			}
			peers = append(peers, discovery.Peer{ID: r.ID, Deployment: r.Deployment, Service: r.Service, Index: r.Index, IP: ip, Ready: r.Ready && r.Addr != ""})
		}
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Port < routes[j].Port })
	var errs []error
	if n.Ingress != nil {
		errs = append(errs, n.Ingress.Update(routes))
	}
	if n.Bridge != nil {
		errs = append(errs, n.Bridge.Hosts().SetPeers(peers))
	}
	if n.DNS != nil {
		n.DNS.SetServices(dnsServices(views, peers))
	}
	err := errors.Join(errs...)
	// The same problem every poll is logged once.
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg != n.lastErr && n.Log != nil {
		if err != nil {
			n.Log.Warn("network sync", "err", err)
		} else if n.lastErr != "" {
			n.Log.Info("network sync recovered")
		}
	}
	n.lastErr = msg
	return err
}

// local reports whether r runs on this node.
func (n *Node) local(r ingress.Replica) bool {
	return r.Node == "" || n.cluster != nil && r.Node == n.cluster.Node
}

// Run syncs at once whenever src publishes a change (routes follow
// readiness as soon as the reconciler records it) until ctx ends. It also
// re-syncs every fallback without a change, and after a failed sync within a
// second: what Sync applies can change behind the reconciler's back (a
// public port held by another process is freed, a replica's hosts file is
// rewritten, the store could not be read), and nothing publishes that.
func (n *Node) Run(ctx context.Context, src changes.Source, fallback time.Duration, views func() []View) {
	if fallback <= 0 {
		fallback = DefaultResync
	}
	t := time.NewTimer(fallback)
	defer t.Stop()
	for {
		// The version is read before the views: a change while syncing
		// wakes the next wait at once.
		v := src.Version()
		wait := fallback
		if err := n.Sync(views()); err != nil {
			wait = min(fallback, time.Second)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-src.After(v):
		case <-t.C:
		}
	}
}

// DefaultResync is Run's fallback re-sync without a change.
const DefaultResync = 5 * time.Second

// Drain takes a replica out of the ingress and waits (up to timeout) for its
// in-flight requests: the reconciler calls it before stopping a replica.
func (n *Node) Drain(ctx context.Context, id string, timeout time.Duration) {
	if n.Ingress == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := n.Ingress.Drain(ctx, id); err != nil && n.Log != nil {
		n.Log.Warn("drain", "replica", id, "err", err)
	}
}
