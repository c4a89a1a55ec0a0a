package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/zlayer/zlayer/noderuntime/store"
	"github.com/zlayer/zlayer/noderuntime/store/historytest"
)

// The causes and the rules are historytest's table, which the cluster's
// state runs too; the other tests here are the bbolt store's own.

func TestHistoryTable(t *testing.T) {
	historytest.Run(t, func(t *testing.T) historytest.Keeper {
		s, _ := open(t)
		return s
	})
}

func open(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestHistorySurvivesReopen(t *testing.T) {
	s, path := open(t)
	if _, err := s.PutChange(historytest.App(t, "busybox:1", 1), "v1", store.Change{Cause: store.CauseDeploy, By: "socket"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restart("app", "web", "token:admin"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	h, err := s2.History("app")
	if err != nil || len(h) != 2 || h[0].By != "socket" || h[1].Cause != store.CauseRestart || h[1].Spec.Services["web"].Restart != 1 {
		t.Fatalf("history after reopen: %+v %v", h, err)
	}
}

// A deployment whose record was lost (quarantined) starts again at
// generation 1 with a history of its own: the generations left from its
// earlier life are not taken for newer ones.
func TestHistoryAfterLostRecord(t *testing.T) {
	s, path := open(t)
	for i := 1; i <= 3; i++ {
		if _, err := s.Put(historytest.App(t, fmt.Sprintf("busybox:%d", i), 1), ""); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("deployments")).Put([]byte("app"), []byte("{")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec, err := s.Put(historytest.App(t, "busybox:9", 1), "again")
	if err != nil || rec.Generation != 1 {
		t.Fatalf("put over a lost record: %+v %v", rec, err)
	}
	h, err := s.History("app")
	if err != nil || len(h) != 1 || h[0].Source != "again" {
		t.Fatalf("history after the lost record: %+v %v", h, err)
	}
	if _, err := s.Rollback("app", store.RollbackRequest{}); !errors.Is(err, store.ErrNoGeneration) {
		t.Errorf("rollback into the earlier life: %v", err)
	}
}
