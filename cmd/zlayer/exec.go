package main

import (
	"context"
)

// ExecCmd runs a command in a replica.
type ExecCmd struct {
	NodeFlags
	Service    string   `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Command    []string `arg:"" passthrough:"" help:"Command and arguments, after --."`
	Replica    int      `default:"1" help:"Replica to run in."`
	Deployment string   `short:"d" help:"Deployment of the service."`
	TTY        bool     `short:"t" help:"Allocate a terminal."`
}

func (c *ExecCmd) Run(ctx context.Context) error {
	return errNotImplemented("exec", "#6")
}
