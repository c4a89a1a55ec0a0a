package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/cluster"
	"github.com/zlayer/zlayer/noderuntime/network"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// ClusterFlags make `zlayer serve` a cluster node.
type ClusterFlags struct {
	ClusterInit    bool              `name:"cluster-init" env:"ZLAYER_CLUSTER_INIT" help:"Make this node the first server of a new cluster (its deployments move into the cluster)."`
	NodeName       string            `name:"node-name" env:"ZLAYER_NODE_NAME" help:"This node's name in the cluster (default: the host name)."`
	NodeLabel      map[string]string `name:"node-label" env:"ZLAYER_NODE_LABEL" mapsep:"," help:"A label of this node, k=v (repeatable), matched by services' node_selector."`
	Advertise      string            `name:"advertise-address" env:"ZLAYER_ADVERTISE_ADDRESS" help:"IP the other nodes reach this one at (default: --bind's IP, else the default route's)."`
	ClusterCIDR    string            `name:"cluster-cidr" env:"ZLAYER_CLUSTER_CIDR" default:"10.244.0.0/16" help:"Range the nodes' replica subnets are taken from (a /24 each)."`
	EtcdClientPort int               `name:"etcd-client-port" env:"ZLAYER_ETCD_CLIENT_PORT" default:"2379" help:"Port of a server's etcd member for clients (mTLS)."`
	EtcdPeerPort   int               `name:"etcd-peer-port" env:"ZLAYER_ETCD_PEER_PORT" default:"2380" help:"Port of a server's etcd member for its peers (mTLS)."`
	LeaseTTL       time.Duration     `name:"lease-ttl" env:"ZLAYER_LEASE_TTL" default:"10s" help:"A node whose lease is not renewed for this long is not ready, and its replicas run elsewhere."`
}

// JoinCmd is serve plus joining a cluster.
type JoinCmd struct {
	API    string `required:"" help:"API URL of a server of the cluster, https://HOST:3669."`
	Token  string `env:"ZLAYER_JOIN_TOKEN" help:"Join token from 'zlayer token create' (or a server's DATA-DIR/cluster/token.agent|token.server); not needed when the node joined before."`
	Server bool   `help:"Join as a server: run an etcd member and answer for the cluster (the token must be a server token)."`
	ServeCmd
}

func (c *JoinCmd) Help() string {
	return `Joins this node to a cluster, then serves as 'zlayer serve' does (every serve flag works).

The token pins the cluster's CA: the node checks the server's CA against the token's hash before it
sends anything secret, then gets its certificate. Restarts use that certificate; 'zlayer serve' on
the same --data-dir starts the node as the cluster member it is.

Example:
  zlayer token create --role agent              # on a server
  zlayer join --api https://10.0.0.1:3669 --token ZL10... --node-label disk=ssd`
}

func (c *JoinCmd) Run(ctx context.Context, log *slog.Logger) error {
	if c.Token == "" && !cluster.IsMember(c.DataDir) {
		return errors.New("--token is required to join (make one with 'zlayer token create --role agent|server' on a server)")
	}
	return c.serve(ctx, log, c)
}

// clusterRuntime prepares the node's part in a cluster, or nil when it is
// a node on its own.
// nc is the node config's say on the cluster network.
func (c *ServeCmd) clusterRuntime(ctx context.Context, log *slog.Logger, join *JoinCmd, nc network.ClusterSection) (*cluster.Runtime, error) {
	if !c.ClusterInit && join == nil && !cluster.IsMember(c.DataDir) {
		return nil, nil
	}
	if c.ClusterInit && join != nil {
		return nil, errors.New("--cluster-init makes a new cluster; it cannot be given to join")
	}
	if c.LeaseTTL < 2*time.Second {
		return nil, fmt.Errorf("--lease-ttl %s: at least 2s (a node renews its lease every 2s)", c.LeaseTTL)
	}
	if c.Bind == "" {
		return nil, errors.New("a cluster node needs --bind: the other nodes reach its API there")
	}
	host, portText, err := net.SplitHostPort(c.Bind)
	if err != nil {
		return nil, fmt.Errorf("--bind %q: %w", c.Bind, err)
	}
	port, _ := strconv.Atoi(portText)
	advertise := c.Advertise
	if ip := net.ParseIP(host); advertise == "" && ip != nil && !ip.IsUnspecified() {
		advertise = host
	}
	adminFile, readFile := c.tokenFiles()
	admin, err := api.LoadOrCreateToken(adminFile)
	if err != nil {
		return nil, fmt.Errorf("API token: %w", err)
	}
	read, err := api.LoadOrCreateToken(readFile)
	if err != nil {
		return nil, fmt.Errorf("API read token: %w", err)
	}
	cfg := cluster.Config{
		DataDir: c.DataDir, Init: c.ClusterInit, NodeName: c.NodeName, Labels: c.NodeLabel, Advertise: advertise,
		APIPort: port, EtcdClientPort: c.EtcdClientPort, EtcdPeerPort: c.EtcdPeerPort, ClusterCIDR: c.ClusterCIDR,
		LeaseTTL: c.LeaseTTL, Version: buildVersion(), Log: log, AdminToken: admin, ReadToken: read,
		NetworkMode: nc.ModeOrDefault(), WireGuardPort: nc.PortOrDefault(),
		WriteTokens: func(admin, read string) error {
			if err := pki.WriteFile(adminFile, []byte(admin+"\n"), 0o600); err != nil {
				return err
			}
			return pki.WriteFile(readFile, []byte(read+"\n"), 0o600)
		},
	}
	if join != nil {
		cfg.JoinAPI, cfg.JoinToken, cfg.Server = strings.TrimRight(join.API, "/"), join.Token, join.Server
	}
	return cluster.Prepare(ctx, cfg)
}

// tokenFiles are where the node's API tokens live.
func (c *ServeCmd) tokenFiles() (admin, read string) {
	admin, read = c.TokenFile, c.ReadTokenFile
	if admin == "" {
		admin = filepath.Join(c.DataDir, "token")
	}
	if read == "" {
		read = filepath.Join(c.DataDir, "token.read")
	}
	return admin, read
}
