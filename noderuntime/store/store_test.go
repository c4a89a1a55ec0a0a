package store

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestPutGetListDeleteSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := spec.Parse("x.yaml", []byte("version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n    scale: {replicas: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(d, "src"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Put(d, "src2")
	if err != nil || r.Generation != 2 {
		t.Fatalf("gen %v %v", r, err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get("app")
	if err != nil || got.Spec.Services["web"].Scale.Count() != 2 || got.Source != "src2" || got.Generation != 2 {
		t.Fatalf("got %+v %v", got, err)
	}
	if l, _ := s.List(); len(l) != 1 {
		t.Fatalf("list %d", len(l))
	}
	if err := s.Delete("app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("app"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("want not found, got %v", err)
	}
}
