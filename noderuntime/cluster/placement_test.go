package cluster

import (
	"path/filepath"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

func ref(dep, svc string, i int) apitypes.ReplicaRef {
	return apitypes.ReplicaRef{Deployment: dep, Service: svc, Index: i}
}

// TestPlacementOwner: before the servers say anything every index is
// unknown (the node keeps what it runs); then an index is here when this
// node runs it or it is moving away from here, elsewhere when another
// node runs it, unknown when not placed. A restart reads the same back.
func TestPlacementOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assigned.json")
	p := newPlacement(path, "a1")
	if got := p.Owner("shop", "web", 1); got != reconcile.OwnerUnknown {
		t.Fatalf("before any word: %v", got)
	}
	asg := []apitypes.Assignment{
		{ReplicaRef: ref("shop", "web", 1), Node: "a1"},
		{ReplicaRef: ref("shop", "web", 2), Node: "s1"},
		{ReplicaRef: ref("shop", "web", 3), Node: "s2", From: "a1"},
	}
	changed, err := p.update(asg, map[string]int{"shop/db/h": 2})
	if err != nil || !changed {
		t.Fatalf("update: %v %v", changed, err)
	}
	check := func(p *placement) {
		t.Helper()
		for i, want := range map[int]reconcile.Owner{1: reconcile.OwnerHere, 2: reconcile.OwnerElsewhere, 3: reconcile.OwnerHere, 4: reconcile.OwnerUnknown} {
			if got := p.Owner("shop", "web", i); got != want {
				t.Errorf("index %d: %v, want %v", i, got, want)
			}
		}
		if n := p.ReadyElsewhere("shop", "db", "h"); n != 2 {
			t.Errorf("ready elsewhere %d", n)
		}
	}
	check(p)
	if changed, _ := p.update(asg, map[string]int{"shop/db/h": 2}); changed {
		t.Fatal("the same word again counted as a change")
	}
	again := newPlacement(path, "a1")
	if err := again.load(); err != nil {
		t.Fatal(err)
	}
	check(again)
}

func TestReplicaPath(t *testing.T) {
	for path, want := range map[string][3]string{
		"/v1/deployments/shop/services/web/logs":  {"shop", "web", "logs"},
		"/v1/deployments/shop/services/web/exec":  {"shop", "web", "exec"},
		"/v1/deployments/shop/services/web/scale": {},
		"/v1/deployments/shop":                    {},
		"/v1/replicas":                            {},
	} {
		dep, svc, what, ok := replicaPath(path)
		if ok != (want[0] != "") || dep != want[0] || svc != want[1] || what != want[2] {
			t.Errorf("%s: %q %q %q %v", path, dep, svc, what, ok)
		}
	}
}

// TestNodesRunning: logs go to every node with replicas of the service
// (or of the one index asked for); an exec to one node with a running
// replica, this one when it has one.
func TestNodesRunning(t *testing.T) {
	all := []reconcile.ReplicaStatus{
		{Deployment: "shop", Service: "web", Replica: 1, Node: "s2", PID: 10},
		{Deployment: "shop", Service: "web", Replica: 2, Node: "a1", PID: 11},
		{Deployment: "shop", Service: "web", Replica: 3, Node: "s1", PID: 0},
		{Deployment: "shop", Service: "db", Replica: 1, Node: "s3", PID: 12},
	}
	eq := func(got []string, want ...string) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	if got := nodesRunning(all, "shop", "web", 0, false, "s1"); !eq(got, "a1", "s1", "s2") {
		t.Errorf("logs of all: %v", got)
	}
	if got := nodesRunning(all, "shop", "web", 2, false, "s1"); !eq(got, "a1") {
		t.Errorf("logs of one: %v", got)
	}
	if got := nodesRunning(all, "shop", "web", 0, true, "s2"); !eq(got, "s2") {
		t.Errorf("exec prefers this node: %v", got)
	}
	if got := nodesRunning(all, "shop", "web", 0, true, "s1"); !eq(got, "a1") {
		t.Errorf("exec skips a stopped replica here: %v", got)
	}
	if got := nodesRunning(all, "shop", "cache", 0, true, "s1"); len(got) != 0 {
		t.Errorf("no such service: %v", got)
	}
}

func TestRunsPath(t *testing.T) {
	for path, want := range map[string][2]string{
		"/v1/deployments/shop/services/report/runs": {"shop", "report"},
		"/v1/deployments/shop/services/report/logs": {},
		"/v1/deployments/shop/runs":                 {},
	} {
		dep, svc, ok := runsPath(path)
		if ok != (want[0] != "") || dep != want[0] || svc != want[1] {
			t.Errorf("%s: %q %q %v, want %v", path, dep, svc, ok, want)
		}
	}
}

// TestCountRun: a run on another node counts as started in every state
// and as succeeded once it exited 0, on its hash and on any; a failed
// run is no success.
func TestCountRun(t *testing.T) {
	ready := map[string]int{}
	countRun(ready, apitypes.ReplicaStatus{Deployment: "shop", Service: "migrate", SpecHash: "h1", State: apitypes.ReplicaRunning})
	countRun(ready, apitypes.ReplicaStatus{Deployment: "shop", Service: "migrate", SpecHash: "h1", State: apitypes.ReplicaExited, LastExit: &apitypes.ExitInfo{Code: 0}})
	countRun(ready, apitypes.ReplicaStatus{Deployment: "shop", Service: "migrate", SpecHash: "h0", State: apitypes.ReplicaExited, LastExit: &apitypes.ExitInfo{Code: 1}})
	p := newPlacement(filepath.Join(t.TempDir(), "assigned.json"), "a1")
	if _, err := p.update(nil, ready); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		started bool
		hash    string
		want    int
	}{{true, "h1", 2}, {true, "", 3}, {false, "h1", 1}, {false, "", 1}, {false, "h0", 0}, {true, "h0", 1}} {
		if got := p.ReadyElsewhere("shop", "migrate", reconcile.RunDoneKey(c.started, c.hash)); got != c.want {
			t.Errorf("started %v hash %q: %d, want %d", c.started, c.hash, got, c.want)
		}
	}
	if got := p.ReadyElsewhere("shop", "migrate", "h1"); got != 0 {
		t.Errorf("runs counted as ready replicas: %d", got)
	}
}
