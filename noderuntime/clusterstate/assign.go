package clusterstate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ReplicaKey names one replica of a service: assign/<dep>/<svc>/<index>.
type ReplicaKey struct {
	Deployment, Service string
	Index               int
}

func (k ReplicaKey) String() string {
	return k.Deployment + "/" + k.Service + "/" + strconv.Itoa(k.Index)
}

func (k ReplicaKey) key() string { return assignPrefix + k.String() }

// parseReplicaKey reads the part of an assignment key after assignPrefix.
func parseReplicaKey(s string) (ReplicaKey, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return ReplicaKey{}, fmt.Errorf("assignment key %q: want <deployment>/<service>/<index>", s)
	}
	i, err := strconv.Atoi(parts[2])
	if err != nil || i < 0 {
		return ReplicaKey{}, fmt.Errorf("assignment key %q: index %q is not a replica index", s, parts[2])
	}
	return ReplicaKey{Deployment: parts[0], Service: parts[1], Index: i}, nil
}

// Assignment is where the scheduler placed a replica.
type Assignment struct {
	Node string `json:"node"`
	// From is the node the replica is moving away from (drain, node_selector change): it keeps
	// running there until the new one on Node is ready, then the scheduler clears From.
	From string `json:"from,omitempty"`
}

// Assignments are all replicas' placements, with the store revision they
// were read at.
func (s *State) Assignments(ctx context.Context) (map[ReplicaKey]Assignment, int64, error) {
	resp, err := s.cli.Get(ctx, assignPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("read assignments: %w", err)
	}
	out := make(map[ReplicaKey]Assignment, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		k, err := parseReplicaKey(strings.TrimPrefix(string(kv.Key), assignPrefix))
		if err == nil {
			var a Assignment
			if err = json.Unmarshal(kv.Value, &a); err == nil {
				out[k] = a
				continue
			}
		}
		s.skipCorrupt(string(kv.Key), err)
	}
	return out, resp.Header.Revision, nil
}

// WriteAssignments sets and deletes placements in transactions of at most
// maxOps operations, each applied only while every compare of guard holds
// (the scheduler passes its Leadership's Guard, so that a deposed leader
// writes nothing). When a guard fails it returns ErrNotLeader; the
// transactions before it stay applied, which a scheduler that computes
// the whole placement each time (as the next leader does) repairs.
func (s *State) WriteAssignments(ctx context.Context, guard []clientv3.Cmp, set map[ReplicaKey]Assignment, del []ReplicaKey) error {
	ops := make([]clientv3.Op, 0, len(set)+len(del))
	// Sorted, so that the chunks, and what a failed write left applied,
	// do not depend on map order.
	keys := make([]ReplicaKey, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ReplicaKey) int { return strings.Compare(a.key(), b.key()) })
	for _, k := range keys {
		ops = append(ops, clientv3.OpPut(k.key(), mustJSON(set[k])))
	}
	for _, k := range del {
		ops = append(ops, clientv3.OpDelete(k.key()))
	}
	ok, err := s.inChunks(ctx, ops, func(int, int) []clientv3.Cmp { return guard })
	if err != nil {
		return fmt.Errorf("write assignments: %w", err)
	}
	if !ok {
		return ErrNotLeader
	}
	return nil
}
