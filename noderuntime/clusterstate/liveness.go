package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A node is ready while its key alive/<name> exists. The key hangs on a
// lease the node (or, for an agent, the server it heartbeats to) keeps
// alive: when the node dies the lease runs out and etcd deletes the key,
// with the node's status keys on the same lease.

func aliveKey(name string) string { return alivePrefix + name }

// aliveValue is what alive/<name> holds; readiness is the key's presence.
type aliveValue struct {
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
}

// ttlSeconds is ttl in etcd's whole seconds, at least one. etcd raises a
// TTL below its minimum (one and a half election timeouts: 8 s with
// etcdmember's timing) to that minimum.
func ttlSeconds(ttl time.Duration) int64 {
	return max(1, int64(math.Ceil(ttl.Seconds())))
}

// grantAlive grants a lease of ttl and puts alive/<name> on it.
func (s *State) grantAlive(ctx context.Context, name string, ttl time.Duration) (clientv3.LeaseID, error) {
	g, err := s.cli.Grant(ctx, ttlSeconds(ttl))
	if err != nil {
		return 0, fmt.Errorf("lease for node %s: %w", name, err)
	}
	v := mustJSON(aliveValue{Node: name, Since: time.Now().UTC()})
	if _, err := s.cli.Put(ctx, aliveKey(name), v, clientv3.WithLease(g.ID)); err != nil {
		return 0, fmt.Errorf("mark node %s alive: %w", name, err)
	}
	return g.ID, nil
}

// Liveness is a node's lease kept alive by KeepAlive.
type Liveness struct {
	lease clientv3.LeaseID
	lost  chan struct{}
	done  chan struct{}
}

// Lease is the lease alive/<name> hangs on; the node puts its status keys
// on it too.
func (l *Liveness) Lease() clientv3.LeaseID { return l.lease }

// Lost is closed when the lease could not be kept (it expired while the
// node was cut off from etcd, or was revoked): the node is not ready until
// it makes a new one with KeepAlive.
func (l *Liveness) Lost() <-chan struct{} { return l.lost }

// Done is closed once renewing has stopped, whether the lease was lost or
// KeepAlive's context ended.
func (l *Liveness) Done() <-chan struct{} { return l.done }

// KeepAlive grants a lease of ttl, puts alive/<name> on it and renews it
// (every third of ttl, etcd's client's pace) until ctx ends. Ending ctx
// does not revoke the lease: a node that restarts keeps its replicas, and
// they move elsewhere only if it does not come back before the TTL runs
// out.
func (s *State) KeepAlive(ctx context.Context, name string, ttl time.Duration) (*Liveness, error) {
	id, err := s.grantAlive(ctx, name, ttl)
	if err != nil {
		return nil, err
	}
	ch, err := s.cli.KeepAlive(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("keep node %s alive: %w", name, err)
	}
	l := &Liveness{lease: id, lost: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for range ch {
		}
		// The client closes ch when ctx ends and when the lease is gone
		// (expired or revoked); only the second is a loss.
		if ctx.Err() == nil {
			close(l.lost)
		}
	}()
	return l, nil
}

// Renew renews, on behalf of node name, the lease alive/<name> hangs on:
// a server does this for each agent that heartbeats to it. The State keeps
// one lease per name; when it has none, or the one it had is gone, it
// grants a new one and puts alive/<name> on it. When another server's
// lease holds alive/<name> (the agent heartbeated there before), the key
// moves to this one, so that it follows the server the agent talks to.
// An agent heartbeats one at a time; two Renews of one name at once on one
// State may both grant a lease, and the one not kept runs out unused.
func (s *State) Renew(ctx context.Context, name string, ttl time.Duration) (clientv3.LeaseID, error) {
	s.mu.Lock()
	id, known := s.leases[name]
	s.mu.Unlock()
	if known {
		ok, err := s.renewKnown(ctx, name, id)
		if err != nil {
			return 0, err
		}
		if ok {
			return id, nil
		}
	}
	id, err := s.grantAlive(ctx, name, ttl)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	s.leases[name] = id
	s.mu.Unlock()
	return id, nil
}

// renewKnown renews id once and makes sure alive/<name> hangs on it; ok is
// false when id is gone.
func (s *State) renewKnown(ctx context.Context, name string, id clientv3.LeaseID) (ok bool, err error) {
	ka, err := s.cli.KeepAliveOnce(ctx, id)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) || (err == nil && ka.TTL <= 0) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("renew lease of node %s: %w", name, err)
	}
	key := aliveKey(name)
	v := mustJSON(aliveValue{Node: name, Since: time.Now().UTC()})
	_, err = s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(key), "=", id)).
		Else(clientv3.OpPut(key, v, clientv3.WithLease(id))).
		Commit()
	if err != nil {
		return false, fmt.Errorf("mark node %s alive: %w", name, err)
	}
	return true, nil
}

// Alive is the set of nodes whose alive key exists: the ready ones.
func (s *State) Alive(ctx context.Context) (map[string]bool, error) {
	resp, err := s.cli.Get(ctx, alivePrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("read live nodes: %w", err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), alivePrefix)] = true
	}
	return out, nil
}
