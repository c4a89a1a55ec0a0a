package clusterstate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// NodeInfo is a node's record, nodes/<name>.
type NodeInfo struct {
	Name        string            `json:"name"`
	Role        string            `json:"role"` // "server" | "agent"
	Labels      map[string]string `json:"labels,omitempty"`
	Address     string            `json:"address"`            // advertise IP
	API         string            `json:"api"`                // https://IP:PORT
	PeerURL     string            `json:"peer_url,omitempty"` // etcd peer URL (servers)
	Subnet      string            `json:"subnet,omitempty"`
	CPUs        int               `json:"cpus,omitempty"`
	MemoryBytes int64             `json:"memory_bytes,omitempty"`
	Cordoned    bool              `json:"cordoned,omitempty"`
	Draining    bool              `json:"draining,omitempty"`
	JoinedAt    time.Time         `json:"joined_at"`
	Version     string            `json:"version,omitempty"`
	// In the wireguard network mode: the node's public key (base64) and
	// the UDP port of its endpoint at Address.
	WireGuardKey  string `json:"wireguard_key,omitempty"`
	WireGuardPort int    `json:"wireguard_port,omitempty"`
}

// ErrNodeNotFound is an unknown node.
var ErrNodeNotFound = errors.New("node not found")

func nodeKey(name string) string { return nodesPrefix + name }

// PutNode creates or updates the record of n.Name. What the cluster, not
// the node, decides is kept from an existing record: the cordon and drain
// flags, when it joined, and its subnet once it has one.
func (s *State) PutNode(ctx context.Context, n NodeInfo) error {
	if n.Name == "" {
		return errors.New("put node: no name")
	}
	err := update(ctx, s, nodeKey(n.Name), true, func(rec *NodeInfo, found bool) (bool, error) {
		old := *rec
		*rec = n
		if found {
			rec.Cordoned, rec.Draining = old.Cordoned, old.Draining
			if !old.JoinedAt.IsZero() {
				rec.JoinedAt = old.JoinedAt
			}
			if old.Subnet != "" {
				rec.Subnet = old.Subnet
			}
		}
		if rec.JoinedAt.IsZero() {
			rec.JoinedAt = time.Now().UTC()
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("put node %s: %w", n.Name, err)
	}
	return nil
}

// Node is the record of name: ErrNodeNotFound when there is none.
func (s *State) Node(ctx context.Context, name string) (NodeInfo, error) {
	var n NodeInfo
	found, _, err := s.getJSON(ctx, nodeKey(name), &n)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("node %s: %w", name, err)
	}
	if !found {
		return NodeInfo{}, fmt.Errorf("%w: %s", ErrNodeNotFound, name)
	}
	return n, nil
}

// Nodes are all nodes' records, by name; one that cannot be decoded is
// logged and left out.
func (s *State) Nodes(ctx context.Context) ([]NodeInfo, error) {
	out, err := listOf[NodeInfo](ctx, s, nodesPrefix)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SetSchedulable sets the node's cordon and drain flags (the scheduler
// places nothing new on a cordoned or draining node, and moves a draining
// node's replicas away).
func (s *State) SetSchedulable(ctx context.Context, name string, cordoned, draining bool) error {
	err := update(ctx, s, nodeKey(name), false, func(n *NodeInfo, found bool) (bool, error) {
		if !found {
			return false, fmt.Errorf("%w: %s", ErrNodeNotFound, name)
		}
		n.Cordoned, n.Draining = cordoned, draining
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("set node %s schedulable: %w", name, err)
	}
	return nil
}

// DeleteNode removes the node's record with its liveness, status and
// subnet, which another node may then take. Assignments to it stay until
// the scheduler moves them.
func (s *State) DeleteNode(ctx context.Context, name string) error {
	key := nodeKey(name)
	tr, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0)).
		Then(
			clientv3.OpDelete(key),
			clientv3.OpDelete(aliveKey(name)),
			clientv3.OpDelete(statusPrefix+name+"/", clientv3.WithPrefix()),
			clientv3.OpDelete(subnetKey(name)),
		).Commit()
	if err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	if !tr.Succeeded {
		return fmt.Errorf("%w: %s", ErrNodeNotFound, name)
	}
	s.mu.Lock()
	delete(s.leases, name)
	s.mu.Unlock()
	return nil
}
