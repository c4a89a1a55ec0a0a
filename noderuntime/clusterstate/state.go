// Package clusterstate is typed access to a cluster's state in its
// embedded etcd: deployments and their history, nodes and their liveness, replica
// assignments, the replicas' status, join tokens, sealed secrets, per-node
// subnets, the scheduler's election, and snapshots of it all.
//
// Everything lives under Prefix as JSON. Writes that can race with another
// server's are etcd transactions comparing what was read; liveness and
// status hang on etcd leases, so that they vanish with a node that stops
// renewing them; the scheduler is elected with etcd's concurrency package.
// Readers are level-triggered: WaitChange says that something under Prefix
// changed, and the caller reads again what it needs.
package clusterstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is where the cluster's keys live; its version part lets a later
// layout live beside this one during an upgrade.
const Prefix = "/zlayer/v1/"

// The key spaces under Prefix.
const (
	deploymentsPrefix = Prefix + "deployments/"
	historyPrefix     = Prefix + "history/"
	nodesPrefix       = Prefix + "nodes/"
	alivePrefix       = Prefix + "alive/"
	assignPrefix      = Prefix + "assign/"
	statusPrefix      = Prefix + "status/"
	tokensPrefix      = Prefix + "tokens/"
	subnetsPrefix     = Prefix + "subnets/"
	electionPrefix    = Prefix + "election/scheduler"
	networkKey        = Prefix + "network"
)

// DefaultTimeout bounds the calls that take no context (the ones shaped
// like store.Store's).
const DefaultTimeout = 10 * time.Second

// maxOps is how many operations one transaction carries at most: etcd
// refuses more than 128 (its --max-txn-ops default), and a guard's
// compares count apart from them.
const maxOps = 100

// Options configure a State.
type Options struct {
	// Log gets a line for every record that cannot be decoded (slog's
	// default logger when nil).
	Log *slog.Logger
}

// State is the cluster's state in etcd, through one client.
type State struct {
	cli *clientv3.Client
	log *slog.Logger

	// leases are the ones Renew keeps on behalf of nodes, by node name.
	mu     sync.Mutex
	leases map[string]clientv3.LeaseID
}

// New is the state behind cli, which the caller keeps and closes.
func New(cli *clientv3.Client) *State { return NewWith(cli, Options{}) }

// NewWith is New with options.
func NewWith(cli *clientv3.Client, o Options) *State {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &State{cli: cli, log: o.Log, leases: map[string]clientv3.LeaseID{}}
}

// Client is the etcd client the state uses.
func (s *State) Client() *clientv3.Client { return s.cli }

// ErrNotLeader is a write whose guard failed: the scheduler that made it
// no longer holds the election, and nothing of the write was applied.
var ErrNotLeader = errors.New("not the scheduler leader any more: write refused")

// CorruptError is a record that cannot be decoded. It stays in etcd as it
// is (a later write of the same key replaces it); readers of many records
// log it and leave it out.
type CorruptError struct {
	Key string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("cluster state record %q cannot be decoded: %v", e.Key, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// skipCorrupt logs a record a list leaves out.
func (s *State) skipCorrupt(key string, err error) {
	s.log.Error("cluster state record cannot be decoded; left out, the others go on", "key", key, "err", err)
}

// getJSON reads key into v; found is false when the key is absent. The
// key's mod revision (0 when absent) is what a txn compares to replace it.
func (s *State) getJSON(ctx context.Context, key string, v any) (found bool, rev int64, err error) {
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return false, 0, fmt.Errorf("read %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return false, 0, nil
	}
	kv := resp.Kvs[0]
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return true, kv.ModRevision, &CorruptError{Key: key, Err: err}
	}
	return true, kv.ModRevision, nil
}

// unchanged is the compare of a read-modify-write: key is as it was read
// at rev (absent when rev is 0).
func unchanged(key string, rev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(key), "=", rev)
}

// absent compares true while key does not exist.
func absent(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// The types written here are plain data; a failure is a bug.
		panic(fmt.Sprintf("clusterstate: encode %T: %v", v, err))
	}
	return string(b)
}

// defaultCtx is the context of the calls that take none.
func defaultCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), DefaultTimeout)
}

// listOf decodes every record under prefix, in key order; one that does
// not decode is logged and left out.
func listOf[T any](ctx context.Context, s *State, prefix string) ([]T, error) {
	var out []T
	err := s.listJSON(ctx, prefix, func(_ string, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// listJSON calls each with every key under prefix and its value, in key
// order; a value each cannot decode (its error) is logged and skipped.
func (s *State) listJSON(ctx context.Context, prefix string, each func(key string, v []byte) error) error {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		if err := each(string(kv.Key), kv.Value); err != nil {
			s.skipCorrupt(string(kv.Key), err)
		}
	}
	return nil
}

// inChunks applies ops in transactions of at most maxOps, ops[i:j] under
// the compares cmps(i, j) gives; ok is false when a transaction's compares
// failed (it did nothing, and the ones after it were not tried).
func (s *State) inChunks(ctx context.Context, ops []clientv3.Op, cmps func(i, j int) []clientv3.Cmp) (ok bool, err error) {
	for i := 0; i < len(ops); i += maxOps {
		j := min(i+maxOps, len(ops))
		tr, err := s.cli.Txn(ctx).If(cmps(i, j)...).Then(ops[i:j]...).Commit()
		if err != nil {
			return false, err
		}
		if !tr.Succeeded {
			return false, nil
		}
	}
	return true, nil
}

// update is a read-modify-write of the record at key: change gets the
// record as read (found false, and the zero T, when there is none) and
// says whether to write it back; the write holds only if the key is still
// as read, and the whole is done again when it is not. With
// replaceCorrupt, a record that cannot be decoded is logged and handed
// to change as absent; without, it is an error.
func update[T any](ctx context.Context, s *State, key string, replaceCorrupt bool, change func(v *T, found bool) (write bool, err error)) error {
	for {
		var v T
		found, rev, err := s.getJSON(ctx, key, &v)
		var corrupt *CorruptError
		if replaceCorrupt && errors.As(err, &corrupt) {
			s.log.Error("cluster state record cannot be decoded; replaced", "key", key, "err", err)
			v, found, err = *new(T), false, nil
		}
		if err != nil {
			return err
		}
		write, err := change(&v, found)
		if err != nil || !write {
			return err
		}
		tr, err := s.cli.Txn(ctx).If(unchanged(key, rev)).Then(clientv3.OpPut(key, mustJSON(&v))).Commit()
		if err != nil || tr.Succeeded {
			return err
		}
	}
}
