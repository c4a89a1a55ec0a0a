// Package store keeps the node's desired state (deployments) durably in a
// bbolt file in the data dir, so a restarted node converges to what was
// last applied, and the last generations of each deployment (history.go),
// for rollbacks. A record that cannot be decoded is never fatal and never
// dropped: it is moved, as it was, to a quarantine bucket and reported, and
// the other deployments go on.
package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

var (
	bucketDeployments = []byte("deployments")
	// bucketQuarantine holds one sub-bucket per set-aside record, named
	// KEY@UNIXNANO so that repeated quarantines of one name all stay.
	bucketQuarantine = []byte("quarantine")
)

// ErrNotFound is returned for an unknown deployment.
var ErrNotFound = errors.New("deployment not found")

// CorruptError is a stored record that could not be decoded. The record has
// been moved to quarantine; the deployment it was is no longer desired.
type CorruptError struct {
	Key string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state record %q cannot be decoded (moved to quarantine): %v", e.Key, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Record is a stored deployment: the validated spec plus bookkeeping.
type Record struct {
	Name       string           `json:"name"`
	Spec       *spec.Deployment `json:"spec"`
	Source     string           `json:"source,omitempty"` // the YAML as applied
	Generation int64            `json:"generation"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	// Cause and By say what made this generation (see Change).
	Cause Cause  `json:"cause,omitempty"`
	By    string `json:"by,omitempty"`
	// RolledBack is set on a generation made by a rollback: what failed
	// and why. It stays until the next generation.
	RolledBack *RolledBack `json:"rolled_back,omitempty"`
}

// Quarantined is a record set aside because it could not be decoded.
type Quarantined struct {
	Key   string    `json:"key"`   // the deployment name it was stored under
	Error string    `json:"error"` // why it could not be decoded
	At    time.Time `json:"at"`    // when it was set aside
	Value []byte    `json:"value"` // the stored bytes, unchanged
	// Superseded is set once the name was deployed again: the new record,
	// not the lost one, says what runs under it.
	Superseded bool `json:"superseded,omitempty"`
}

// Options configure a Store.
type Options struct {
	// Log gets one line per record set aside (key and decode error).
	Log *slog.Logger
}

type Store struct {
	db  *bolt.DB
	log *slog.Logger
}

// Open opens (creating) the database at path. A second node on the same data
// dir fails here after a short wait instead of corrupting state.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options. Records that cannot be decoded are moved
// to quarantine here, before anything reads them.
func OpenWith(path string, o Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open state %s (is another zlayer serve using this data dir?): %w", path, err)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Store{db: db, log: o.Log}
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketQuarantine); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketHistory); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketDeployments)
		if err != nil {
			return err
		}
		type bad struct {
			k, v []byte
			err  error
		}
		var bads []bad
		if err := b.ForEach(func(k, v []byte) error {
			if _, err := decode(k, v); err != nil {
				bads = append(bads, bad{k: clone(k), v: clone(v), err: err})
			}
			return nil
		}); err != nil {
			return err
		}
		for _, x := range bads {
			if err := s.quarantine(tx, x.k, x.v, x.err); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) Close() error { return s.db.Close() }

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// decode reads a record and checks what the controller relies on: a record
// that decodes but names another deployment, or has no spec, is as unusable
// as one that does not decode.
func decode(k, v []byte) (*Record, error) {
	rec := &Record{}
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, err
	}
	switch {
	case rec.Spec == nil:
		return nil, errors.New("record has no spec")
	case rec.Name != string(k) || rec.Spec.Deployment != string(k):
		return nil, fmt.Errorf("record names deployment %q (spec %q)", rec.Name, rec.Spec.Deployment)
	}
	for name, svc := range rec.Spec.Services {
		if svc == nil {
			return nil, fmt.Errorf("service %q has no definition", name)
		}
	}
	return rec, nil
}

// Decode reads the stored record of deployment name as Get does, with the
// same checks; another store of records (the cluster's) uses it to judge
// its records the same way.
func Decode(name string, v []byte) (*Record, error) { return decode([]byte(name), v) }

// quarantine moves the record k out of the deployments bucket into its own
// quarantine sub-bucket, keeping its bytes and the decode error. tx is a
// write transaction.
func (s *Store) quarantine(tx *bolt.Tx, k, v []byte, cause error) error {
	at := time.Now().UTC()
	name := []byte(string(k) + "@" + strconv.FormatInt(at.UnixNano(), 10))
	qb, err := tx.Bucket(bucketQuarantine).CreateBucketIfNotExists(name)
	if err != nil {
		return fmt.Errorf("quarantine %q: %w", k, err)
	}
	for field, val := range map[string][]byte{
		"key": k, "value": v, "error": []byte(cause.Error()), "at": []byte(at.Format(time.RFC3339Nano)),
	} {
		if err := qb.Put([]byte(field), val); err != nil {
			return fmt.Errorf("quarantine %q: %w", k, err)
		}
	}
	if err := tx.Bucket(bucketDeployments).Delete(k); err != nil {
		return fmt.Errorf("quarantine %q: %w", k, err)
	}
	s.log.Error("state record cannot be decoded; moved to quarantine, other deployments go on",
		"key", string(k), "err", cause, "quarantine", string(name))
	return nil
}

// supersede marks the quarantined records of name as replaced by a new one.
func supersede(tx *bolt.Tx, name string, at time.Time) error {
	q := tx.Bucket(bucketQuarantine)
	return q.ForEachBucket(func(k []byte) error {
		qb := q.Bucket(k)
		if string(qb.Get([]byte("key"))) != name || qb.Get([]byte("superseded")) != nil {
			return nil
		}
		return qb.Put([]byte("superseded"), []byte(at.Format(time.RFC3339Nano)))
	})
}

// Quarantined lists the records set aside, oldest first.
func (s *Store) Quarantined() ([]Quarantined, error) {
	var out []Quarantined
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQuarantine).ForEachBucket(func(name []byte) error {
			qb := tx.Bucket(bucketQuarantine).Bucket(name)
			q := Quarantined{Key: string(qb.Get([]byte("key"))), Error: string(qb.Get([]byte("error"))), Value: clone(qb.Get([]byte("value")))}
			q.At, _ = time.Parse(time.RFC3339Nano, string(qb.Get([]byte("at"))))
			q.Superseded = qb.Get([]byte("superseded")) != nil
			out = append(out, q)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}

// setAside quarantines the record k if it still holds v (it may have been
// replaced since it was read) and returns the error to report for it.
func (s *Store) setAside(k, v []byte, cause error) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketDeployments).Get(k)
		if cur == nil || string(cur) != string(v) {
			return nil
		}
		return s.quarantine(tx, k, v, cause)
	})
	if err != nil {
		return err
	}
	return &CorruptError{Key: string(k), Err: cause}
}

// Put stores d as a deploy (see PutChange).
func (s *Store) Put(d *spec.Deployment, source string) (*Record, error) {
	return s.PutChange(d, source, Change{Cause: CauseDeploy})
}

// PutChange stores d, bumping its generation (see Next), and keeps it in
// the deployment's history with ch; it returns the stored record. An
// undecodable record of the same name is quarantined, not overwritten.
func (s *Store) PutChange(d *spec.Deployment, source string, ch Change) (*Record, error) {
	var rec *Record
	err := s.db.Update(func(tx *bolt.Tx) error {
		prev, err := s.current(tx, d.Deployment)
		if err != nil {
			return err
		}
		rec, err = s.put(tx, prev, d, source, ch)
		return err
	})
	return rec, err
}

// current is the stored record of name (nil when there is none); one
// that cannot be decoded is quarantined and counts as none. tx is a write
// transaction.
func (s *Store) current(tx *bolt.Tx, name string) (*Record, error) {
	old := tx.Bucket(bucketDeployments).Get([]byte(name))
	if old == nil {
		return nil, nil
	}
	prev, err := decode([]byte(name), old)
	if err != nil {
		return nil, s.quarantine(tx, []byte(name), clone(old), err)
	}
	return prev, nil
}

// put writes the generation after prev (nil: the first) and its history
// entry.
func (s *Store) put(tx *bolt.Tx, prev *Record, d *spec.Deployment, source string, ch Change) (*Record, error) {
	now := time.Now().UTC()
	if err := supersede(tx, d.Deployment, now); err != nil {
		return nil, err
	}
	rec := Next(prev, d, source, ch, now)
	v, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketDeployments).Put([]byte(d.Deployment), v); err != nil {
		return nil, err
	}
	if err := s.remember(tx, rec); err != nil {
		return nil, fmt.Errorf("history of %s: %w", d.Deployment, err)
	}
	return rec, nil
}

// Get returns the deployment name; a record that cannot be decoded is
// quarantined and reported as a *CorruptError.
func (s *Store) Get(name string) (*Record, error) {
	var raw []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDeployments).Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		raw = clone(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rec, err := decode([]byte(name), raw)
	if err != nil {
		return nil, s.setAside([]byte(name), raw, err)
	}
	return rec, nil
}

// List returns all deployments that decode, by name. Records that do not
// are quarantined (and logged) and left out: one bad record does not stop
// the node from running the others.
func (s *Store) List() ([]*Record, error) {
	var out []*Record
	type bad struct {
		k, v []byte
		err  error
	}
	var bads []bad
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDeployments).ForEach(func(k, v []byte) error {
			rec, err := decode(k, v)
			if err != nil {
				bads = append(bads, bad{clone(k), clone(v), err})
				return nil
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, b := range bads {
		var ce *CorruptError
		if err := s.setAside(b.k, b.v, b.err); !errors.As(err, &ce) {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete removes the deployment name and its history: a later deploy of
// the name starts again at generation 1.
func (s *Store) Delete(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeployments)
		if b.Get([]byte(name)) == nil {
			return ErrNotFound
		}
		if err := forget(tx, name); err != nil {
			return err
		}
		return b.Delete([]byte(name))
	})
}

// Mirror makes the stored deployments exactly recs, as they are
// (generations and times included): in cluster mode the node keeps a copy
// of the cluster's deployments, so it goes on running its replicas while
// cut off from the servers and after a restart there. It says whether
// anything changed.
func (s *Store) Mirror(recs []*Record) (bool, error) {
	want := make(map[string][]byte, len(recs))
	for _, r := range recs {
		if r == nil || r.Spec == nil || r.Name == "" || r.Spec.Deployment != r.Name {
			return false, fmt.Errorf("mirror: record %v is not a deployment", r)
		}
		v, err := json.Marshal(r)
		if err != nil {
			return false, fmt.Errorf("mirror %s: %w", r.Name, err)
		}
		want[r.Name] = v
	}
	// The servers send the same deployments many times over (every change
	// of the cluster's state wakes the node); a copy that already holds
	// them is not written again, which would cost a sync to disk each time.
	same := true
	if err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeployments)
		if b.Stats().KeyN != len(want) {
			same = false
			return nil
		}
		for name, v := range want {
			if !bytes.Equal(b.Get([]byte(name)), v) {
				same = false
				return nil
			}
		}
		return nil
	}); err != nil || same {
		return false, err
	}
	changed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeployments)
		var gone [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if _, ok := want[string(k)]; !ok {
				gone = append(gone, clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
			changed = true
		}
		now := time.Now().UTC()
		for name, v := range want {
			if bytes.Equal(b.Get([]byte(name)), v) {
				continue
			}
			if err := supersede(tx, name, now); err != nil {
				return err
			}
			if err := b.Put([]byte(name), v); err != nil {
				return err
			}
			changed = true
		}
		return nil
	})
	return changed, err
}
