package clusterstate

import (
	"context"
	"fmt"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// Deployments have store.Store's method set (Put, Get, List, Delete), so
// that the API takes either; the Ctx variants take a context instead of
// DefaultTimeout.

func deploymentKey(name string) string { return deploymentsPrefix + name }

// Put stores d as a deploy (see PutChange).
func (s *State) Put(d *spec.Deployment, source string) (*store.Record, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return s.PutCtx(ctx, d, source)
}

// PutCtx is Put with ctx.
func (s *State) PutCtx(ctx context.Context, d *spec.Deployment, source string) (*store.Record, error) {
	return s.PutChangeCtx(ctx, d, source, store.Change{Cause: store.CauseDeploy})
}

// Import stores recs as they are (generations and times included) where
// no deployment of their name exists yet: a single node's deployments
// moving into the cluster it starts. Each starts the cluster's history of
// its deployment, so that a rollback can come back to it. It returns the
// names it stored.
func (s *State) Import(ctx context.Context, recs []*store.Record) ([]string, error) {
	var done []string
	for _, r := range recs {
		if r == nil || r.Spec == nil || r.Name == "" || r.Spec.Deployment != r.Name {
			return done, fmt.Errorf("import: record %v is not a deployment", r)
		}
		key := deploymentKey(r.Name)
		tr, err := s.cli.Txn(ctx).If(absent(key)).Then(
			clientv3.OpPut(key, mustJSON(r)),
			clientv3.OpPut(historyKey(r.Name, r.Generation), mustJSON(store.HistoryEntry(r))),
		).Commit()
		if err != nil {
			return done, fmt.Errorf("import deployment %s: %w", r.Name, err)
		}
		if tr.Succeeded {
			done = append(done, r.Name)
		}
	}
	return done, nil
}

// Get returns the deployment name: store.ErrNotFound when there is none, a
// *CorruptError when its record cannot be decoded.
func (s *State) Get(name string) (*store.Record, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return s.GetCtx(ctx, name)
}

// GetCtx is Get with ctx.
func (s *State) GetCtx(ctx context.Context, name string) (*store.Record, error) {
	key := deploymentKey(name)
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get deployment %s: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, store.ErrNotFound
	}
	rec, err := store.Decode(name, resp.Kvs[0].Value)
	if err != nil {
		return nil, &CorruptError{Key: key, Err: err}
	}
	return rec, nil
}

// List returns the deployments whose records decode, by name; the others
// are logged and left out, so that one bad record does not stop the
// cluster from running the rest.
func (s *State) List() ([]*store.Record, error) {
	ctx, cancel := defaultCtx()
	defer cancel()
	return s.ListCtx(ctx)
}

// ListCtx is List with ctx.
func (s *State) ListCtx(ctx context.Context) ([]*store.Record, error) {
	resp, err := s.cli.Get(ctx, deploymentsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	out := make([]*store.Record, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), deploymentsPrefix)
		rec, err := store.Decode(name, kv.Value)
		if err != nil {
			s.skipCorrupt(string(kv.Key), err)
			continue
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete removes the deployment name, its history and its replicas'
// assignments in one transaction (a later deploy of the name starts again
// at generation 1); store.ErrNotFound when there is none.
func (s *State) Delete(name string) error {
	ctx, cancel := defaultCtx()
	defer cancel()
	return s.DeleteCtx(ctx, name)
}

// DeleteCtx is Delete with ctx.
func (s *State) DeleteCtx(ctx context.Context, name string) error {
	key := deploymentKey(name)
	tr, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(
			clientv3.OpDelete(key),
			clientv3.OpDelete(historyOf(name), clientv3.WithPrefix()),
			clientv3.OpDelete(assignPrefix+name+"/", clientv3.WithPrefix()),
		).
		Commit()
	if err != nil {
		return fmt.Errorf("delete deployment %s: %w", name, err)
	}
	if !tr.Succeeded {
		return store.ErrNotFound
	}
	return nil
}
