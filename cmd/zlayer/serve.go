package main

import (
	"context"
	"log/slog"
)

// ServeCmd runs the node runtime.
type ServeCmd struct {
	DataDir           string `name:"data-dir" env:"ZLAYER_DATA_DIR" default:"/var/lib/zlayer" help:"Node data directory." type:"path"`
	Socket            string `env:"ZLAYER_SOCKET" default:"/run/zlayer/zlayer.sock" help:"Unix socket of the API."`
	Bind              string `env:"ZLAYER_BIND" default:"0.0.0.0:3669" help:"TCP address of the API (bearer token required)."`
	TokenFile         string `name:"token-file" env:"ZLAYER_TOKEN_FILE" help:"File holding the API token (default: generated into the data dir)." type:"path"`
	Config            string `env:"ZLAYER_CONFIG" help:"Node config file (registries, TLS, network)." type:"path"`
	ContainerdSocket  string `name:"containerd-socket" env:"CONTAINERD_SOCKET" default:"/run/containerd/containerd.sock" help:"containerd to use; started as a child when it does not answer."`
	Namespace         string `env:"ZLAYER_NAMESPACE" default:"zlayer" help:"containerd namespace for containers."`
	StateDir          string `name:"state-dir" env:"ZLAYER_STATE_DIR" default:"/var/lib/zlayer/containers" help:"Container state, logs and exit records." type:"path"`
	Snapshotter       string `env:"ZLAYER_SNAPSHOTTER" default:"overlayfs" help:"containerd snapshotter."`
	ContainerdRuntime string `name:"runtime" env:"ZLAYER_RUNTIME" default:"io.containerd.zlayer.v1" help:"containerd runtime for containers."`
}

func (c *ServeCmd) Run(ctx context.Context, log *slog.Logger) error {
	return errNotImplemented("serve", "#6")
}
