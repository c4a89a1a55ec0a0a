package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// JobCmd groups the commands of job and cron services.
type JobCmd struct {
	Run  JobRunCmd  `cmd:"" help:"Start a run of a job or cron service now."`
	Runs JobRunsCmd `cmd:"" help:"List the kept runs of a job or cron service."`
}

// JobRunCmd starts a run now.
type JobRunCmd struct {
	NodeFlags
	Service    string `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Deployment string `short:"d" help:"Deployment of the service."`
}

func (c *JobRunCmd) Help() string {
	return `The run goes by the service's concurrency as a cron tick would (a job is
run again even if it succeeded), except that where a tick would be skipped
(concurrency forbid, a run still running) the command fails instead. The
run's number is its replica number: zlayer logs SERVICE --replica N.

Examples:
  zlayer job run migrate
  zlayer job run shop/report
  zlayer job run report -d shop`
}

func (c *JobRunCmd) Run(ctx context.Context) error {
	cl, dep, svc, err := c.serviceClient(ctx, c.Service, c.Deployment)
	if err != nil {
		return err
	}
	run, err := cl.RunNow(ctx, dep, svc)
	if err != nil {
		return err
	}
	fmt.Printf("started run %d of %s/%s (zlayer logs %s/%s --replica %d)\n", run.N, dep, svc, dep, svc, run.N)
	return nil
}

// JobRunsCmd lists the kept runs.
type JobRunsCmd struct {
	NodeFlags
	Service    string `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Deployment string `short:"d" help:"Deployment of the service."`
	Output     string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *JobRunsCmd) Help() string {
	return `Newest first: each run's number (its replica number for zlayer logs), what
started it, its state, exit code, start and end; skipped ticks are runs too.

Examples:
  zlayer job runs report
  zlayer job runs shop/migrate -o json | jq '.runs[0].state'`
}

func (c *JobRunsCmd) Run(ctx context.Context) error {
	cl, dep, svc, err := c.serviceClient(ctx, c.Service, c.Deployment)
	if err != nil {
		return err
	}
	list, err := cl.Runs(ctx, dep, svc)
	if err != nil {
		return err
	}
	if c.Output == "json" {
		if list.Runs == nil {
			list.Runs = []apitypes.Run{}
		}
		return printJSON(os.Stdout, list)
	}
	printRuns(os.Stdout, list)
	return nil
}

func printRuns(w io.Writer, l *apitypes.RunList) {
	head := fmt.Sprintf("%s/%s (%s", l.Deployment, l.Service, l.Rtype)
	if l.Schedule != "" {
		head += ", schedule " + l.Schedule
	}
	if !l.Next.IsZero() {
		head += ", next " + l.Next.Local().Format(time.DateTime)
	}
	fmt.Fprintln(w, head+")")
	if len(l.Runs) == 0 {
		fmt.Fprintln(w, "no runs")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTRIGGER\tSTATE\tEXIT\tRESTARTS\tSTARTED\tENDED\tMESSAGE")
	for _, r := range l.Runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.N, r.Trigger, r.State, exitOf(r.ExitCode), r.Restarts, when(r.Started), when(r.Ended), r.Message)
	}
	tw.Flush()
}

func exitOf(code *int) string {
	if code == nil {
		return "-"
	}
	return fmt.Sprint(*code)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// printServiceRuns lists what status knows of the job and cron services
// in svcs: the last run and the next tick.
func printServiceRuns(w io.Writer, svcs []apitypes.ServiceStatus) {
	var rs []apitypes.ServiceStatus
	for _, s := range svcs {
		if s.Runs != nil {
			rs = append(rs, s)
		}
	}
	if len(rs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUNS\tRTYPE\tLAST RUN\tSTATE\tEXIT\tENDED\tNEXT")
	for _, s := range rs {
		last, state, exit, ended := "-", "-", "-", "-"
		if l := s.Runs.Last; l != nil {
			last, state, exit, ended = fmt.Sprint(l.N), string(l.State), exitOf(l.ExitCode), when(l.Ended)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Runs.Rtype, last, state, exit, ended, when(s.Runs.Next))
	}
	tw.Flush()
}
