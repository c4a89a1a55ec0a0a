package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

func parse(t *testing.T, image string, replicas int) *spec.Deployment {
	t.Helper()
	d, err := spec.Parse("x.yaml", fmt.Appendf(nil, "version: v1\ndeployment: app\nservices:\n  web:\n    image: %s\n    scale: {replicas: %d}\n", image, replicas))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestHistoryKeepsCausesAndSurvivesReopen(t *testing.T) {
	s, path := open(t)
	if _, err := s.PutChange(parse(t, "busybox:1", 1), "v1", Change{Cause: CauseDeploy, By: "socket"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutChange(parse(t, "busybox:1", 3), "v1", Change{Cause: CauseScale, By: "token:admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(parse(t, "busybox:2", 3), "v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restart("app", "web", "socket"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	h, err := s2.History("app")
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
	if h[3].Spec.Services["web"].Restart != 1 {
		t.Errorf("restart counter %d, want 1", h[3].Spec.Services["web"].Restart)
	}
}

// A deploy of the file after a restart must not undo the restart's
// counter: that would roll every replica again for nothing.
func TestDeployKeepsRestartCounter(t *testing.T) {
	s, _ := open(t)
	if _, err := s.Put(parse(t, "busybox:1", 1), "v1"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Restart("app", "web", "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Put(parse(t, "busybox:1", 1), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Spec.Services["web"].Hash() != r.Spec.Services["web"].Hash() {
		t.Errorf("redeploy moved the hash from %s to %s", r.Spec.Services["web"].Hash(), again.Spec.Services["web"].Hash())
	}
	if _, err := s.Restart("app", "nope", ""); !errors.Is(err, ErrNoService) {
		t.Errorf("restart of an unknown service: %v", err)
	}
	if _, err := s.Restart("gone", "web", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("restart of an unknown deployment: %v", err)
	}
}

func TestRollback(t *testing.T) {
	s, _ := open(t)
	for _, step := range []struct {
		image    string
		replicas int
	}{{"busybox:1", 1}, {"busybox:2", 1}, {"busybox:2", 4}, {"busybox:3", 4}} {
		if _, err := s.Put(parse(t, step.image, step.replicas), step.image); err != nil {
			t.Fatal(err)
		}
	}
	// The newest generation before 4 that runs other replicas is 3
	// (busybox:2 scaled to 4), not the 2 it was scaled from.
	rec, err := s.Rollback("app", RollbackRequest{Reason: "replica 1 not ready", Auto: true, By: "node"})
	if err != nil {
		t.Fatal(err)
	}
	web := rec.Spec.Services["web"]
	if rec.Generation != 5 || web.Image.Name != "busybox:2" || web.Scale.Count() != 4 || rec.Cause != CauseRollback || rec.Source != "busybox:2" {
		t.Fatalf("rollback made %+v (%s x%d)", rec, web.Image.Name, web.Scale.Count())
	}
	if rb := rec.RolledBack; rb == nil || rb.From != 4 || rb.To != 3 || !rb.Auto || rb.Reason != "replica 1 not ready" {
		t.Fatalf("rolled back %+v", rec.RolledBack)
	}
	// Rolling back the rollback goes to the newest generation that runs
	// something else: 4.
	rec, err = s.Rollback("app", RollbackRequest{})
	if err != nil || rec.Spec.Services["web"].Image.Name != "busybox:3" || rec.RolledBack.To != 4 || rec.RolledBack.Reason != "requested" {
		t.Fatalf("second rollback %+v %v", rec, err)
	}
	rec, err = s.Rollback("app", RollbackRequest{To: 1})
	if err != nil || rec.Generation != 7 || rec.Spec.Services["web"].Image.Name != "busybox:1" || rec.Spec.Services["web"].Scale.Count() != 1 {
		t.Fatalf("rollback --to 1: %+v %v", rec, err)
	}
	// A deploy after that clears the mark.
	if rec, err := s.Put(parse(t, "busybox:4", 1), ""); err != nil || rec.RolledBack != nil {
		t.Fatalf("deploy after rollback %+v %v", rec, err)
	}
	if _, err := s.Rollback("app", RollbackRequest{To: 8}); err == nil {
		t.Error("rollback to the current generation was accepted")
	}
	if _, err := s.Rollback("app", RollbackRequest{IfGeneration: 7}); !errors.Is(err, ErrStale) {
		t.Errorf("conditional rollback of an old generation: %v", err)
	}
	if _, err := s.Rollback("gone", RollbackRequest{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("rollback of an unknown deployment: %v", err)
	}
}

func TestHistoryIsBoundedAndForgottenOnDelete(t *testing.T) {
	s, _ := open(t)
	for i := 1; i <= MaxHistory+5; i++ {
		if _, err := s.Put(parse(t, fmt.Sprintf("busybox:%d", i), 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.History("app")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != MaxHistory || h[0].Generation != 6 || h[len(h)-1].Generation != MaxHistory+5 {
		t.Fatalf("kept %d generations from %d", len(h), h[0].Generation)
	}
	if _, err := s.Rollback("app", RollbackRequest{To: 2}); !errors.Is(err, ErrNoGeneration) {
		t.Errorf("rollback to a dropped generation: %v", err)
	}
	if err := s.Delete("app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.History("app"); !errors.Is(err, ErrNotFound) {
		t.Errorf("history of a deleted deployment: %v", err)
	}
	if _, err := s.Put(parse(t, "busybox:1", 1), ""); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.History("app"); len(h) != 1 || h[0].Generation != 1 {
		t.Errorf("history after delete and deploy: %+v", h)
	}
}

// A deployment whose record was lost (quarantined) starts again at
// generation 1 with a history of its own: the generations left from its
// earlier life are not taken for newer ones.
func TestHistoryAfterLostRecord(t *testing.T) {
	s, _ := open(t)
	for i := 1; i <= 3; i++ {
		if _, err := s.Put(parse(t, fmt.Sprintf("busybox:%d", i), 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketDeployments).Put([]byte("app"), []byte("{")) }); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Put(parse(t, "busybox:9", 1), "again")
	if err != nil || rec.Generation != 1 {
		t.Fatalf("put over a lost record: %+v %v", rec, err)
	}
	h, err := s.History("app")
	if err != nil || len(h) != 1 || h[0].Source != "again" {
		t.Fatalf("history after the lost record: %+v %v", h, err)
	}
	if _, err := s.Rollback("app", RollbackRequest{}); !errors.Is(err, ErrNoGeneration) {
		t.Errorf("rollback into the earlier life: %v", err)
	}
}
