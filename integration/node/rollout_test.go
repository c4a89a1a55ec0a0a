package node

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// rollSpec is five replicas that roll two at a time, start-first, and
// roll back by themselves when a replacement is not ready within 8s.
func rollSpec(image, ver string) string {
	return rollSpecWith(image, ver, "{parallelism: 2, failure_action: rollback, monitor: 8s}")
}

func rollSpecWith(image, ver, update string) string {
	return fmt.Sprintf(`version: v1
deployment: roll
services:
  api:
    image: %s
    command:
      entrypoint: [/bin/sh, -c]
      args: ['echo "started $ZLAYER_REPLICA $VER"; trap "exit 0" TERM; while true; do sleep 0.2; done']
    env: {VER: %s}
    scale: {replicas: 5}
    health:
      interval: 500ms
      check: {type: command, command: "test -x /bin/sh"}
    update: %s
`, image, ver, update)
}

type rollDay struct {
	n    *Node
	spec string
}

func (d *rollDay) node() *Node { return d.n }

// rollSample is what sampling the replica list saw during a rollout.
type rollSample struct {
	minReady, maxTotal, maxNewNotReady int
}

// sampleRoll samples roll/api's replicas until done says the rollout is
// over (it is given each sample).
func sampleRoll(n *Node, what string, limit time.Duration, done func([]apitypes.ReplicaStatus) bool) rollSample {
	s := rollSample{minReady: 1 << 30}
	n.WaitFor(what, limit, func() bool {
		rs := n.Replicas("roll", "api")
		ready, newNotReady := 0, 0
		for _, r := range rs {
			if r.State == reconcile.StateReady {
				ready++
			}
			if r.Current && r.State != reconcile.StateReady {
				newNotReady++
			}
		}
		s.minReady, s.maxTotal = min(s.minReady, ready), max(s.maxTotal, len(rs))
		s.maxNewNotReady = max(s.maxNewNotReady, newNotReady)
		return done(rs)
	})
	return s
}

// allCurrent says the rollout is done: five replicas, each on the latest
// spec and ready.
func allCurrent(rs []apitypes.ReplicaStatus) bool {
	if len(rs) != 5 {
		return false
	}
	for _, r := range rs {
		if !r.Current || r.State != reconcile.StateReady {
			return false
		}
	}
	return true
}

var rollSteps = []scenario.Step[*rollDay]{
	nodeStep("first deploy", func(t *testing.T, d *rollDay) {
		d.spec = d.n.WriteSpec("roll.yaml", rollSpec("busybox", "one"))
		d.n.MustCLI("deploy", d.spec, "--wait", "--timeout", "2m")
	}),
	nodeStep("a good change rolls two at a time", testRollGood),
	nodeStep("a bad image rolls back by itself", testRollBackBadImage),
	nodeStep("history lists generations with causes", testRollHistory),
	nodeStep("rollback --to restores", testRollbackTo),
	nodeStep("restart rolls every replica", testRollRestart),
	nodeStep("a bad image pauses with failure_action pause", testRollPause),
}

// TestIntegrationNodeRollout: rollouts by update policy on a real node: a
// good change rolls five replicas two at a time, never below three ready;
// a bad image tag rolls back by itself (deploy says so and exits 1); history
// lists the generations and what made them; rollback --to and restart roll
// the replicas again.
func TestIntegrationNodeRollout(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	scenario.Run(t, &rollDay{n: StartNode(t, s)}, rollSteps)
}

func testRollGood(t *testing.T, d *rollDay) {
	n := d.n
	n.WriteSpec("roll.yaml", rollSpec("busybox", "two"))
	n.MustCLI("deploy", d.spec, "--no-wait")
	s := sampleRoll(n, "the rollout to two", 2*time.Minute, allCurrent)
	if s.minReady < 3 {
		t.Errorf("%d replicas ready at the lowest, want at least 5 - parallelism = 3", s.minReady)
	}
	if s.maxTotal > 7 {
		t.Errorf("%d replicas at once, want at most 5 + max_surge 2", s.maxTotal)
	}
	// Both replacements of a wave are made in one pass and take a health
	// round (500ms) to get ready, which sampling every 50ms sees.
	if s.maxNewNotReady != 2 {
		t.Errorf("at most %d new replicas were getting ready at once, want parallelism 2", s.maxNewNotReady)
	}
	n.WaitFor("the new env in the logs", 10*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "api")
		return strings.Count(out, " two") >= 5
	})
}

func testRollBackBadImage(t *testing.T, d *rollDay) {
	n := d.n
	before := n.Replicas("roll", "api")
	n.WriteSpec("roll.yaml", rollSpec("busybox:no-such-tag", "three"))
	var out, errOut string
	code := -1
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, errOut, code = n.CLI("deploy", d.spec, "--timeout", "2m")
	}()
	deployDone := func() bool {
		st, err := n.API.Get(t.Context(), "roll")
		return err == nil && st.Rollout != nil && st.Rollout.State == apitypes.RolloutRolledBack
	}
	s := sampleRoll(n, "the automatic rollback", 2*time.Minute, func(rs []apitypes.ReplicaStatus) bool { return deployDone() && allCurrent(rs) })
	wg.Wait()
	if code != 1 || !strings.Contains(errOut, "the rollout of generation 3 failed and was rolled back from generation 3 to the spec of generation 2") || !strings.Contains(errOut, "not ready within 8s") {
		t.Errorf("deploy: exit %d, want 1 with the rollback\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if s.minReady < 3 {
		t.Errorf("%d replicas ready at the lowest, want at least 3", s.minReady)
	}
	st, err := n.API.Get(t.Context(), "roll")
	if err != nil || st.Generation != 4 || st.Rollout == nil || !st.Rollout.Auto || st.Rollout.From != 3 || st.Rollout.To != 2 || !st.Ready {
		t.Fatalf("status after the rollback: %+v %v", st, err)
	}
	if out := n.MustCLI("status"); !strings.Contains(out, "roll") {
		t.Errorf("status: %s", out)
	}
	// Start-first: the old replicas of two were never replaced, only the
	// failed new ones went away.
	after := n.Replicas("roll", "api")
	ids := map[string]bool{}
	for _, r := range before {
		ids[r.ID] = true
	}
	for _, r := range after {
		if !ids[r.ID] {
			t.Errorf("replica %s is new after the rollback (image %s): the old ones should have stayed", r.ID, r.Image)
		}
	}
}

func testRollHistory(t *testing.T, d *rollDay) {
	n := d.n
	var gens []apitypes.Generation
	if err := json.Unmarshal([]byte(n.MustCLI("history", "roll", "-o", "json")), &gens); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gens {
		got = append(got, fmt.Sprintf("%d:%s:%s", g.Generation, g.Cause, g.By))
	}
	want := "1:deploy:socket 2:deploy:socket 3:deploy:socket 4:rollback:node"
	if strings.Join(got, " ") != want {
		t.Fatalf("history %q, want %q", strings.Join(got, " "), want)
	}
	if gens[3].SpecHash != gens[1].SpecHash || gens[2].SpecHash == gens[1].SpecHash || !gens[3].Current {
		t.Errorf("hashes %s %s %s %s (current %v)", gens[0].SpecHash, gens[1].SpecHash, gens[2].SpecHash, gens[3].SpecHash, gens[3].Current)
	}
	table := n.MustCLI("history", "roll")
	if !strings.Contains(table, "GEN") || !strings.Contains(table, "4 *") || !strings.Contains(table, "spec of 2, undoing 3") {
		t.Errorf("history table:\n%s", table)
	}
}

func testRollbackTo(t *testing.T, d *rollDay) {
	n := d.n
	out := n.MustCLI("rollback", "roll", "--to", "1", "--timeout", "2m")
	if !strings.Contains(out, "rolled back to the spec of generation 1 (now generation 5)") {
		t.Errorf("rollback: %s", out)
	}
	var gens []apitypes.Generation
	if err := json.Unmarshal([]byte(n.MustCLI("history", "roll", "-o", "json")), &gens); err != nil {
		t.Fatal(err)
	}
	last := gens[len(gens)-1]
	if last.Cause != apitypes.CauseRollback || last.SpecHash != gens[0].SpecHash || last.RolledBack == nil || last.RolledBack.Auto {
		t.Errorf("generation %+v, want a requested rollback to generation 1's spec", last)
	}
	rs := n.Replicas("roll", "api")
	if !allCurrent(rs) {
		t.Fatalf("replicas after rollback --to 1: %+v", rs)
	}
	o, _, code := n.CLI("exec", "api", "--", "sh", "-c", "echo $VER")
	if code != 0 || strings.TrimSpace(o) != "one" {
		t.Errorf("VER after rollback --to 1: %q (exit %d)", o, code)
	}
}

func testRollRestart(t *testing.T, d *rollDay) {
	n := d.n
	before := n.Replicas("roll", "api")
	n.MustCLI("restart", "api", "--no-wait")
	s := sampleRoll(n, "the restart", 2*time.Minute, allCurrent)
	if s.minReady < 3 {
		t.Errorf("%d replicas ready at the lowest during the restart, want at least 3", s.minReady)
	}
	old := PIDsOf(before)
	for _, r := range n.Replicas("roll", "api") {
		if _, ok := old[r.ID]; ok {
			t.Errorf("replica %s was not restarted", r.ID)
		}
	}
	gens := []apitypes.Generation{}
	if err := json.Unmarshal([]byte(n.MustCLI("history", "roll", "-o", "json")), &gens); err != nil {
		t.Fatal(err)
	}
	if last := gens[len(gens)-1]; last.Cause != apitypes.CauseRestart || last.SpecHash == gens[len(gens)-2].SpecHash {
		t.Errorf("last generation %+v", last)
	}
	// Deploying the same file again keeps the restart: nothing rolls.
	n.WriteSpec("roll.yaml", rollSpec("busybox", "one"))
	n.MustCLI("deploy", d.spec)
	for _, r := range n.Replicas("roll", "api") {
		if !r.Current {
			t.Errorf("replica %s is not current after redeploying the same spec", r.ID)
		}
	}
}

// testRollPause: under failure_action pause a replacement that never gets
// ready stops the rollout where it is: the other replicas are never
// replaced, deploy says why and exits 1, and a fixed spec rolls on.
func testRollPause(t *testing.T, d *rollDay) {
	n := d.n
	before := n.Replicas("roll", "api")
	n.WriteSpec("roll.yaml", rollSpecWith("busybox:no-such-tag", "four", "{failure_action: pause, monitor: 3s}"))
	out, errOut, code := n.CLI("deploy", d.spec, "--timeout", "2m")
	if code != 1 || !strings.Contains(errOut, "rollout paused: replica 1 of api was not ready within 3s (update.monitor)") {
		t.Errorf("deploy: exit %d, want 1 with the pause\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	st, err := n.API.Get(t.Context(), "roll")
	if err != nil || st.Rollout == nil || st.Rollout.State != apitypes.RolloutPaused || st.Rollout.Service != "api" {
		t.Fatalf("status: %+v %v", st, err)
	}
	// Parallelism 1: only replica 1 was being replaced, and it still is
	// not; the old five all still run and serve.
	old := PIDsOf(before)
	ready := 0
	for _, r := range n.Replicas("roll", "api") {
		if _, ok := old[r.ID]; ok && r.State == reconcile.StateReady {
			ready++
		} else if r.Replica != 1 {
			t.Errorf("replica %d was touched by a paused rollout: %+v", r.Replica, r)
		}
	}
	if ready != 5 {
		t.Errorf("%d old replicas ready under the pause, want 5", ready)
	}
	n.WriteSpec("roll.yaml", rollSpecWith("busybox", "five", "{failure_action: pause, monitor: 3s}"))
	n.MustCLI("deploy", d.spec, "--timeout", "2m")
	if rs := n.Replicas("roll", "api"); !allCurrent(rs) {
		t.Errorf("replicas after the fixed deploy: %+v", rs)
	}
}
