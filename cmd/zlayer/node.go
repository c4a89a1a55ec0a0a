package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

// NodeFlags locate the node API for the client commands.
type NodeFlags struct {
	Host          string `env:"ZLAYER_HOST" default:"/run/zlayer/zlayer.sock" help:"Node API: a unix socket path, an https://HOST:PORT URL (token required), or http:// for a node's --insecure-bind."`
	Token         string `env:"ZLAYER_TOKEN" help:"Bearer token for a TCP node API."`
	TokenFile     string `name:"token-file" env:"ZLAYER_TOKEN_FILE" help:"File holding the bearer token." type:"path"`
	CAFile        string `name:"ca-file" env:"ZLAYER_CA_FILE" help:"CA certificate the node's TLS certificate must chain to (the node's DATA-DIR/tls/ca.crt)." type:"path"`
	CAFingerprint string `name:"ca-fingerprint" env:"ZLAYER_CA_FINGERPRINT" help:"sha256:HEX fingerprint of the node's CA (logged by serve, in DATA-DIR/tls/ca.fingerprint); remembered in --known-nodes once verified."`
	KnownNodes    string `name:"known-nodes" env:"ZLAYER_KNOWN_NODES" help:"File remembering nodes' fingerprints by host:port (default: USER-CONFIG-DIR/zlayer/known_nodes)." type:"path"`
}

func (f *NodeFlags) client() (*apiclient.Client, error) {
	token := f.Token
	if token == "" && f.TokenFile != "" {
		b, err := os.ReadFile(f.TokenFile)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(b))
	}
	known := f.KnownNodes
	if known == "" {
		if dir, err := os.UserConfigDir(); err == nil {
			known = filepath.Join(dir, "zlayer", "known_nodes")
		}
	}
	return apiclient.NewWith(f.Host, apiclient.Options{Token: token, CAFile: f.CAFile, CAFingerprint: f.CAFingerprint, KnownNodes: known})
}

// serviceClient is client() plus the deployment and service that service
// (and deployment, when given) name on the node, as the commands acting on
// one service need.
func (f *NodeFlags) serviceClient(ctx context.Context, service, deployment string) (cl *apiclient.Client, dep, svc string, err error) {
	if cl, err = f.client(); err != nil {
		return nil, "", "", err
	}
	if dep, svc, err = cl.ResolveService(ctx, service, deployment); err != nil {
		return nil, "", "", err
	}
	return cl, dep, svc, nil
}
