package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// A deployment's last generations live beside it, one key per generation
// under historyPrefix/<deployment>/, written in the transaction that
// writes the deployment and deleted with it, so the two never disagree.
// What is kept and what a rollback or restart makes are store's rules
// (store.Next, store.Forgotten, store.PlanRollback, store.PlanRestart),
// the same as on a single node.

// historyOf is the key prefix of name's history.
func historyOf(name string) string { return historyPrefix + name + "/" }

// historyKey is the key of generation gen of name, zero-padded so that
// etcd's key order is the generations' order.
func historyKey(name string, gen int64) string { return fmt.Sprintf("%s%020d", historyOf(name), gen) }

// PutChange stores d, bumping its generation (see store.Next), and keeps it
// in the deployment's history with ch; it returns the stored record. A
// record that cannot be decoded is replaced, as a new deployment
// (generation 1), and logged.
func (s *State) PutChange(d *spec.Deployment, source string, ch store.Change) (*store.Record, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return s.PutChangeCtx(ctx, d, source, ch)
}

// PutChangeCtx is PutChange with ctx. Two servers that put one deployment
// at once both succeed, one after the other: the write compares the
// record's revision as read and reads again when another write came
// between.
func (s *State) PutChangeCtx(ctx context.Context, d *spec.Deployment, source string, ch store.Change) (*store.Record, error) {
	rec, err := s.next(ctx, d.Deployment, true, func(*store.Record, []store.Kept) (*spec.Deployment, string, store.Change, error) {
		return d, source, ch, nil
	})
	if err != nil {
		return nil, fmt.Errorf("put deployment %s: %w", d.Deployment, err)
	}
	return rec, nil
}

// History lists the kept generations of name, oldest first;
// store.ErrNotFound when there is no deployment name. A generation that
// cannot be decoded is logged and left out.
func (s *State) History(name string) ([]store.Generation, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	cur, kept, _, err := s.readWithHistory(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", name, err)
	}
	if cur == nil {
		return nil, store.ErrNotFound
	}
	return store.Decoded(kept, func(gen int64, err error) {
		s.skipCorrupt(historyKey(name, gen), err)
	}), nil
}

// Rollback stores a new generation of name with the spec and source of an
// earlier one (see store.RollbackRequest and store.PlanRollback), marked
// as rolled back.
func (s *State) Rollback(name string, req store.RollbackRequest) (*store.Record, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return s.next(ctx, name, false, func(cur *store.Record, kept []store.Kept) (*spec.Deployment, string, store.Change, error) {
		return store.PlanRollback(cur, kept, req)
	})
}

// Restart stores a new generation of name in which service svc's restart
// counter is one more (see store.PlanRestart), so the replicas roll.
func (s *State) Restart(name, svc, by string) (*store.Record, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return s.next(ctx, name, false, func(cur *store.Record, _ []store.Kept) (*spec.Deployment, string, store.Change, error) {
		return store.PlanRestart(cur, svc, by)
	})
}

// plan says what the generation after cur (nil: none) stores, given its
// kept history (ascending).
type plan func(cur *store.Record, kept []store.Kept) (*spec.Deployment, string, store.Change, error)

// next stores the generation after name's current one that make plans,
// with its history entry, in one transaction that holds only while the
// deployment is as read (it is read and planned again otherwise). Without
// orNew, a missing or undecodable current record is store.ErrNotFound;
// with it, the plan gets nil and the generation is the first.
func (s *State) next(ctx context.Context, name string, orNew bool, build plan) (*store.Record, error) {
	key := deploymentKey(name)
	for {
		cur, kept, rev, err := s.readWithHistory(ctx, name)
		var corrupt *CorruptError
		switch {
		case orNew && errors.As(err, &corrupt):
			s.log.Error("cluster state record cannot be decoded; replaced by the new one", "key", key, "err", err)
		case err != nil:
			return nil, err
		case cur == nil && !orNew:
			return nil, store.ErrNotFound
		}
		d, source, ch, err := build(cur, kept)
		if err != nil {
			return nil, err
		}
		rec := store.Next(cur, d, source, ch, time.Now().UTC())
		ops := []clientv3.Op{
			clientv3.OpPut(key, mustJSON(rec)),
			clientv3.OpPut(historyKey(name, rec.Generation), mustJSON(store.HistoryEntry(rec))),
		}
		for _, g := range store.Forgotten(generations(kept, rec.Generation), rec.Generation) {
			ops = append(ops, clientv3.OpDelete(historyKey(name, g)))
		}
		tr, err := s.cli.Txn(ctx).If(unchanged(key, rev)).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("write deployment %s: %w", name, err)
		}
		if tr.Succeeded {
			return rec, nil
		}
	}
}

// generations is what is kept once gen is written over kept: kept's
// generations (an entry of gen left from an earlier life of the name is
// overwritten) and gen, ascending.
func generations(kept []store.Kept, gen int64) []int64 {
	gens := make([]int64, 0, len(kept)+1)
	for _, k := range kept {
		if k.Generation < gen {
			gens = append(gens, k.Generation)
		}
	}
	gens = append(gens, gen)
	for _, k := range kept {
		if k.Generation > gen {
			gens = append(gens, k.Generation)
		}
	}
	return gens
}

// readWithHistory reads name's record and history at one revision: cur is
// nil when there is no record, and rev is the record's mod revision (0
// when absent) for a write to compare. A record that cannot be decoded
// is a *CorruptError, with kept and rev as read.
func (s *State) readWithHistory(ctx context.Context, name string) (cur *store.Record, kept []store.Kept, rev int64, err error) {
	key := deploymentKey(name)
	tr, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(key),
		clientv3.OpGet(historyOf(name), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read deployment %s: %w", name, err)
	}
	if kvs := tr.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
		rev = kvs[0].ModRevision
		if cur, err = store.Decode(name, kvs[0].Value); err != nil {
			cur, err = nil, &CorruptError{Key: key, Err: err}
		}
	}
	for _, kv := range tr.Responses[1].GetResponseRange().Kvs {
		g, perr := strconv.ParseInt(strings.TrimPrefix(string(kv.Key), historyOf(name)), 10, 64)
		if perr != nil {
			s.skipCorrupt(string(kv.Key), perr)
			continue
		}
		kept = append(kept, store.Kept{Generation: g, Value: kv.Value})
	}
	return cur, kept, rev, err
}
