package store

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

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

// TestCorruptRecordIsQuarantined writes records that cannot be used (bad
// JSON, no spec, another deployment's name) beside a good one: reopening
// keeps the good one, moves each bad one unchanged to quarantine with its
// decode error, and logs its key.
func TestCorruptRecordIsQuarantined(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := spec.Parse("x.yaml", []byte("version: v1\ndeployment: good\nservices:\n  web:\n    image: busybox\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(d, "src"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	bad := map[string]string{
		"broken":  `{"name":"broken","spec":{"deploy`,
		"nospec":  `{"name":"nospec"}`,
		"renamed": `{"name":"other","spec":{"version":"v1","deployment":"other","services":{}}}`,
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for k, v := range bad {
			if err := tx.Bucket([]byte("deployments")).Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	var logs bytes.Buffer
	s, err = OpenWith(path, Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("open with corrupt records: %v", err)
	}
	defer s.Close()
	recs, err := s.List()
	if err != nil || len(recs) != 1 || recs[0].Name != "good" {
		t.Fatalf("list after quarantine: %v %v", recs, err)
	}
	q, err := s.Quarantined()
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != len(bad) {
		t.Fatalf("quarantined %d records, want %d: %+v", len(q), len(bad), q)
	}
	for _, r := range q {
		if string(r.Value) != bad[r.Key] || r.Error == "" || r.At.IsZero() {
			t.Errorf("quarantined %q: value %q error %q at %v", r.Key, r.Value, r.Error, r.At)
		}
		if !strings.Contains(logs.String(), "key="+r.Key) {
			t.Errorf("no log line names %q:\n%s", r.Key, logs.String())
		}
	}
	if _, err := s.Get("broken"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get of a quarantined record: %v", err)
	}
	// A record gone bad while the node runs is set aside when read.
	s.Close()
	db, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("deployments")).Put([]byte("good"), []byte("{")) })
	db.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := s.List(); err != nil || len(recs) != 0 {
		t.Fatalf("list: %v %v", recs, err)
	}
	if q, _ := s.Quarantined(); len(q) != len(bad)+1 {
		t.Errorf("quarantine holds %d, want %d", len(q), len(bad)+1)
	}
	// Putting a deployment of a quarantined name stores it afresh and
	// marks the lost record superseded.
	if r, err := s.Put(d, "again"); err != nil || r.Generation != 1 {
		t.Fatalf("put after quarantine: %+v %v", r, err)
	}
	q, _ = s.Quarantined()
	for _, e := range q {
		if e.Superseded != (e.Key == "good") {
			t.Errorf("quarantined %q superseded=%v after a put of %q", e.Key, e.Superseded, "good")
		}
	}
}

// TestGetSetsAsideCorruptRecord: a record that goes bad under a running
// store is reported by Get as a CorruptError and quarantined.
func TestGetSetsAsideCorruptRecord(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketDeployments).Put([]byte("x"), []byte("nope")) }); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get("x")
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Key != "x" {
		t.Fatalf("get: %v", err)
	}
	if q, _ := s.Quarantined(); len(q) != 1 || string(q[0].Value) != "nope" {
		t.Fatalf("quarantine: %+v", q)
	}
	if _, err := s.Get("x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second get: %v", err)
	}
}

// TestMirrorMakesTheStoreExactly keeps records as the cluster gave them
// (generation included), drops what the cluster no longer has, and says
// whether anything changed.
func TestMirrorMakesTheStoreExactly(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	parse := func(name string) *spec.Deployment {
		d, err := spec.Parse(name+".yaml", []byte("version: v1\ndeployment: "+name+"\nservices:\n  web:\n    image: busybox\n"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if _, err := s.Put(parse("local"), "x"); err != nil {
		t.Fatal(err)
	}
	a := &Record{Name: "a", Spec: parse("a"), Source: "src-a", Generation: 7}
	changed, err := s.Mirror([]*Record{a})
	if err != nil || !changed {
		t.Fatalf("mirror: changed=%v err=%v", changed, err)
	}
	l, _ := s.List()
	if len(l) != 1 || l[0].Name != "a" || l[0].Generation != 7 || l[0].Source != "src-a" {
		t.Fatalf("after mirror: %+v", l)
	}
	if changed, err := s.Mirror([]*Record{a}); err != nil || changed {
		t.Fatalf("same mirror again: changed=%v err=%v", changed, err)
	}
	if _, err := s.Mirror([]*Record{{Name: "b", Spec: parse("c")}}); err == nil {
		t.Fatal("a record naming another deployment was mirrored")
	}
	if changed, err := s.Mirror(nil); err != nil || !changed {
		t.Fatalf("empty mirror: changed=%v err=%v", changed, err)
	}
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("left after empty mirror: %+v", l)
	}
}
