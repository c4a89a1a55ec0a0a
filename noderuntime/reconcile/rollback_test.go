package reconcile

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

type everywhere struct{}

func (everywhere) Owner(string, string, int) Owner           { return OwnerHere }
func (everywhere) ReadyElsewhere(string, string, string) int { return 0 }

func rollbackFixture(t *testing.T, placement Placement) (*Controller, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, img := range []string{"busybox:1", "busybox:2"} {
		d, err := spec.Parse("x.yaml", fmt.Appendf(nil, "version: v1\ndeployment: app\nservices:\n  web:\n    image: %s\n    update: {failure_action: rollback}\n", img))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(d, img); err != nil {
			t.Fatal(err)
		}
	}
	return New(Options{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Placement: placement}), st
}

// fail records a failed rollout of web at rec's spec, as roll does.
func fail(c *Controller, rec *store.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.services["app/web"] = &svcState{failed: "replica 1 of web was not ready within 30s", failedHash: rec.Spec.Services["web"].Hash(), failedIndex: 1}
}

func TestRollBackOnce(t *testing.T) {
	c, st := rollbackFixture(t, nil)
	rec, _ := st.Get("app")
	fail(c, rec)
	// Before the rollback is done the status does not call it paused.
	if p := c.paused(rec); p != nil {
		t.Errorf("paused while rolling back: %+v", p)
	}
	if m := c.ServiceMessage("app", "web"); !strings.HasPrefix(m, "rollout failed, rolling back: ") {
		t.Errorf("message %q", m)
	}
	c.rollBack(rec)
	now, _ := st.Get("app")
	if now.Generation != 3 || now.Spec.Services["web"].Image.Name != "busybox:1" || now.Cause != store.CauseRollback || now.By != "node" {
		t.Fatalf("after the rollback: generation %d, image %s, cause %s by %s", now.Generation, now.Spec.Services["web"].Image.Name, now.Cause, now.By)
	}
	if rb := now.RolledBack; rb == nil || !rb.Auto || rb.From != 2 || rb.To != 1 || rb.Reason != "replica 1 of web was not ready within 30s" {
		t.Fatalf("rolled back %+v", now.RolledBack)
	}
	ds := c.Status(now)
	if ds.Rollout == nil || ds.Rollout.State != RolloutRolledBack || !strings.Contains(ds.Rollout.Message, "to the spec of generation 1") {
		t.Errorf("status rollout %+v", ds.Rollout)
	}
	// Once per generation: the same failure seen again does nothing.
	c.rollBack(rec)
	if again, _ := st.Get("app"); again.Generation != 3 {
		t.Errorf("rolled back twice: generation %d", again.Generation)
	}
}

// A rollback that fails too is not rolled back again (that would go back
// and forth): it pauses, and says why.
func TestRollBackOfARollbackPauses(t *testing.T) {
	c, st := rollbackFixture(t, nil)
	rec, err := st.Rollback("app", store.RollbackRequest{})
	if err != nil {
		t.Fatal(err)
	}
	fail(c, rec)
	c.rollBack(rec)
	if now, _ := st.Get("app"); now.Generation != rec.Generation {
		t.Fatalf("a rollback was rolled back: generation %d", now.Generation)
	}
	p := c.paused(rec)
	if p == nil || p.State != RolloutPaused || p.Service != "web" || !strings.Contains(p.Message, "itself a rollback") {
		t.Fatalf("paused %+v", p)
	}
}

// In cluster mode the node's store is a copy of the cluster's: the node
// pauses instead of writing a rollback there.
func TestRollBackInClusterModePauses(t *testing.T) {
	c, st := rollbackFixture(t, everywhere{})
	rec, _ := st.Get("app")
	fail(c, rec)
	c.rollBack(rec)
	if now, _ := st.Get("app"); now.Generation != 2 {
		t.Fatalf("rolled back in cluster mode: generation %d", now.Generation)
	}
	if p := c.paused(rec); p == nil || !strings.Contains(p.Message, "cluster") {
		t.Fatalf("paused %+v", p)
	}
}
