package clusterstate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// The ingress certificates a server's node config lists live under
// certs/<server>, one record per server, not on a lease: they are the
// cluster's while that server is down. A server that lists none any more
// removes its record. Keys are kept as given (not encrypted at rest);
// only servers read etcd, and only nodes the work that carries them.
const certsPrefix = Prefix + "certs/"

// certSet is one server's certificates.
type certSet struct {
	Node      string                 `json:"node"`
	UpdatedAt time.Time              `json:"updated_at"`
	Certs     []apitypes.IngressCert `json:"certs"`
}

// PutCerts makes certs what node shares with the cluster (none: its record
// goes). The same certificates again write nothing: every write wakes
// every node's work poll.
func (s *State) PutCerts(ctx context.Context, node string, certs []apitypes.IngressCert) error {
	key := certsPrefix + node
	if len(certs) == 0 {
		if _, err := s.cli.Delete(ctx, key); err != nil {
			return fmt.Errorf("remove the certificates of %s: %w", node, err)
		}
		return nil
	}
	return update(ctx, s, key, true, func(v *certSet, found bool) (bool, error) {
		if found && slices.EqualFunc(v.Certs, certs, sameCert) {
			return false, nil
		}
		*v = certSet{Node: node, UpdatedAt: time.Now().UTC(), Certs: certs}
		return true, nil
	})
}

func sameCert(a, b apitypes.IngressCert) bool {
	return a.Cert == b.Cert && a.Key == b.Key && slices.Equal(a.Hosts, b.Hosts)
}

// Certs are the certificates every server shares, the most recently
// changed server's last (so it wins a host two servers name).
func (s *State) Certs(ctx context.Context) ([]apitypes.IngressCert, error) {
	sets, err := listOf[certSet](ctx, s, certsPrefix)
	if err != nil {
		return nil, fmt.Errorf("read the cluster's certificates: %w", err)
	}
	sort.SliceStable(sets, func(i, j int) bool {
		if !sets[i].UpdatedAt.Equal(sets[j].UpdatedAt) {
			return sets[i].UpdatedAt.Before(sets[j].UpdatedAt)
		}
		return sets[i].Node < sets[j].Node
	})
	var out []apitypes.IngressCert
	for _, set := range sets {
		out = append(out, set.Certs...)
	}
	return out, nil
}
