// Package store keeps the node's desired state (deployments) durably in a
// bbolt file in the data dir, so a restarted node converges to what was
// last applied.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

var bucketDeployments = []byte("deployments")

// ErrNotFound is returned for an unknown deployment.
var ErrNotFound = errors.New("deployment not found")

// Record is a stored deployment: the validated spec plus bookkeeping.
type Record struct {
	Name       string           `json:"name"`
	Spec       *spec.Deployment `json:"spec"`
	Source     string           `json:"source,omitempty"` // the YAML as applied
	Generation int64            `json:"generation"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
}

type Store struct{ db *bolt.DB }

// Open opens (creating) the database at path. A second node on the same data
// dir fails here after a short wait instead of corrupting state.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open state %s (is another zlayer serve using this data dir?): %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketDeployments)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

func (s *Store) Close() error { return s.db.Close() }

// Put stores d, bumping its generation; it returns the stored record.
func (s *Store) Put(d *spec.Deployment, source string) (*Record, error) {
	var rec Record
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeployments)
		now := time.Now().UTC()
		rec = Record{Name: d.Deployment, CreatedAt: now}
		if old := b.Get([]byte(d.Deployment)); old != nil {
			var prev Record
			if err := json.Unmarshal(old, &prev); err == nil {
				rec.CreatedAt, rec.Generation = prev.CreatedAt, prev.Generation
			}
		}
		rec.Spec, rec.Source, rec.UpdatedAt = d, source, now
		rec.Generation++
		v, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(d.Deployment), v)
	})
	return &rec, err
}

func (s *Store) Get(name string) (*Record, error) {
	var rec *Record
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDeployments).Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		rec = &Record{}
		return json.Unmarshal(v, rec)
	})
	return rec, err
}

// List returns all deployments, by name.
func (s *Store) List() ([]*Record, error) {
	var out []*Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeployments).ForEach(func(k, v []byte) error {
			rec := &Record{}
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("deployment %s: %w", k, err)
			}
			out = append(out, rec)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func (s *Store) Delete(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeployments)
		if b.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(name))
	})
}
