package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// StatusCmd shows deployments and their health.
type StatusCmd struct {
	NodeFlags
	Output     string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
	Deployment string `arg:"" optional:"" help:"Only this deployment."`
}

func (c *StatusCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	var list []apitypes.DeploymentStatus
	if c.Deployment != "" {
		d, err := cl.Get(ctx, c.Deployment)
		if err != nil {
			return err
		}
		list = append(list, *d)
	} else if list, err = cl.List(ctx); err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSONList(os.Stdout, list)
	}
	if len(list) == 0 {
		fmt.Println("no deployments")
		return nil
	}
	for i, d := range list {
		if i > 0 {
			fmt.Println()
		}
		state := "ready"
		if !d.Ready {
			state = "not ready"
		}
		fmt.Printf("deployment %s (generation %d): %s\n", d.Name, d.Generation, state)
		printServices(os.Stdout, d.Services)
		printServiceRuns(os.Stdout, d.Services)
	}
	return nil
}

func printServices(w io.Writer, svcs []apitypes.ServiceStatus) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	// In a cluster a service's replicas are counted by node.
	clustered := false
	for _, s := range svcs {
		for _, r := range s.Replicas {
			clustered = clustered || r.Node != ""
		}
	}
	head := "SERVICE\tREADY\tSTATE\tRESTARTS\tMESSAGE"
	if clustered {
		head = "SERVICE\tREADY\tSTATE\tRESTARTS\tNODES\tMESSAGE"
	}
	fmt.Fprintln(tw, head)
	for _, s := range svcs {
		restarts := 0
		perNode := map[string]int{}
		for _, r := range s.Replicas {
			restarts += r.Restarts
			perNode[r.Node]++
		}
		if !clustered {
			fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%d\t%s\n", s.Name, s.Ready, s.Desired, s.State, restarts, s.Message)
			continue
		}
		var nodes []string
		for n, c := range perNode {
			nodes = append(nodes, fmt.Sprintf("%s:%d", n, c))
		}
		sort.Strings(nodes)
		nl := strings.Join(nodes, ",")
		if nl == "" {
			nl = "-"
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%d\t%s\t%s\n", s.Name, s.Ready, s.Desired, s.State, restarts, nl, s.Message)
	}
	tw.Flush()
}
