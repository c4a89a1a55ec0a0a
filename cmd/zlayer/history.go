package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
)

// HistoryCmd lists a deployment's kept generations.
type HistoryCmd struct {
	NodeFlags
	Deployment string `arg:"" help:"Deployment."`
	Output     string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *HistoryCmd) Help() string {
	return `The node keeps the last 10 generations of each deployment: when each was
made, the hash of what its replicas run (a scale keeps it, a new image or a
restart moves it), what made it (deploy, scale, rollback, restart) and who
(socket, token:admin, or node for the node's own rollback). * marks the
current generation. zlayer rollback --to GEN brings one back.

Examples:
  zlayer history shop
  zlayer history shop -o json | jq '.[] | select(.cause == "rollback")'`
}

func (c *HistoryCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	gens, err := cl.History(ctx, c.Deployment)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		return printJSONList(os.Stdout, gens)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GEN\tTIME\tSPEC HASH\tCAUSE\tBY\tNOTE")
	for _, g := range gens {
		mark := ""
		if g.Current {
			mark = " *"
		}
		note := ""
		if rb := g.RolledBack; rb != nil {
			note = fmt.Sprintf("spec of %d, undoing %d: %s", rb.To, rb.From, rb.Reason)
		}
		by := g.By
		if by == "" {
			by = "-"
		}
		fmt.Fprintf(tw, "%d%s\t%s\t%s\t%s\t%s\t%s\n", g.Generation, mark, g.At.Local().Format("2006-01-02 15:04:05"), g.SpecHash, g.Cause, by, note)
	}
	return tw.Flush()
}

// RollbackCmd brings an earlier generation's spec back.
type RollbackCmd struct {
	NodeFlags
	waitFlags
	Deployment string `arg:"" help:"Deployment."`
	To         int64  `name:"to" placeholder:"GEN" help:"Generation to go back to (see zlayer history; default: the newest one before the current that runs other replicas)."`
}

func (c *RollbackCmd) Help() string {
	return `A rollback is a new generation with the spec of an earlier one: replicas
roll to it by each service's update policy, and zlayer history shows it with
cause rollback. Without --to it goes back to the newest generation that runs
something else than the current one (past scale-only generations).

Examples:
  zlayer rollback shop
  zlayer rollback shop --to 3
  zlayer rollback shop --no-wait`
}

func (c *RollbackCmd) Run(ctx context.Context) error {
	if c.To < 0 {
		return fmt.Errorf("rollback: --to takes a generation number (see zlayer history %s)", c.Deployment)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	st, err := cl.Rollback(ctx, c.Deployment, c.To)
	if err != nil {
		return err
	}
	to := int64(0)
	if st.Rollout != nil {
		to = st.Rollout.To
	}
	fmt.Printf("deployment %s rolled back to the spec of generation %d (now generation %d)\n", st.Name, to, st.Generation)
	return c.wait(ctx, cl, st)
}

// RestartCmd rolls a service's replicas.
type RestartCmd struct {
	NodeFlags
	waitFlags
	Service    string `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Deployment string `short:"d" help:"Deployment of the service."`
}

func (c *RestartCmd) Help() string {
	return `Every replica of the service is replaced by a new one, by the service's
update policy (parallelism, order, monitor, failure_action), as a changed
spec would be: the node bumps a restart counter that is part of the
service's spec hash, and keeps it across later deploys of the same file.

Examples:
  zlayer restart web
  zlayer restart shop/web
  zlayer restart web -d shop --timeout 2m`
}

func (c *RestartCmd) Run(ctx context.Context) error {
	cl, dep, svc, err := c.serviceClient(ctx, c.Service, c.Deployment)
	if err != nil {
		return err
	}
	st, err := cl.Restart(ctx, dep, svc)
	if err != nil {
		return err
	}
	fmt.Printf("restarting %s/%s (generation %d)\n", dep, svc, st.Generation)
	return c.wait(ctx, cl, st)
}
