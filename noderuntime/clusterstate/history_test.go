package clusterstate

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// historyKeeper is what a node's store and the cluster's state both do
// with generations: the tests below run against both, so that the two
// answer the same requests with the same generations and errors.
type historyKeeper interface {
	Put(d *spec.Deployment, source string) (*store.Record, error)
	PutChange(d *spec.Deployment, source string, ch store.Change) (*store.Record, error)
	History(name string) ([]store.Generation, error)
	Rollback(name string, req store.RollbackRequest) (*store.Record, error)
	Restart(name, svc, by string) (*store.Record, error)
	Delete(name string) error
}

// bothKeepers runs test against a bbolt store and the cluster's state.
func bothKeepers(t *testing.T, test func(t *testing.T, k historyKeeper)) {
	t.Run("store", func(t *testing.T) {
		st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		test(t, st)
	})
	t.Run("cluster", func(t *testing.T) {
		test(t, newState(t))
	})
}

func versioned(t *testing.T, image string, replicas int) *spec.Deployment {
	t.Helper()
	d, err := spec.Parse("app.yaml", fmt.Appendf(nil, "version: v1\ndeployment: app\nservices:\n  web:\n    image: %s\n    scale: {replicas: %d}\n", image, replicas))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHistoryCausesAndRestart(t *testing.T) {
	t.Parallel()
	bothKeepers(t, func(t *testing.T, k historyKeeper) {
		if _, err := k.PutChange(versioned(t, "busybox:1", 1), "v1", store.Change{Cause: store.CauseDeploy, By: "socket"}); err != nil {
			t.Fatal(err)
		}
		if _, err := k.PutChange(versioned(t, "busybox:1", 3), "v1", store.Change{Cause: store.CauseScale, By: "token:admin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Put(versioned(t, "busybox:2", 3), "v2"); err != nil {
			t.Fatal(err)
		}
		r, err := k.Restart("app", "web", "socket")
		if err != nil || r.Generation != 4 || r.Cause != store.CauseRestart {
			t.Fatalf("restart: %+v %v", r, err)
		}
		h, err := k.History("app")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range h {
			got = append(got, fmt.Sprintf("%d %s %s %s", g.Generation, g.Cause, g.By, g.Spec.Services["web"].Image.Name))
		}
		want := []string{"1 deploy socket busybox:1", "2 scale token:admin busybox:1", "3 deploy  busybox:2", "4 restart socket busybox:2"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("history %q, want %q", got, want)
		}
		if h[0].Hash != h[1].Hash || h[1].Hash == h[2].Hash || h[2].Hash == h[3].Hash {
			t.Errorf("hashes: scale must keep it, an image and a restart move it: %v %v %v %v", h[0].Hash, h[1].Hash, h[2].Hash, h[3].Hash)
		}
		// A deploy of the same file after the restart keeps its counter:
		// nothing rolls again.
		again, err := k.Put(versioned(t, "busybox:2", 3), "v2")
		if err != nil || again.Spec.Services["web"].Restart != 1 || again.Spec.Services["web"].Hash() != r.Spec.Services["web"].Hash() {
			t.Fatalf("redeploy after restart: %+v %v", again, err)
		}
		if _, err := k.Restart("app", "nope", ""); !errors.Is(err, store.ErrNoService) {
			t.Errorf("restart of an unknown service: %v", err)
		}
		if _, err := k.Restart("gone", "web", ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("restart of an unknown deployment: %v", err)
		}
		if _, err := k.History("gone"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("history of an unknown deployment: %v", err)
		}
	})
}

func TestHistoryRollback(t *testing.T) {
	t.Parallel()
	bothKeepers(t, func(t *testing.T, k historyKeeper) {
		for _, step := range []struct {
			image    string
			replicas int
		}{{"busybox:1", 1}, {"busybox:2", 1}, {"busybox:2", 4}, {"busybox:3", 4}} {
			if _, err := k.Put(versioned(t, step.image, step.replicas), step.image); err != nil {
				t.Fatal(err)
			}
		}
		// The newest generation before 4 that runs other replicas is 3.
		rec, err := k.Rollback("app", store.RollbackRequest{Reason: "replica 1 not ready", Auto: true, By: "node"})
		if err != nil {
			t.Fatal(err)
		}
		web := rec.Spec.Services["web"]
		if rec.Generation != 5 || web.Image.Name != "busybox:2" || web.Scale.Count() != 4 || rec.Cause != store.CauseRollback || rec.Source != "busybox:2" || rec.By != "node" {
			t.Fatalf("rollback made %+v (%s x%d)", rec, web.Image.Name, web.Scale.Count())
		}
		if rb := rec.RolledBack; rb == nil || rb.From != 4 || rb.To != 3 || !rb.Auto || rb.Reason != "replica 1 not ready" {
			t.Fatalf("rolled back %+v", rec.RolledBack)
		}
		rec, err = k.Rollback("app", store.RollbackRequest{To: 1, By: "socket"})
		if err != nil || rec.Generation != 6 || rec.Spec.Services["web"].Image.Name != "busybox:1" || rec.RolledBack.Reason != "requested" {
			t.Fatalf("rollback --to 1: %+v %v", rec, err)
		}
		h, err := k.History("app")
		if err != nil || len(h) != 6 || h[5].Cause != store.CauseRollback || h[5].RolledBack == nil || h[5].RolledBack.To != 1 || h[5].Source != "busybox:1" {
			t.Fatalf("history after rollbacks: %+v %v", h, err)
		}
		if rec, err := k.Put(versioned(t, "busybox:4", 1), ""); err != nil || rec.RolledBack != nil {
			t.Fatalf("deploy after rollback %+v %v", rec, err)
		}
		if _, err := k.Rollback("app", store.RollbackRequest{To: 7}); !errors.Is(err, store.ErrNoGeneration) {
			t.Errorf("rollback to the current generation: %v", err)
		}
		if _, err := k.Rollback("app", store.RollbackRequest{IfGeneration: 6}); !errors.Is(err, store.ErrStale) {
			t.Errorf("conditional rollback of an old generation: %v", err)
		}
		if _, err := k.Rollback("gone", store.RollbackRequest{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rollback of an unknown deployment: %v", err)
		}
	})
}

func TestHistoryBoundAndDelete(t *testing.T) {
	t.Parallel()
	bothKeepers(t, func(t *testing.T, k historyKeeper) {
		for i := 1; i <= store.MaxHistory+5; i++ {
			if _, err := k.Put(versioned(t, fmt.Sprintf("busybox:%d", i), 1), ""); err != nil {
				t.Fatal(err)
			}
		}
		h, err := k.History("app")
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != store.MaxHistory || h[0].Generation != 6 || h[len(h)-1].Generation != store.MaxHistory+5 {
			t.Fatalf("kept %d generations from %d", len(h), h[0].Generation)
		}
		if _, err := k.Rollback("app", store.RollbackRequest{To: 2}); !errors.Is(err, store.ErrNoGeneration) {
			t.Errorf("rollback to a dropped generation: %v", err)
		}
		if err := k.Delete("app"); err != nil {
			t.Fatal(err)
		}
		if _, err := k.History("app"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("history of a deleted deployment: %v", err)
		}
		if _, err := k.Put(versioned(t, "busybox:1", 1), ""); err != nil {
			t.Fatal(err)
		}
		if h, _ := k.History("app"); len(h) != 1 || h[0].Generation != 1 {
			t.Errorf("history after delete and deploy: %+v", h)
		}
	})
}

// In etcd the bound holds for the keys themselves, a delete leaves none,
// and a deployment whose record was lost starts a history of its own.
func TestHistoryKeysInEtcd(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	for i := 1; i <= store.MaxHistory+3; i++ {
		if _, err := s.Put(versioned(t, fmt.Sprintf("busybox:%d", i), 1), ""); err != nil {
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
	rec, err := s.Put(versioned(t, "busybox:1", 1), "again")
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
