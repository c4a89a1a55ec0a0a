package node

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// stalledRegistry accepts TCP connections and never answers, as a registry
// wedged behind a load balancer does. It counts the connections.
func stalledRegistry(t *testing.T) (addr string, accepted *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = &atomic.Int64{}
	held := make(chan net.Conn, 1024)
	go func() {
		defer close(held)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			held <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range held {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

const sleeperSpec = `version: v1
deployment: fine
services:
  b:
    image: busybox
    command: {entrypoint: [/bin/sh, -c, 'trap "exit 0" TERM; while true; do sleep 0.2; done']}
    scale: {replicas: 1}
`

// TestIntegrationStalledPullDoesNotFreezeNode: service A's image is on a
// registry that never answers; service B, in another deployment, comes up,
// scales and goes while A is still pulling; A's pull fails with a clear
// error after the progress timeout and is retried with backoff; `zlayer
// down` of A's deployment works while its pull hangs.
func TestIntegrationStalledPullDoesNotFreezeNode(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	n := StartNodeWithArgs(t, s, reconcile.RuntimeRunc, "--pull-progress-timeout", "3s")
	ctx := context.Background()
	reg, accepted := stalledRegistry(t)

	stuck := `version: v1
deployment: stuck
services:
  a:
    image: ` + reg + `/stalled/app:1
    restart_policy: {kind: always, delay: 1s}
`
	n.MustCLI("deploy", "--no-wait", n.WriteSpec("stuck.yaml", stuck))
	n.WaitFor("A's pull to reach the stalled registry", time.Minute, func() bool { return accepted.Load() > 0 })
	stateOfA := func() apitypes.ReplicaStatus {
		rs := n.Replicas("stuck", "a")
		if len(rs) != 1 {
			return apitypes.ReplicaStatus{}
		}
		return rs[0]
	}
	if st := stateOfA(); st.State != reconcile.StateCreating {
		t.Fatalf("A while its pull hangs: %+v", st)
	}

	// B comes up and scales while A's pull hangs.
	n.MustCLI("deploy", n.WriteSpec("fine.yaml", sleeperSpec))
	n.WaitFor("B ready while A pulls", 2*time.Minute, func() bool { return n.Ready("fine") })
	if _, err := n.API.Scale(ctx, "fine", "b", 3); err != nil {
		t.Fatal(err)
	}
	n.WaitFor("B scaled to 3 while A pulls", 2*time.Minute, func() bool {
		rs := n.Replicas("fine", "b")
		return n.Ready("fine") && len(rs) == 3
	})
	if _, err := n.API.Scale(ctx, "fine", "b", 1); err != nil {
		t.Fatal(err)
	}
	n.WaitFor("B scaled down to 1", time.Minute, func() bool { return len(n.Replicas("fine", "b")) == 1 })

	// A fails clearly and is retried.
	var failed apitypes.ReplicaStatus
	n.WaitFor("A's pull to fail on the progress timeout", time.Minute, func() bool {
		failed = stateOfA()
		return failed.State == reconcile.StateFailed
	})
	if !strings.Contains(failed.Message, "pull progress timeout") || !strings.Contains(failed.Message, reg) {
		t.Errorf("A's failure message: %q", failed.Message)
	}
	st, err := n.API.Get(ctx, "stuck")
	if err != nil || st.Ready || len(st.Services) != 1 || st.Services[0].State != "failed" || !strings.Contains(st.Services[0].Message, "pull progress timeout") {
		t.Errorf("status of A's deployment: %+v %v", st, err)
	}
	before := accepted.Load()
	n.WaitFor("A's pull retried", time.Minute, func() bool {
		return accepted.Load() > before && stateOfA().State == reconcile.StateCreating
	})

	// down of A's deployment while its (second) pull hangs.
	start := time.Now()
	n.MustCLI("down", "stuck")
	n.WaitFor("A's replica gone after down", 30*time.Second, func() bool { return len(n.Replicas("stuck", "")) == 0 })
	t.Logf("down of a deployment with a hanging pull took %v", time.Since(start).Round(time.Millisecond))
	// Its abandoned create leaves nothing behind, even once the pull ends.
	time.Sleep(4 * time.Second)
	if rs := n.Replicas("stuck", ""); len(rs) != 0 {
		t.Errorf("replicas of a removed deployment came back: %+v", rs)
	}
	if !n.Ready("fine") {
		t.Error("B not ready at the end")
	}
	n.MustCLI("down", "fine")
	n.WaitFor("B gone", time.Minute, func() bool { return len(n.Replicas("fine", "")) == 0 })
}

// TestIntegrationCorruptStateRecord: serve starts with one undecodable
// record in its state store, runs the other deployment, reports the bad one
// (log line with its key, metric) and keeps it, set aside.
func TestIntegrationCorruptStateRecord(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	n := StartNode(t, s)
	ctx := context.Background()
	n.MustCLI("deploy", n.WriteSpec("fine.yaml", sleeperSpec))
	n.MustCLI("deploy", n.WriteSpec("other.yaml", strings.Replace(sleeperSpec, "deployment: fine", "deployment: other", 1)))
	n.WaitFor("both ready", 2*time.Minute, func() bool { return n.Ready("fine") && n.Ready("other") })
	otherPID := n.Replicas("other", "")[0].PID
	n.Stop()

	db, err := bolt.Open(filepath.Join(n.Dir, "state.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("deployments")).Put([]byte("other"), []byte(`{"name":"other","spec":{"services":`))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	n.Start()
	n.WaitFor("fine ready with a corrupt record beside it", time.Minute, func() bool { return n.Ready("fine") })
	list, err := n.API.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "fine" {
		t.Fatalf("deployments: %+v %v", list, err)
	}
	metrics, err := n.API.Raw(ctx, "/metrics")
	if err != nil || !strings.Contains(metrics, "zlayer_store_quarantined_records 1") {
		t.Errorf("metrics lack the quarantined record: %v\n%s", err, metrics)
	}
	log, _ := os.ReadFile(n.logPath)
	if !strings.Contains(string(log), "key=other") || !strings.Contains(string(log), "quarantine") {
		t.Error("serve's log does not report the corrupt record")
	}
	// Its replica is not known to be unwanted: it keeps running.
	time.Sleep(2 * time.Second)
	if rs := n.Replicas("other", ""); len(rs) != 1 || rs[0].PID != otherPID {
		t.Errorf("replica of the quarantined deployment: %+v (pid before %d)", rs, otherPID)
	}
	// Deploying the name again takes the replica over.
	n.MustCLI("deploy", n.WriteSpec("other.yaml", strings.Replace(sleeperSpec, "deployment: fine", "deployment: other", 1)))
	n.WaitFor("other ready again", time.Minute, func() bool { return n.Ready("other") })
	// ... and down of it then removes them.
	n.MustCLI("down", "other")
	n.WaitFor("other's replica removed", time.Minute, func() bool { return len(n.Replicas("other", "")) == 0 })
}
