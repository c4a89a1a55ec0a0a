package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	nodert "github.com/zlayer/zlayer/noderuntime/node"
)

// jobsClock speeds up the nodes' cron clocks: a one-minute schedule ticks
// every two seconds.
const jobsClock = 30

// clusterJobsSpec: a job and a cron service (upstream's seconds-first
// schedule) on the agents, and a service on every node that waits for
// the job, so that some of its replicas wait for a job on another node.
const clusterJobsSpec = `version: v1
deployment: batch
services:
  once:
    rtype: job
    image: busybox
    network_mode: host
    node_selector: {run: jobs}
    command: {entrypoint: [/bin/sh, -c, "echo job done"]}
  tick:
    rtype: cron
    schedule: "0 * * * * *"
    history: 20
    image: busybox
    network_mode: host
    node_selector: {run: jobs}
    command: {entrypoint: [/bin/sh, -c, "echo tick"]}
  after:
    image: busybox
    network_mode: host
    scale: {replicas: 3}
    depends: [{service: once, condition: completed}]
    command: {entrypoint: [/bin/sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
`

var clusterJobsSteps = []scenario.Step[*clusterFx]{
	step("a server and two agents", testJobsClusterUp),
	step("the job runs once cluster-wide, on an agent; services elsewhere see it done", testJobOnce),
	step("job run and job runs through the server and the other agent reach the job's node", testJobRunForwarded),
	step("the cron runs on exactly one node; status through the server shows its runs", testCronOneNode),
	step("kill -9 of the cron's node: the schedule goes on on the other agent", testCronFailover),
}

// TestClusterJobs: jobs and cron services in a cluster (a server and two
// agents, each in its own network namespace), their runs reached through
// any node, and the schedule moving with a failover.
func TestClusterJobs(t *testing.T) {
	t.Setenv(nodert.TestClockEnv, fmt.Sprint(jobsClock))
	scenario.Run(t, newClusterFx(t, "cj", "s1", "a1", "a2"), clusterJobsSteps)
}

func testJobsClusterUp(t *testing.T, fx *clusterFx) {
	ns := fx.ns["s1"]
	s1 := StartClusterNode(fx.t, fx.s, ns, "serve", "--cluster-init", "--node-name", "s1", "--advertise-address", ns.IP.String())
	defer s1.Use(t)()
	fx.nodes["s1"] = s1
	waitReady(t, fx, "s1")
	admin, err := os.ReadFile(filepath.Join(s1.Dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a1", "a2"} {
		ns := fx.ns[name]
		n := StartClusterNode(fx.t, fx.s, ns, "join", "--api", s1.URL(), "--token", token(t, fx, "agent"),
			"--node-name", name, "--advertise-address", ns.IP.String(), "--node-label", "run=jobs")
		defer n.Use(t)()
		fx.nodes[name] = n
		// The agent's socket reads; changes asked of it need the cluster's
		// admin token (the cleanup's downs among them).
		if n.API, err = apiclient.New(n.Socket, strings.TrimSpace(string(admin))); err != nil {
			t.Fatal(err)
		}
		waitReady(t, fx, name)
	}
}

// jobRuns is job runs SVC -o json asked of via.
func jobRuns(via *Node, svc string) (apitypes.RunList, error) {
	var l apitypes.RunList
	out, errOut, code := via.CLI("job", "runs", svc, "-o", "json")
	if code != 0 {
		return l, fmt.Errorf("job runs %s through %s: exit %d: %s", svc, via.Name, code, strings.TrimSpace(errOut))
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return l, fmt.Errorf("job runs %s -o json: %w: %s", svc, err, out)
	}
	return l, nil
}

// replicasOf are the rows of ps through via for batch/svc.
func replicasOf(via *Node, svc string) []psRow {
	var out []psRow
	for _, r := range tryPs(via) {
		if r.Deployment == "batch" && r.Service == svc {
			out = append(out, r)
		}
	}
	return out
}

// jobsNode is the one node the rows ran on ("" when none or several).
func jobsNode(rows []psRow) string {
	node := ""
	for _, r := range rows {
		if node != "" && r.Node != node {
			return ""
		}
		node = r.Node
	}
	return node
}

func testJobOnce(t *testing.T, fx *clusterFx) {
	s1 := fx.nodes["s1"]
	s1.MustCLI("deploy", s1.WriteSpec("batch.yaml", clusterJobsSpec), "--timeout", "90s")
	rows := replicasOf(s1, "once")
	if len(rows) != 1 || (rows[0].Node != "a1" && rows[0].Node != "a2") {
		t.Fatalf("the job's runs: %+v, want one, on an agent", rows)
	}
	l, err := jobRuns(s1, "batch/once")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Runs) != 1 || l.Runs[0].State != apitypes.RunSucceeded {
		t.Fatalf("the job's runs through s1: %+v", l.Runs)
	}
	// Deploy waited for every replica of after, so those on the nodes
	// without the job saw it done too.
	after := running(ps(t, s1), "batch")
	nodes := map[string]bool{}
	for _, r := range after {
		if r.Service == "after" {
			nodes[r.Node] = true
		}
	}
	if len(nodes) < 2 {
		t.Errorf("after runs on %v: want some replica on a node without the job", nodes)
	}
}

func testJobRunForwarded(t *testing.T, fx *clusterFx) {
	s1 := fx.nodes["s1"]
	owner := replicasOf(s1, "once")[0].Node
	other := fx.nodes[map[string]string{"a1": "a2", "a2": "a1"}[owner]]
	out := s1.MustCLI("job", "run", "batch/once")
	if !strings.Contains(out, "started run 2") {
		t.Errorf("job run through s1: %s", out)
	}
	waitFor(t, "run 2 of the job succeeded", 60*time.Second, func() bool {
		l, err := jobRuns(s1, "batch/once")
		return err == nil && len(l.Runs) == 2 && l.Runs[0].N == 2 && l.Runs[0].State == apitypes.RunSucceeded
	})
	if n := jobsNode(replicasOf(s1, "once")); n != owner {
		t.Errorf("the job's runs ran on %q, want all on %s", n, owner)
	}
	// Through the agent without the job: to a server, then to the owner.
	l, err := jobRuns(other, "batch/once")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Runs) != 2 || l.Runs[1].Trigger != apitypes.RunTriggerDeploy || l.Runs[0].Trigger != apitypes.RunTriggerManual {
		t.Errorf("job runs through %s: %+v", other.Name, l.Runs)
	}
	// A change asked of an agent needs the cluster's admin token.
	adminFile := filepath.Join(s1.Dir, "token")
	if out := other.MustCLI("job", "run", "--token-file", adminFile, "batch/once"); !strings.Contains(out, "started run 3") {
		t.Errorf("job run through %s: %s", other.Name, out)
	}
	waitFor(t, "run 3 of the job succeeded", 60*time.Second, func() bool {
		l, err := jobRuns(s1, "batch/once")
		return err == nil && len(l.Runs) == 3 && l.Runs[0].State == apitypes.RunSucceeded
	})
}

func testCronOneNode(t *testing.T, fx *clusterFx) {
	s1 := fx.nodes["s1"]
	var l apitypes.RunList
	waitFor(t, "three scheduled runs of the cron", 60*time.Second, func() bool {
		var err error
		l, err = jobRuns(s1, "batch/tick")
		scheduled := 0
		for _, r := range l.Runs {
			if r.Trigger == apitypes.RunTriggerSchedule && r.State == apitypes.RunSucceeded {
				scheduled++
			}
		}
		return err == nil && scheduled >= 3
	})
	if l.Schedule != "0 * * * * *" || l.Next.IsZero() {
		t.Errorf("the cron's schedule %q, next %s", l.Schedule, l.Next)
	}
	rows := replicasOf(s1, "tick")
	if n := jobsNode(rows); n != "a1" && n != "a2" {
		t.Errorf("the cron's runs on several nodes or none: %+v", rows)
	}
	var sts []apitypes.DeploymentStatus
	if err := json.Unmarshal([]byte(s1.MustCLI("status", "-o", "json")), &sts); err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, d := range sts {
		for _, ss := range d.Services {
			if d.Name == "batch" && ss.Name == "tick" {
				seen = ss.Runs != nil && ss.Runs.Last != nil && !ss.Runs.Next.IsZero()
			}
		}
	}
	if !seen {
		t.Errorf("status through s1 shows no last run or next tick of the cron:\n%s", s1.MustCLI("status", "batch"))
	}
	// A tick every two seconds: the last run may be one just started, so
	// the table is asked again until it shows one that ended.
	var st string
	defer func() {
		if t.Failed() {
			t.Logf("status through s1:\n%s", st)
		}
	}()
	waitFor(t, "status through s1 to show the cron's last run succeeded", 20*time.Second, func() bool {
		st = s1.MustCLI("status", "batch")
		return lineWith(st, "tick", "cron", "succeeded")
	})
}

// lineWith says whether a line of out has every one of words.
func lineWith(out string, words ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := " " + strings.Join(strings.Fields(l), " ") + " "
		all := true
		for _, w := range words {
			all = all && strings.Contains(f, " "+w+" ")
		}
		if all {
			return true
		}
	}
	return false
}

func testCronFailover(t *testing.T, fx *clusterFx) {
	s1 := fx.nodes["s1"]
	owner := jobsNode(replicasOf(s1, "tick"))
	other := map[string]string{"a1": "a2", "a2": "a1"}[owner]
	if other == "" {
		t.Fatalf("the cron's node: %q", owner)
	}
	fx.nodes[owner].Kill9()
	start := time.Now()
	waitFor(t, "a scheduled run of the cron on "+other, 75*time.Second, func() bool {
		for _, r := range replicasOf(s1, "tick") {
			if r.Node == other {
				l, err := jobRuns(s1, "batch/tick")
				return err == nil && len(l.Runs) > 0
			}
		}
		return false
	})
	t.Logf("the schedule ran on %s %s after the kill of %s", other, time.Since(start).Round(time.Second), owner)
	l, err := jobRuns(fx.nodes[other], "batch/tick")
	if err != nil || len(l.Runs) == 0 || l.Runs[len(l.Runs)-1].Trigger != apitypes.RunTriggerSchedule {
		t.Errorf("the new owner's runs through %s: %+v %v", other, l.Runs, err)
	}
}
