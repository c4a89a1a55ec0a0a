package main

import (
	"context"
	"fmt"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// LogsCmd prints a service's logs.
type LogsCmd struct {
	NodeFlags
	Service    string `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Follow     bool   `short:"f" help:"Follow the log."`
	Tail       int    `short:"n" default:"-1" help:"Lines from the end of each replica's log (-1: all)."`
	Replica    int    `help:"Only this replica (0: all)."`
	Deployment string `short:"d" help:"Deployment of the service, when several have one of that name."`
	Prefix     bool   `default:"true" negatable:"" help:"Prefix lines with the replica when showing several."`
}

func (c *LogsCmd) Run(ctx context.Context) error {
	cl, dep, svc, err := c.serviceClient(ctx, c.Service, c.Deployment)
	if err != nil {
		return err
	}
	prefix := c.Prefix && c.Replica == 0
	return cl.Logs(ctx, dep, svc, c.Tail, c.Follow, c.Replica, func(e apitypes.LogEntry) {
		if prefix {
			fmt.Printf("%s-%d | %s\n", svc, e.Replica, e.Log)
		} else {
			fmt.Println(e.Log)
		}
	})
}
