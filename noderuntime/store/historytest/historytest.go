// Package historytest is the one table of tests of deployment history,
// run against every desired state that keeps it (the node's bbolt store,
// the cluster's etcd state): they must answer the same requests with the
// same generations and errors.
package historytest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Keeper is desired state that keeps deployment history.
type Keeper interface {
	Put(d *spec.Deployment, source string) (*store.Record, error)
	PutChange(d *spec.Deployment, source string, ch store.Change) (*store.Record, error)
	History(name string) ([]store.Generation, error)
	Rollback(name string, req store.RollbackRequest) (*store.Record, error)
	Restart(name, svc, by string) (*store.Record, error)
	Delete(name string) error
}

// Run runs the table, each test on a new empty Keeper from open.
func Run(t *testing.T, open func(t *testing.T) Keeper) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, k Keeper)
	}{
		{"causes and restart", causesAndRestart},
		{"rollback", rollback},
		{"bound and delete", boundAndDelete},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// App is deployment app: one service web of image with replicas.
func App(t *testing.T, image string, replicas int) *spec.Deployment {
	t.Helper()
	d, err := spec.Parse("app.yaml", fmt.Appendf(nil, "version: v1\ndeployment: app\nservices:\n  web:\n    image: %s\n    scale: {replicas: %d}\n", image, replicas))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func causesAndRestart(t *testing.T, k Keeper) {
	if _, err := k.PutChange(App(t, "busybox:1", 1), "v1", store.Change{Cause: store.CauseDeploy, By: "socket"}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.PutChange(App(t, "busybox:1", 3), "v1", store.Change{Cause: store.CauseScale, By: "token:admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Put(App(t, "busybox:2", 3), "v2"); err != nil {
		t.Fatal(err)
	}
	r, err := k.Restart("app", "web", "socket")
	if err != nil || r.Generation != 4 || r.Cause != store.CauseRestart || r.Spec.Services["web"].Restart != 1 {
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
	// A deploy of the file after a restart must not undo the restart's
	// counter: that would roll every replica again for nothing.
	again, err := k.Put(App(t, "busybox:2", 3), "v2")
	if err != nil || again.Spec.Services["web"].Hash() != r.Spec.Services["web"].Hash() {
		t.Fatalf("redeploy after restart moved the hash: %+v %v", again, err)
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
}

func rollback(t *testing.T, k Keeper) {
	for _, step := range []struct {
		image    string
		replicas int
	}{{"busybox:1", 1}, {"busybox:2", 1}, {"busybox:2", 4}, {"busybox:3", 4}} {
		if _, err := k.Put(App(t, step.image, step.replicas), step.image); err != nil {
			t.Fatal(err)
		}
	}
	// The newest generation before 4 that runs other replicas is 3
	// (busybox:2 scaled to 4), not the 2 it was scaled from.
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
	// Rolling back the rollback goes to the newest generation that runs
	// something else: 4.
	rec, err = k.Rollback("app", store.RollbackRequest{})
	if err != nil || rec.Spec.Services["web"].Image.Name != "busybox:3" || rec.RolledBack.To != 4 || rec.RolledBack.Reason != "requested" {
		t.Fatalf("second rollback %+v %v", rec, err)
	}
	rec, err = k.Rollback("app", store.RollbackRequest{To: 1, By: "socket"})
	if err != nil || rec.Generation != 7 || rec.Spec.Services["web"].Image.Name != "busybox:1" || rec.Spec.Services["web"].Scale.Count() != 1 {
		t.Fatalf("rollback --to 1: %+v %v", rec, err)
	}
	h, err := k.History("app")
	if err != nil || len(h) != 7 || h[6].Cause != store.CauseRollback || h[6].By != "socket" || h[6].RolledBack == nil || h[6].RolledBack.To != 1 || h[6].Source != "busybox:1" {
		t.Fatalf("history after rollbacks: %+v %v", h, err)
	}
	// A deploy after that clears the mark.
	if rec, err := k.Put(App(t, "busybox:4", 1), ""); err != nil || rec.RolledBack != nil {
		t.Fatalf("deploy after rollback %+v %v", rec, err)
	}
	if _, err := k.Rollback("app", store.RollbackRequest{To: 8}); !errors.Is(err, store.ErrNoGeneration) {
		t.Errorf("rollback to the current generation: %v", err)
	}
	if _, err := k.Rollback("app", store.RollbackRequest{IfGeneration: 7}); !errors.Is(err, store.ErrStale) {
		t.Errorf("conditional rollback of an old generation: %v", err)
	}
	if _, err := k.Rollback("gone", store.RollbackRequest{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rollback of an unknown deployment: %v", err)
	}
}

func boundAndDelete(t *testing.T, k Keeper) {
	for i := 1; i <= store.MaxHistory+5; i++ {
		if _, err := k.Put(App(t, fmt.Sprintf("busybox:%d", i), 1), ""); err != nil {
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
	if _, err := k.Put(App(t, "busybox:1", 1), ""); err != nil {
		t.Fatal(err)
	}
	if h, _ := k.History("app"); len(h) != 1 || h[0].Generation != 1 {
		t.Errorf("history after delete and deploy: %+v", h)
	}
}
