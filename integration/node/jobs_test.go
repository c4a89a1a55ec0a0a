package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	nodert "github.com/zlayer/zlayer/noderuntime/node"
)

// clockFactor speeds up the node's cron clock: a one-minute schedule
// ticks every two seconds.
const clockFactor = 30

const jobsSpec = `version: v1
deployment: jobs
services:
  once:
    rtype: job
    image: busybox
    command: {entrypoint: [/bin/sh, -c, "echo job done"]}
  flaky:
    rtype: job
    image: busybox
    # The container's rootfs outlives its tasks: the count goes on across
    # the restart policy's retries. Exits 1 twice, then 0.
    command: {entrypoint: [/bin/sh, -c, "n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /n; echo attempt $n; [ $n -ge 3 ]"]}
    restart_policy: {kind: on_failure, max_attempts: 3, delay: 100ms}
  after:
    image: busybox
    command: {entrypoint: [/bin/sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
    depends: [{service: once, condition: completed}]
`

// The runs take longer than the two seconds between ticks, so every
// other tick finds one still running.
const cronSpec = `version: v1
deployment: cron
services:
  tick:
    rtype: cron
    image: busybox
    schedule: "* * * * *"
    history: 3
    command: {entrypoint: [/bin/sh, -c, "echo tick $ZLAYER_REPLICA; sleep 3"]}
`

// Runs of replace last longer than the schedule: each tick stops the one
// before (trapped, so the stop is quick).
const replaceSpec = `version: v1
deployment: cron
services:
  tick:
    rtype: cron
    image: busybox
    schedule: "* * * * *"
    concurrency: replace
    history: 4
    command: {entrypoint: [/bin/sh, -c, "trap 'exit 0' TERM; echo long $ZLAYER_REPLICA; while true; do sleep 0.2; done"]}
`

type jobsDay struct {
	n *Node
	// onceID and flakyID are the containers of the jobs' first runs.
	onceID, flakyID string
}

func (d *jobsDay) node() *Node { return d.n }

var jobsSteps = []scenario.Step[*jobsDay]{
	nodeStep("a job runs to completion, a failing one is retried", testJobsComplete),
	nodeStep("a completed job is not rerun after a serve restart", testJobsNotRerun),
	nodeStep("job run starts another run", testJobRunNow),
	nodeStep("a cron service ticks, keeps its last runs, forbid skips", testCronTicks),
	nodeStep("concurrency replace stops the running run", testCronReplace),
	nodeStep("upstream's cron example (seconds-first schedules) deploys", testUpstreamCronExample),
	nodeStep("down removes the runs", testJobsDown),
}

// TestIntegrationNodeJobs: job and cron services on a node with real
// containerd, the cron clock sped up (ZLAYER_TEST_CLOCK) so a one-minute
// schedule is seen without waiting minutes.
func TestIntegrationNodeJobs(t *testing.T) {
	t.Setenv(nodert.TestClockEnv, fmt.Sprint(clockFactor))
	s := stack.Start(t, stack.Options{Containerd: true})
	scenario.Run(t, &jobsDay{n: StartNode(t, s)}, jobsSteps)
}

func runsOf(t *testing.T, n *Node, svc string) apitypes.RunList {
	t.Helper()
	out := n.MustCLI("job", "runs", svc, "-o", "json")
	var l apitypes.RunList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("job runs -o json: %v\n%s", err, out)
	}
	return l
}

func testJobsComplete(t *testing.T, d *jobsDay) {
	n := d.n
	n.MustCLI("deploy", n.WriteSpec("jobs.yaml", jobsSpec), "--timeout", "60s")
	once := runsOf(t, n, "jobs/once")
	if len(once.Runs) != 1 || once.Runs[0].State != apitypes.RunSucceeded || once.Runs[0].ExitCode == nil || *once.Runs[0].ExitCode != 0 || once.Runs[0].Trigger != apitypes.RunTriggerDeploy {
		t.Fatalf("once: %+v", once.Runs)
	}
	flaky := runsOf(t, n, "jobs/flaky")
	if len(flaky.Runs) != 1 || flaky.Runs[0].State != apitypes.RunSucceeded || flaky.Runs[0].Restarts != 2 {
		t.Fatalf("flaky, twice failed then passed: %+v", flaky.Runs)
	}
	if logs := n.MustCLI("logs", "jobs/flaky"); !strings.Contains(logs, "attempt 1") || !strings.Contains(logs, "attempt 3") {
		t.Errorf("flaky's log:\n%s", logs)
	}
	if rs := n.Replicas("jobs", "after"); len(rs) != 1 || rs[0].State != apitypes.ReplicaReady {
		t.Errorf("the service depending on the job: %+v", rs)
	}
	st := n.MustCLI("status", "jobs")
	if !lineWith(st, "once", "job", "1", "succeeded", "0") || !lineWith(st, "flaky", "1/1", "ready") {
		t.Errorf("status:\n%s", st)
	}
	d.onceID, d.flakyID = n.Replicas("jobs", "once")[0].ID, n.Replicas("jobs", "flaky")[0].ID
}

func testJobsNotRerun(t *testing.T, d *jobsDay) {
	n := d.n
	n.Stop()
	n.Start()
	n.WaitFor("ready again", 30*time.Second, func() bool { return n.Ready("jobs") })
	// A few passes' worth: a rerun would have started by then.
	time.Sleep(3 * time.Second)
	for svc, id := range map[string]string{"once": d.onceID, "flaky": d.flakyID} {
		l := runsOf(t, n, "jobs/"+svc)
		if len(l.Runs) != 1 || l.Runs[0].State != apitypes.RunSucceeded {
			t.Errorf("%s after a serve restart: %+v", svc, l.Runs)
		}
		rs := n.Replicas("jobs", svc)
		if len(rs) != 1 || rs[0].ID != id || rs[0].State != apitypes.ReplicaExited || rs[0].LastExit == nil || rs[0].LastExit.Code != 0 {
			t.Errorf("%s's replica after a serve restart: %+v", svc, rs)
		}
	}
}

func testJobRunNow(t *testing.T, d *jobsDay) {
	n := d.n
	out := n.MustCLI("job", "run", "jobs/once")
	if !strings.Contains(out, "started run 2 of jobs/once") {
		t.Fatalf("job run: %s", out)
	}
	n.WaitFor("run 2 succeeded", 30*time.Second, func() bool {
		l := runsOf(t, n, "jobs/once")
		return len(l.Runs) == 2 && l.Runs[0].N == 2 && l.Runs[0].State == apitypes.RunSucceeded
	})
	if l := runsOf(t, n, "jobs/once"); l.Runs[0].Trigger != apitypes.RunTriggerManual {
		t.Errorf("run 2: %+v", l.Runs[0])
	}
	if logs := n.MustCLI("logs", "jobs/once", "--replica", "2"); !strings.Contains(logs, "job done") {
		t.Errorf("run 2's log: %q", logs)
	}
	if _, errOut, code := n.CLI("job", "run", "jobs/after"); code == 0 || !strings.Contains(errOut, "not a job or cron service") {
		t.Errorf("job run of a service: exit %d %s", code, errOut)
	}
}

func testCronTicks(t *testing.T, d *jobsDay) {
	n := d.n
	n.MustCLI("deploy", n.WriteSpec("cron.yaml", cronSpec), "--timeout", "60s")
	var l apitypes.RunList
	n.WaitFor("runs, a skip and the history bound", 90*time.Second, func() bool {
		l = runsOf(t, n, "cron/tick")
		succeeded, skipped := 0, 0
		for _, r := range l.Runs {
			switch r.State {
			case apitypes.RunSucceeded:
				succeeded++
			case apitypes.RunSkipped:
				skipped++
			}
		}
		return len(l.Runs) > 0 && l.Runs[0].N > 5 && succeeded >= 1 && skipped >= 1
	})
	if len(l.Runs) > 3 {
		t.Errorf("kept %d runs, history is 3: %+v", len(l.Runs), l.Runs)
	}
	for _, r := range l.Runs {
		if r.State == apitypes.RunSkipped && !strings.Contains(r.Message, "concurrency forbid") {
			t.Errorf("skip %d says %q", r.N, r.Message)
		}
		if r.Trigger != apitypes.RunTriggerSchedule || r.Tick.IsZero() || r.Tick.Second() != 0 {
			t.Errorf("run %d: %+v", r.N, r)
		}
	}
	if l.Next.IsZero() || l.Schedule != "* * * * *" {
		t.Errorf("schedule %q, next %s", l.Schedule, l.Next)
	}
	// Only kept runs keep a container (skips have none), never more than
	// the history.
	n.WaitFor("pruned runs' containers removed", 30*time.Second, func() bool {
		rs := n.Replicas("cron", "tick")
		for _, r := range rs {
			if r.Replica < l.Runs[len(l.Runs)-1].N-3 {
				return false
			}
		}
		return len(rs) <= 3
	})
	for _, r := range l.Runs {
		if r.State != apitypes.RunSucceeded {
			continue
		}
		logs, _, code := n.CLI("logs", "cron/tick", "--replica", fmt.Sprint(r.N))
		if code == 0 && !strings.Contains(logs, fmt.Sprintf("tick %d", r.N)) {
			t.Errorf("run %d's log: %q", r.N, logs)
		}
	}
	st := n.MustCLI("status", "cron")
	if !lineWith(st, "tick", "1/1", "ready") || !lineWith(st, "tick", "cron") {
		t.Errorf("status:\n%s", st)
	}
}

func testCronReplace(t *testing.T, d *jobsDay) {
	n := d.n
	n.MustCLI("deploy", n.WriteSpec("cron-replace.yaml", replaceSpec), "--timeout", "60s")
	var l apitypes.RunList
	n.WaitFor("two runs stopped by newer ones", 60*time.Second, func() bool {
		l = runsOf(t, n, "cron/tick")
		stopped := 0
		for _, r := range l.Runs {
			if r.State == apitypes.RunStopped && strings.Contains(r.Message, "concurrency replace") {
				stopped++
			}
		}
		return stopped >= 2
	})
	active := 0
	for _, r := range l.Runs {
		if r.SpecHash != l.Runs[0].SpecHash {
			continue // the forbid spec's runs, still kept
		}
		if r.State == apitypes.RunRunning || r.State == apitypes.RunPending {
			active++
		}
		if r.State == apitypes.RunSkipped {
			t.Errorf("replace skipped a tick: %+v", r)
		}
	}
	if active > 1 {
		t.Errorf("%d runs active at once under replace: %+v", active, l.Runs)
	}
	// A stopped run's replica stays exited: its restart policy does not
	// bring it back.
	n.WaitFor("stopped runs' replicas exited", 30*time.Second, func() bool {
		for _, r := range n.Replicas("cron", "tick") {
			run := runNumbered(l, r.Replica)
			if run != nil && run.State == apitypes.RunStopped && (r.State != apitypes.ReplicaExited || r.Restarts != 0) {
				return false
			}
		}
		return true
	})
}

func runNumbered(l apitypes.RunList, n int) *apitypes.Run {
	for i := range l.Runs {
		if l.Runs[i].N == n {
			return &l.Runs[i]
		}
	}
	return nil
}

// testUpstreamCronExample deploys the compat test data's cron example,
// written in upstream's seven-field schedule: its job runs, its cron
// services wait for the ticks upstream's fields mean (03:00:00 daily,
// weekdays at noon) in the node's time zone.
func testUpstreamCronExample(t *testing.T, d *jobsDay) {
	n := d.n
	n.MustCLI("deploy", filepath.Join("..", "..", "cmd", "zlayer", "testdata", "upstream", "cron.yaml"), "--timeout", "60s")
	if l := runsOf(t, n, "chores/prepare"); len(l.Runs) != 1 || l.Runs[0].State != apitypes.RunSucceeded {
		t.Errorf("prepare: %+v", l.Runs)
	}
	cleanup := runsOf(t, n, "chores/cleanup")
	if nx := cleanup.Next.Local(); cleanup.Schedule != "0 0 3 * * * *" || nx.Hour() != 3 || nx.Minute() != 0 || nx.Second() != 0 {
		t.Errorf("cleanup: schedule %q, next %s", cleanup.Schedule, cleanup.Next)
	}
	report := runsOf(t, n, "chores/weekday-report")
	if nx := report.Next.Local(); nx.Hour() != 12 || nx.Weekday() == time.Saturday || nx.Weekday() == time.Sunday {
		t.Errorf("weekday-report: next %s (%s)", report.Next, nx.Weekday())
	}
	n.MustCLI("down", "chores")
}

func testJobsDown(t *testing.T, d *jobsDay) {
	n := d.n
	n.MustCLI("down", "cron")
	n.MustCLI("down", "jobs")
	n.WaitFor("no replicas", 60*time.Second, func() bool {
		rs, err := n.API.Replicas(context.Background())
		return err == nil && len(rs) == 0
	})
	n.WaitFor("runs forgotten", 10*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(n.Dir, "runs", "jobs"))
		_, err2 := os.Stat(filepath.Join(n.Dir, "runs", "cron"))
		return os.IsNotExist(err) && os.IsNotExist(err2)
	})
}
