package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/network"
	"github.com/zlayer/zlayer/noderuntime/node"
	"github.com/zlayer/zlayer/noderuntime/nodeconfig"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
	"github.com/zlayer/zlayer/shim/contract"
)

// ServeCmd runs the node runtime.
type ServeCmd struct {
	DataDir           string        `name:"data-dir" env:"ZLAYER_DATA_DIR" default:"/var/lib/zlayer" help:"Node data directory." type:"path"`
	Socket            string        `env:"ZLAYER_SOCKET" default:"/run/zlayer/zlayer.sock" help:"Unix socket of the API (mode 0660)."`
	Bind              string        `env:"ZLAYER_BIND" default:"0.0.0.0:3669" help:"TCP address of the API, TLS only (bearer token required; empty: no TCP)."`
	InsecureBind      string        `name:"insecure-bind" env:"ZLAYER_INSECURE_BIND" help:"TCP address serving the API over plain HTTP (token in clear text: loopback or a trusted network only)."`
	TLSCert           string        `name:"tls-cert" env:"ZLAYER_TLS_CERT" help:"Serving certificate (PEM chain) of the TLS API (default: issued by the node's own CA in DATA-DIR/tls)." type:"path"`
	TLSKey            string        `name:"tls-key" env:"ZLAYER_TLS_KEY" help:"Key of --tls-cert (mode 0600)." type:"path"`
	TLSSAN            []string      `name:"tls-san" env:"ZLAYER_TLS_SAN" help:"Extra DNS names or IPs of the node's serving certificate (repeatable)."`
	TokenFile         string        `name:"token-file" env:"ZLAYER_TOKEN_FILE" help:"File holding the API admin token, mode 0600 (default: generated into the data dir)." type:"path"`
	ReadTokenFile     string        `name:"read-token-file" env:"ZLAYER_READ_TOKEN_FILE" help:"File holding the read-only API token (GET only: status, logs, metrics), mode 0600 (default: DATA-DIR/token.read, generated)." type:"path"`
	APIHeaderTimeout  time.Duration `name:"api-header-timeout" env:"ZLAYER_API_HEADER_TIMEOUT" default:"10s" help:"Time a client has to send a request head (and TLS handshake) to the API."`
	APIMaxConns       int           `name:"api-max-conns" env:"ZLAYER_API_MAX_CONNS" default:"256" help:"Open TCP connections the API accepts at once (more wait); the unix socket has its own cap."`
	Config            string        `env:"ZLAYER_CONFIG" help:"Node config file: registry mirrors and plain-HTTP registries (k3s registries.yaml style), network (bridge, subnet, default_mode, plugin_dirs) and ingress (listen, certs)." type:"path"`
	ContainerdSocket  string        `name:"containerd-socket" env:"CONTAINERD_SOCKET" default:"/run/containerd/containerd.sock" help:"containerd to use; started as a child when it does not answer."`
	Namespace         string        `env:"ZLAYER_NAMESPACE" default:"zlayer" help:"containerd namespace for containers."`
	StateDir          string        `name:"state-dir" env:"ZLAYER_STATE_DIR" help:"Container state, logs and exit records (default: DATA-DIR/containers)." type:"path"`
	Snapshotter       string        `env:"ZLAYER_SNAPSHOTTER" default:"overlayfs" help:"containerd snapshotter (overlayfs falls back to native where it cannot mount)."`
	ContainerdRuntime string        `name:"runtime" env:"ZLAYER_RUNTIME" default:"io.containerd.zlayer.v1" help:"containerd runtime for containers (io.containerd.zlayer.v1 or io.containerd.runc.v2)."`
	StopTimeout       time.Duration `name:"stop-timeout" env:"ZLAYER_STOP_TIMEOUT" default:"10s" help:"Grace between SIGTERM and SIGKILL when a replica stops."`
	LogMaxSize        string        `name:"log-max-size" env:"ZLAYER_LOG_MAX_SIZE" default:"10m" help:"Size at which a replica's log rotates (b, k, m, g: powers of 1024)."`
	LogMaxFiles       string        `name:"log-max-files" env:"ZLAYER_LOG_MAX_FILES" default:"3" help:"Files a replica's log keeps, the current one included."`
	PullTimeout       time.Duration `name:"pull-progress-timeout" env:"ZLAYER_PULL_PROGRESS_TIMEOUT" default:"1m" help:"Fail an image pull when the registry sends nothing for this long (retried with backoff); big images that keep arriving are not cut off."`
	CreateTimeout     time.Duration `name:"create-timeout" env:"ZLAYER_CREATE_TIMEOUT" default:"2m" help:"Fail creating or restarting a replica's container that takes longer (a wedged shim); retried with backoff."`
	ClusterFlags
}

func (c *ServeCmd) Run(ctx context.Context, log *slog.Logger) error { return c.serve(ctx, log, nil) }

// serve runs the node; join, when set, makes it join a cluster first.
func (c *ServeCmd) serve(ctx context.Context, log *slog.Logger, join *JoinCmd) error {
	// The node is mostly idle; a soft limit keeps its footprint small
	// without capping what a burst of work may use.
	debug.SetMemoryLimit(32 << 20)
	// Read by the shim's own rule, as it reads the annotations they become.
	logOpts, err := contract.LogOptions(map[string]string{
		contract.LogMaxSizeAnnotation: c.LogMaxSize, contract.LogMaxFilesAnnotation: c.LogMaxFiles,
	})
	if err != nil {
		return fmt.Errorf("--log-max-size/--log-max-files: %w", err)
	}
	// Node networking: bridge mode through CNI (when its plugins are
	// installed or configured), the ingress on public endpoints' ports and
	// service discovery; see the network and ingress sections of --config.
	conf, err := nodeconfig.Load(c.Config)
	if err != nil {
		return err
	}
	member, err := c.clusterRuntime(ctx, log, join, conf.Network.Cluster)
	if err != nil {
		return err
	}
	var clusterPart node.Cluster
	var clusterNet *network.ClusterNet
	if member != nil {
		defer member.Close()
		// The config's certificates are the cluster's (a server shares
		// them; every node serves what the servers share, its own first).
		certs, err := ingress.ReadCerts(conf.Ingress.Certs)
		if err != nil {
			return err
		}
		member.ShareIngressCerts(certs)
		clusterNet = member.Network()
		clusterPart = member
		if member.Role() == "server" {
			// An etcd member's working set is larger than the node's
			// alone: under the node's soft limit the collector would run
			// all the time, on the path of every write.
			debug.SetMemoryLimit(128 << 20)
		}
	}
	nn, err := network.SetupCluster(c.DataDir, conf.Network, conf.Ingress, clusterNet, log.With("component", "network"))
	if err != nil {
		return err
	}
	return node.Run(ctx, node.Config{
		Cluster: clusterPart,
		DataDir: c.DataDir, Socket: c.Socket, Bind: c.Bind, TokenFile: c.TokenFile, Registries: &conf.Registries,
		InsecureBind: c.InsecureBind, ReadTokenFile: c.ReadTokenFile,
		TLS:              api.TLSFiles{Cert: c.TLSCert, Key: c.TLSKey, SANs: c.TLSSAN},
		APILimits:        api.Limits{ReadHeaderTimeout: c.APIHeaderTimeout, MaxConns: c.APIMaxConns},
		ContainerdSocket: c.ContainerdSocket, Namespace: c.Namespace, StateDir: c.StateDir, LogOptions: logOpts,
		Snapshotter: c.Snapshotter, Runtime: c.ContainerdRuntime, StopTimeout: c.StopTimeout, Log: log,
		PullProgressTimeout: c.PullTimeout, CreateTimeout: c.CreateTimeout,
		Version:  buildVersion(),
		Networks: nn.Networks(), DefaultNetworkMode: nn.DefaultMode, Extensions: []func(context.Context, *reconcile.Controller, *store.Store) error{nn.Extension},
		BeforeStop: nn.BeforeStop(c.StopTimeout),
	})
}
