package main

import (
	"context"
	"os"
	"strings"

	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

// NodeFlags locate the node API for the client commands.
type NodeFlags struct {
	Host      string `env:"ZLAYER_HOST" default:"/run/zlayer/zlayer.sock" help:"Node API: a unix socket path, or an http(s) URL (token required)."`
	Token     string `env:"ZLAYER_TOKEN" help:"Bearer token for a TCP node API."`
	TokenFile string `name:"token-file" env:"ZLAYER_TOKEN_FILE" help:"File holding the bearer token." type:"path"`
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
	return apiclient.New(f.Host, token)
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
