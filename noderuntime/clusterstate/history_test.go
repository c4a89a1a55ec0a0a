package clusterstate

import (
	"fmt"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/store"
	"github.com/zlayer/zlayer/noderuntime/store/historytest"
)

// The rules are historytest's table, which the node's store runs too.
func TestHistoryTable(t *testing.T) {
	t.Parallel()
	historytest.Run(t, func(t *testing.T) historytest.Keeper { return newState(t) })
}

// In etcd the bound holds for the keys themselves, a delete leaves none,
// and a deployment whose record was lost starts a history of its own.
func TestHistoryKeysInEtcd(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	for i := 1; i <= store.MaxHistory+3; i++ {
		if _, err := s.Put(historytest.App(t, fmt.Sprintf("busybox:%d", i), 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, ctx, s, "history/app/"); n != store.MaxHistory {
		t.Fatalf("%d history keys, want %d", n, store.MaxHistory)
	}
	if _, err := s.Client().Put(ctx, deploymentKey("app"), `{"name":"app","spec":{`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.History("app"); err == nil {
		t.Error("history of a deployment whose record cannot be decoded had no error")
	}
	if _, err := s.Rollback("app", store.RollbackRequest{}); err == nil {
		t.Error("rollback of a deployment whose record cannot be decoded had no error")
	}
	rec, err := s.Put(historytest.App(t, "busybox:1", 1), "again")
	if err != nil || rec.Generation != 1 {
		t.Fatalf("put over a broken record: %+v %v", rec, err)
	}
	if h, err := s.History("app"); err != nil || len(h) != 1 || h[0].Generation != 1 || h[0].Source != "again" {
		t.Fatalf("history after the lost record: %+v %v", h, err)
	}
	if err := s.Delete("app"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, s, "history/"); n != 0 {
		t.Errorf("%d history keys after delete", n)
	}
}
