package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// bucketHistory holds one sub-bucket per deployment, its last
// MaxHistory generations keyed by generation (8 bytes, big-endian, so
// bbolt keeps them in order).
var bucketHistory = []byte("history")

// MaxHistory is how many generations of a deployment are kept: enough to
// go back past a few bad deploys, few enough that a deploy loop does not
// grow the state file without bound.
const MaxHistory = 10

// Cause is what made a generation.
type Cause string

const (
	CauseDeploy   Cause = "deploy"
	CauseScale    Cause = "scale"
	CauseRollback Cause = "rollback"
	CauseRestart  Cause = "restart"
	// CauseSecret: a secret the deployment uses got a new value.
	CauseSecret Cause = "secret"
)

// Change says what makes a new generation and who asked for it.
type Change struct {
	Cause Cause
	// By is who asked: "socket" for the unix socket, "token:admin" for
	// the TCP API's admin token, "node" for the node itself.
	By string
	// RolledBack is what a rollback undoes.
	RolledBack *RolledBack
}

// RolledBack is what a rollback generation undid.
type RolledBack struct {
	From   int64  `json:"from"`   // the generation rolled back
	To     int64  `json:"to"`     // the generation whose spec it re-applied
	Reason string `json:"reason"` // why: a failed rollout's cause, or "requested"
	// Auto is set when the node rolled back by itself (update.failure_action).
	Auto bool `json:"auto,omitempty"`
}

// Generation is one kept generation of a deployment.
type Generation struct {
	Generation int64            `json:"generation"`
	At         time.Time        `json:"at"`
	Hash       string           `json:"hash"` // spec.Deployment.Hash
	Cause      Cause            `json:"cause,omitempty"`
	By         string           `json:"by,omitempty"`
	RolledBack *RolledBack      `json:"rolled_back,omitempty"`
	Source     string           `json:"source,omitempty"`
	Spec       *spec.Deployment `json:"spec"`
}

// ErrNoGeneration is a rollback to a generation that is not kept.
var ErrNoGeneration = errors.New("no such earlier generation kept")

// ErrStale is a conditional rollback whose deployment moved on.
var ErrStale = errors.New("the deployment changed since")

func genKey(g int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(g)) }

// remember adds rec to its deployment's history and drops the
// generations Forgotten says go.
func (s *Store) remember(tx *bolt.Tx, rec *Record) error {
	hb, err := tx.Bucket(bucketHistory).CreateBucketIfNotExists([]byte(rec.Name))
	if err != nil {
		return err
	}
	v, err := json.Marshal(HistoryEntry(rec))
	if err != nil {
		return err
	}
	if err := hb.Put(genKey(rec.Generation), v); err != nil {
		return err
	}
	var gens []int64
	c := hb.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		gens = append(gens, int64(binary.BigEndian.Uint64(k)))
	}
	for _, g := range Forgotten(gens, rec.Generation) {
		if err := hb.Delete(genKey(g)); err != nil {
			return err
		}
	}
	return nil
}

// kept is name's history as stored, oldest first (none when it has none).
func kept(tx *bolt.Tx, name string) []Kept {
	hb := tx.Bucket(bucketHistory).Bucket([]byte(name))
	if hb == nil {
		return nil
	}
	var out []Kept
	c := hb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		out = append(out, Kept{Generation: int64(binary.BigEndian.Uint64(k)), Value: clone(v)})
	}
	return out
}

func forget(tx *bolt.Tx, name string) error {
	if tx.Bucket(bucketHistory).Bucket([]byte(name)) == nil {
		return nil
	}
	return tx.Bucket(bucketHistory).DeleteBucket([]byte(name))
}

// History lists the kept generations of name, oldest first. A generation
// that cannot be decoded is left out (history is for looking back; the
// deployment itself is what runs).
func (s *Store) History(name string) ([]Generation, error) {
	var out []Generation
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDeployments).Get([]byte(name)) == nil {
			return ErrNotFound
		}
		out = Decoded(kept(tx, name), func(gen int64, err error) {
			s.log.Warn("history entry cannot be decoded; left out", "deployment", name, "generation", gen, "err", err)
		})
		return nil
	})
	return out, err
}

// RollbackRequest says what Rollback re-applies.
type RollbackRequest struct {
	// To is the generation whose spec comes back; 0: the newest kept
	// generation before the current one that runs other replicas (another
	// Hash), i.e. the state before the last change of what runs.
	To int64
	// IfGeneration, when not 0, makes the rollback happen only while that
	// generation is the current one (ErrStale otherwise): the node's own
	// rollback must not undo a deploy that came after the failure it saw.
	IfGeneration int64
	Reason       string
	Auto         bool
	By           string
}

// Rollback stores a new generation of name with the spec and source of an
// earlier one (see RollbackRequest and PlanRollback), marked as rolled
// back.
func (s *Store) Rollback(name string, req RollbackRequest) (*Record, error) {
	return s.next(name, func(tx *bolt.Tx, cur *Record) (*Record, error) {
		d, source, ch, err := PlanRollback(cur, kept(tx, name), req)
		if err != nil {
			return nil, err
		}
		return s.put(tx, cur, d, source, ch)
	})
}

// next stores the generation after name's current one that build makes of
// it, in one transaction; ErrNotFound when there is no current one.
func (s *Store) next(name string, build func(tx *bolt.Tx, cur *Record) (*Record, error)) (*Record, error) {
	var rec *Record
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, err := s.current(tx, name)
		if err != nil {
			return err
		}
		if cur == nil {
			return ErrNotFound
		}
		rec, err = build(tx, cur)
		return err
	})
	return rec, err
}

func decodeGen(v []byte) (*Generation, error) {
	var g Generation
	if err := json.Unmarshal(v, &g); err != nil {
		return nil, fmt.Errorf("history entry: %w", err)
	}
	if g.Spec == nil {
		return nil, errors.New("history entry has no spec")
	}
	return &g, nil
}

// Restart stores a new generation of name in which service svc's restart
// counter is one more (see PlanRestart), so the controller rolls its
// replicas.
func (s *Store) Restart(name, svc, by string) (*Record, error) {
	return s.next(name, func(tx *bolt.Tx, cur *Record) (*Record, error) {
		d, source, ch, err := PlanRestart(cur, svc, by)
		if err != nil {
			return nil, err
		}
		return s.put(tx, cur, d, source, ch)
	})
}

// ErrNoService is a restart of a service the deployment does not have.
var ErrNoService = errors.New("no such service")
