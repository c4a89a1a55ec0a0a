package clusterstate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// Each node publishes the status of the replicas it runs under
// status/<node>/<replica id>, on its lease: a dead node's status goes with
// its liveness.

func statusNodePrefix(node string) string { return statusPrefix + node + "/" }

// PutStatus makes status/<node>/ exactly rs, all on lease: it puts the
// replicas whose status or lease changed and deletes the ones gone. Each
// transaction compares the keys it replaces with what was read, and the
// whole is read and written again when another writer came between (a
// server taking over an agent's heartbeats from another).
func (s *State) PutStatus(ctx context.Context, node string, lease clientv3.LeaseID, rs []apitypes.ReplicaStatus) error {
	pfx := statusNodePrefix(node)
	want := make(map[string]string, len(rs))
	for _, r := range rs {
		if r.ID == "" || strings.Contains(r.ID, "/") {
			return fmt.Errorf("put status of node %s: replica id %q", node, r.ID)
		}
		want[pfx+r.ID] = mustJSON(r)
	}
	for {
		resp, err := s.cli.Get(ctx, pfx, clientv3.WithPrefix())
		if err != nil {
			return fmt.Errorf("put status of node %s: %w", node, err)
		}
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		have := map[string]bool{}
		for _, kv := range resp.Kvs {
			k := string(kv.Key)
			have[k] = true
			v, keep := want[k]
			switch {
			case !keep:
				ops = append(ops, clientv3.OpDelete(k))
			case !bytes.Equal(kv.Value, []byte(v)) || clientv3.LeaseID(kv.Lease) != lease:
				ops = append(ops, clientv3.OpPut(k, v, clientv3.WithLease(lease)))
			default:
				continue
			}
			cmps = append(cmps, unchanged(k, kv.ModRevision))
		}
		keys := make([]string, 0, len(want))
		for k := range want {
			if !have[k] {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			ops = append(ops, clientv3.OpPut(k, want[k], clientv3.WithLease(lease)))
			cmps = append(cmps, absent(k))
		}
		ok, err := s.inChunks(ctx, ops, func(i, j int) []clientv3.Cmp { return cmps[i:j] })
		if err != nil {
			return fmt.Errorf("put status of node %s: %w", node, err)
		}
		if ok {
			return nil
		}
	}
}

// Statuses are the replicas each node published, by node, each node's
// sorted by replica id.
func (s *State) Statuses(ctx context.Context) (map[string][]apitypes.ReplicaStatus, error) {
	out := map[string][]apitypes.ReplicaStatus{}
	err := s.listJSON(ctx, statusPrefix, func(key string, v []byte) error {
		node, _, ok := strings.Cut(strings.TrimPrefix(key, statusPrefix), "/")
		if !ok {
			return fmt.Errorf("status key %q: want status/<node>/<replica id>", key)
		}
		var r apitypes.ReplicaStatus
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out[node] = append(out[node], r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read replica status: %w", err)
	}
	return out, nil
}
