package main

import (
	"context"
)

// LogsCmd prints a service's logs.
type LogsCmd struct {
	NodeFlags
	Service    string `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Follow     bool   `short:"f" help:"Follow the log."`
	Tail       int    `short:"n" default:"-1" help:"Lines from the end (-1: all)."`
	Replica    int    `help:"Only this replica (0: all)."`
	Deployment string `short:"d" help:"Deployment of the service, when several have one of that name."`
}

func (c *LogsCmd) Run(ctx context.Context) error {
	return errNotImplemented("logs", "#6")
}
