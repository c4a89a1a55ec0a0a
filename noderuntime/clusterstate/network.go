package clusterstate

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Network is the cluster's network as its first server set it: every node
// routes its replicas' traffic the same way.
type Network struct {
	Mode string `json:"mode"` // host-gw or wireguard
}

// InitNetwork records n as the cluster's network unless one is recorded
// already, and returns the recorded one: the first server's config wins,
// and a cluster made before the mode was recorded gets the caller's.
func (s *State) InitNetwork(ctx context.Context, n Network) (Network, error) {
	for {
		var cur Network
		found, _, err := s.getJSON(ctx, networkKey, &cur)
		if err != nil {
			return Network{}, fmt.Errorf("the cluster's network: %w", err)
		}
		if found {
			return cur, nil
		}
		tr, err := s.cli.Txn(ctx).If(absent(networkKey)).Then(clientv3.OpPut(networkKey, mustJSON(&n))).Commit()
		if err != nil {
			return Network{}, fmt.Errorf("record the cluster's network: %w", err)
		}
		if tr.Succeeded {
			return n, nil
		}
	}
}

// ClusterNetwork is the recorded network; found is false for a cluster
// that has none recorded yet.
func (s *State) ClusterNetwork(ctx context.Context) (n Network, found bool, err error) {
	found, _, err = s.getJSON(ctx, networkKey, &n)
	if err != nil {
		return Network{}, false, fmt.Errorf("the cluster's network: %w", err)
	}
	return n, found, nil
}
