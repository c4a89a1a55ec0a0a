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
	fmt.Fprintln(tw, "ID\tDEPLOYMENT\tSERVICE\tREPLICA\tSTATE\tRESTARTS\tPID\tLAST EXIT\tIMAGE")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Deployment, r.Service, r.Replica, r.State, r.Restarts, pid, exit, r.Image)
	}
	return tw.Flush()
}
