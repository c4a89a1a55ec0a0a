package main

import (
	"context"
)

// JoinCmd joins a cluster.
type JoinCmd struct {
	API   string `required:"" help:"Cluster API URL."`
	Token string `env:"ZLAYER_JOIN_TOKEN" help:"Join token."`
}

func (c *JoinCmd) Run(ctx context.Context) error {
	return errNotImplemented("join", "(cluster mode, not yet filed)")
}
