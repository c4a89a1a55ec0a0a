package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
)

// PsCmd lists replicas.
type PsCmd struct {
	NodeFlags
	Output string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *PsCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	list, err := cl.Replicas(ctx)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSONList(os.Stdout, list)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	// A cluster's replicas say which node runs them.
	clustered := false
	for _, r := range list {
		clustered = clustered || r.Node != ""
	}
	head := "ID\tDEPLOYMENT\tSERVICE\tREPLICA\tSTATE\tRESTARTS\tPID\tLAST EXIT\tIMAGE"
	if clustered {
		head += "\tNODE"
	}
	fmt.Fprintln(tw, head)
	for _, r := range list {
		exit := "-"
		if r.LastExit != nil {
			exit = fmt.Sprintf("%d", r.LastExit.Code)
			if r.LastExit.OOMKilled {
				exit += " (oom)"
			}
		}
		pid := "-"
		if r.PID != 0 {
			pid = fmt.Sprint(r.PID)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s", r.ID, r.Deployment, r.Service, r.Replica, r.State, r.Restarts, pid, exit, r.Image)
		if clustered {
			line += "\t" + r.Node
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
