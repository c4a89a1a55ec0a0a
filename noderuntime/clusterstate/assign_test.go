package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

func TestAssignmentsGuardedAndChunked(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	lead, err := s.Campaign(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}

	// 250 replicas: three transactions under the guard.
	set := map[ReplicaKey]Assignment{}
	for i := range 250 {
		set[ReplicaKey{"big", "web", i}] = Assignment{Node: fmt.Sprint("n", i%3)}
	}
	set[ReplicaKey{"small", "db", 0}] = Assignment{Node: "n2", From: "n1"}
	if err := s.WriteAssignments(ctx, lead.Guard(), set, nil); err != nil {
		t.Fatal(err)
	}
	got, rev, err := s.Assignments(ctx)
	if err != nil || len(got) != 251 || rev == 0 {
		t.Fatalf("assignments: %d, revision %d, %v", len(got), rev, err)
	}
	if a := got[ReplicaKey{"big", "web", 200}]; a.Node != "n2" {
		t.Fatalf("big/web/200 = %+v", a)
	}
	if a := got[ReplicaKey{"small", "db", 0}]; a != (Assignment{Node: "n2", From: "n1"}) {
		t.Fatalf("small/db/0 = %+v", a)
	}
	if _, _, found := raw(t, ctx, s, "assign/big/web/249"); !found {
		t.Fatal("no key assign/big/web/249")
	}

	// A move and a removal.
	del := []ReplicaKey{{"big", "web", 249}}
	if err := s.WriteAssignments(ctx, lead.Guard(), map[ReplicaKey]Assignment{{"small", "db", 0}: {Node: "n2"}}, del); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Assignments(ctx)
	if _, ok := got[ReplicaKey{"big", "web", 249}]; ok || got[ReplicaKey{"small", "db", 0}].From != "" || len(got) != 250 {
		t.Fatalf("after move and removal: %d, small/db/0 %+v", len(got), got[ReplicaKey{"small", "db", 0}])
	}

	// A deposed leader's guard: nothing written.
	stale := lead.Guard()
	if err := lead.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	before := count(t, ctx, s, "assign/")
	err = s.WriteAssignments(ctx, stale, map[ReplicaKey]Assignment{{"late", "web", 0}: {Node: "n1"}}, []ReplicaKey{{"big", "web", 0}})
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("stale guard: %v, want ErrNotLeader", err)
	}
	if after := count(t, ctx, s, "assign/"); after != before {
		t.Fatalf("stale guard changed the assignments: %d keys, were %d", after, before)
	}
	if _, _, found := raw(t, ctx, s, "assign/big/web/0"); !found {
		t.Fatal("stale guard deleted an assignment")
	}
}

func TestReplicaKeyString(t *testing.T) {
	k := ReplicaKey{"dep", "svc", 3}
	if k.String() != "dep/svc/3" {
		t.Fatalf("String = %q", k.String())
	}
	back, err := parseReplicaKey(k.String())
	if err != nil || back != k {
		t.Fatalf("parse %q: %+v %v", k, back, err)
	}
	for _, bad := range []string{"dep/svc", "dep/svc/x", "dep/svc/-1", "/svc/1", "a/b/c/1"} {
		if _, err := parseReplicaKey(bad); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
}

func TestPutStatusReplaces(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	g, err := s.Client().Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	replica := func(id string, state apitypes.ReplicaState) apitypes.ReplicaStatus {
		return apitypes.ReplicaStatus{ID: id, Deployment: "app", Service: "web", State: state}
	}
	many := make([]apitypes.ReplicaStatus, 0, 130)
	for i := range 130 {
		many = append(many, replica(fmt.Sprintf("r%03d", i), apitypes.ReplicaRunning))
	}
	if err := s.PutStatus(ctx, "n1", g.ID, many); err != nil {
		t.Fatal(err)
	}
	if err := s.PutStatus(ctx, "n2", clientv3.NoLease, []apitypes.ReplicaStatus{replica("x", apitypes.ReplicaReady)}); err != nil {
		t.Fatal(err)
	}
	// n1 now runs two: one changed, one new, the rest gone.
	if err := s.PutStatus(ctx, "n1", g.ID, []apitypes.ReplicaStatus{replica("r000", apitypes.ReplicaReady), replica("new", apitypes.ReplicaCreating)}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Statuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n1 := st["n1"]; len(n1) != 2 || n1[0].ID != "new" || n1[1].ID != "r000" || n1[1].State != apitypes.ReplicaReady {
		t.Fatalf("n1 status: %+v", n1)
	}
	if n2 := st["n2"]; len(n2) != 1 || n2[0].ID != "x" {
		t.Fatalf("n2 status: %+v", n2)
	}
	if _, lease, _ := raw(t, ctx, s, "status/n1/new"); lease != g.ID {
		t.Fatalf("status/n1/new on lease %x, want %x", lease, g.ID)
	}
	// The node's lease gone, its status goes with it.
	if _, err := s.Client().Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	st, err = s.Statuses(ctx)
	if err != nil || len(st["n1"]) != 0 || len(st["n2"]) != 1 {
		t.Fatalf("status after n1's lease was revoked: %+v %v", st, err)
	}
	if err := s.PutStatus(ctx, "n1", 0, []apitypes.ReplicaStatus{{ID: "a/b"}}); err == nil {
		t.Fatal("a replica id with a slash accepted")
	}
}

func TestWaitChangeWakesOnAWrite(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	rev, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan int64, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := s.WaitChange(ctx, rev)
		if err != nil {
			errc <- err
			return
		}
		woke <- r
	}()
	select {
	case r := <-woke:
		t.Fatalf("WaitChange returned %d before any write", r)
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := s.PutNode(ctx, NodeInfo{Name: "n1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-woke:
		if r <= rev {
			t.Fatalf("WaitChange returned %d, not after %d", r, rev)
		}
		// A change already past returns at once.
		if again, err := s.WaitChange(ctx, rev); err != nil || again != r {
			t.Fatalf("WaitChange after a past change: %d %v, want %d", again, err, r)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("WaitChange did not wake on a write")
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.WaitChange(cctx, rev+1000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitChange with nothing to wait for: %v, want its deadline", err)
	}
}
