package clusterstate

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

func deployment(t *testing.T, name string, replicas int) *spec.Deployment {
	t.Helper()
	src := fmt.Sprintf("version: v1\ndeployment: %s\nservices:\n  web:\n    image: busybox\n    scale: {replicas: %d}\n", name, replicas)
	d, err := spec.Parse(name+".yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDeploymentsGenerationsAndCorruptRecord(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)

	first, err := s.Put(deployment(t, "app", 1), "src1")
	if err != nil || first.Generation != 1 {
		t.Fatalf("first put: %+v %v", first, err)
	}
	second, err := s.Put(deployment(t, "app", 3), "src2")
	if err != nil || second.Generation != 2 || !second.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("second put: %+v %v (first created %s)", second, err, first.CreatedAt)
	}
	if _, err := s.Put(deployment(t, "other", 1), "o"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("app")
	if err != nil || got.Generation != 2 || got.Source != "src2" || got.Spec.Services["web"].Scale.Count() != 3 {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Get("nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get unknown: %v, want store.ErrNotFound", err)
	}

	// A record that does not decode: Get reports it, List leaves it out
	// and goes on, Put replaces it.
	if _, err := s.Client().Put(ctx, deploymentKey("broken"), `{"name":"broken","spec":{`); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := s.Get("broken"); !errors.As(err, &ce) || ce.Key != deploymentKey("broken") {
		t.Fatalf("get broken: %v, want a CorruptError", err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 || list[0].Name != "app" || list[1].Name != "other" {
		t.Fatalf("list: %v %v", list, err)
	}
	if r, err := s.Put(deployment(t, "broken", 1), "fixed"); err != nil || r.Generation != 1 {
		t.Fatalf("put over a broken record: %+v %v", r, err)
	}
	if r, err := s.Get("broken"); err != nil || r.Source != "fixed" {
		t.Fatalf("get after the fix: %+v %v", r, err)
	}
}

func TestConcurrentPutsLoseNoGeneration(t *testing.T) {
	t.Parallel()
	a, b := newState(t), newState(t)
	const each = 10
	var wg sync.WaitGroup
	gens := make(chan int64, 2*each)
	errs := make(chan error, 2*each)
	for i, s := range []*State{a, b} {
		d := deployment(t, "raced", i+1)
		wg.Go(func() {
			for range each {
				r, err := s.Put(d, fmt.Sprint("writer ", i))
				if err != nil {
					errs <- err
					return
				}
				gens <- r.Generation
			}
		})
	}
	wg.Wait()
	close(gens)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for g := range gens {
		if seen[g] {
			t.Fatalf("generation %d returned to two puts", g)
		}
		seen[g] = true
	}
	for g := int64(1); g <= 2*each; g++ {
		if !seen[g] {
			t.Fatalf("generation %d missing: %v", g, seen)
		}
	}
	if r, err := a.Get("raced"); err != nil || r.Generation != 2*each {
		t.Fatalf("final record: %+v %v, want generation %d", r, err, 2*each)
	}
}

func TestDeleteRemovesAssignments(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	for _, name := range []string{"app", "app2"} {
		if _, err := s.Put(deployment(t, name, 2), ""); err != nil {
			t.Fatal(err)
		}
	}
	set := map[ReplicaKey]Assignment{
		{"app", "web", 0}:  {Node: "n1"},
		{"app", "web", 1}:  {Node: "n2"},
		{"app2", "web", 0}: {Node: "n1"},
	}
	if err := s.WriteAssignments(ctx, nil, set, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	got, _, err := s.Assignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// app2's assignment stays: "app/" is no prefix of "app2/".
	if len(got) != 1 || got[ReplicaKey{"app2", "web", 0}].Node != "n1" {
		t.Fatalf("assignments after delete: %v", got)
	}
	if err := s.Delete("app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v, want store.ErrNotFound", err)
	}
}

func TestImportKeepsRecordsAndExisting(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	if _, err := s.Put(deployment(t, "there", 1), "cluster's"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []*store.Record{
		{Name: "moved", Spec: deployment(t, "moved", 2), Source: "local", Generation: 7, CreatedAt: at, UpdatedAt: at},
		{Name: "there", Spec: deployment(t, "there", 5), Source: "local", Generation: 9, CreatedAt: at, UpdatedAt: at},
	}
	done, err := s.Import(ctx, recs)
	if err != nil || len(done) != 1 || done[0] != "moved" {
		t.Fatalf("import: %v %v", done, err)
	}
	if r, err := s.Get("moved"); err != nil || r.Generation != 7 || !r.CreatedAt.Equal(at) {
		t.Fatalf("imported: %+v %v", r, err)
	}
	if r, err := s.Get("there"); err != nil || r.Generation != 1 || r.Source != "cluster's" {
		t.Fatalf("existing after import: %+v %v", r, err)
	}
	// The imported generation is in the history: a deploy in the cluster
	// can be rolled back to it.
	if _, err := s.Put(deployment(t, "moved", 4), "cluster's"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Rollback("moved", store.RollbackRequest{To: 7}); err != nil || r.Generation != 9 || r.Source != "local" || r.RolledBack.To != 7 {
		t.Fatalf("rollback to the imported generation: %+v %v", r, err)
	}
}
