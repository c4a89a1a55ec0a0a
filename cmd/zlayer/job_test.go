package main

import (
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

func TestJobCommandsHaveExamplesAndCompletion(t *testing.T) {
	for name, h := range map[string]interface{ Help() string }{"job run": &JobRunCmd{}, "job runs": &JobRunsCmd{}} {
		if !strings.Contains(h.Help(), "Examples:\n  zlayer "+name) {
			t.Errorf("%s --help has no example:\n%s", name, h.Help())
		}
	}
	parser, err := kong.New(&fullCLI{}, kong.Name("zlayer"))
	if err != nil {
		t.Fatal(err)
	}
	tree := map[string][]string{}
	collectWords(parser.Model.Node, "", tree)
	if !strings.Contains(" "+strings.Join(tree[""], " ")+" ", " job ") {
		t.Errorf("completion lacks job: %v", tree[""])
	}
	for path, flag := range map[string]string{"job run": "--deployment", "job runs": "--output"} {
		if !strings.Contains(strings.Join(tree[path], " "), flag) {
			t.Errorf("completion of %s lacks %s: %v", path, flag, tree[path])
		}
	}
}

// fields squeezes a table's columns to single spaces.
func fields(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

func TestPrintRuns(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.Local)
	zero, one := 0, 1
	var b strings.Builder
	printRuns(&b, &apitypes.RunList{Deployment: "shop", Service: "report", Rtype: "cron", Schedule: "@hourly", Next: at.Add(time.Hour), Runs: []apitypes.Run{
		{N: 3, Trigger: apitypes.RunTriggerSchedule, State: apitypes.RunSkipped, Started: at, Ended: at, Message: "run 2 still running (concurrency forbid)"},
		{N: 2, Trigger: apitypes.RunTriggerManual, State: apitypes.RunFailed, Started: at, Ended: at.Add(time.Minute), ExitCode: &one, Restarts: 2},
		{N: 1, Trigger: apitypes.RunTriggerSchedule, State: apitypes.RunSucceeded, Started: at, Ended: at, ExitCode: &zero},
	}})
	want := []string{
		"shop/report (cron, schedule @hourly, next 2026-01-02 04:04:00)",
		"RUN TRIGGER STATE EXIT RESTARTS STARTED ENDED MESSAGE",
		"3 schedule skipped - 0 2026-01-02 03:04:00 2026-01-02 03:04:00 run 2 still running (concurrency forbid)",
		"2 manual failed 1 2 2026-01-02 03:04:00 2026-01-02 03:05:00",
		"1 schedule succeeded 0 0 2026-01-02 03:04:00 2026-01-02 03:04:00",
	}
	if got := fields(b.String()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("job runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b.Reset()
	printRuns(&b, &apitypes.RunList{Deployment: "shop", Service: "migrate", Rtype: "job"})
	if got := fields(b.String()); strings.Join(got, "|") != "shop/migrate (job)|no runs" {
		t.Fatalf("no runs: %q", got)
	}
}

func TestPrintServiceRuns(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 0, 0, time.Local)
	zero := 0
	var b strings.Builder
	printServiceRuns(&b, []apitypes.ServiceStatus{
		{Name: "web"},
		{Name: "migrate", Runs: &apitypes.ServiceRuns{Rtype: "job", Last: &apitypes.Run{N: 1, State: apitypes.RunSucceeded, ExitCode: &zero, Ended: at}}},
		{Name: "report", Runs: &apitypes.ServiceRuns{Rtype: "cron", Schedule: "* * * * *", Next: at}},
	})
	want := "RUNS RTYPE LAST RUN STATE EXIT ENDED NEXT|migrate job 1 succeeded 0 2026-01-02 03:04:00 -|report cron - - - - 2026-01-02 03:04:00"
	if got := strings.Join(fields(b.String()), "|"); got != want {
		t.Fatalf("status runs:\n%s\nwant\n%s", got, want)
	}
	b.Reset()
	printServiceRuns(&b, []apitypes.ServiceStatus{{Name: "web"}})
	if b.Len() != 0 {
		t.Fatalf("runs of a deployment without jobs: %q", b.String())
	}
}
