package clusterstate

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Revision is etcd's store revision now: a WaitChange from it returns at
// the next write under Prefix.
func (s *State) Revision(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// WaitChange blocks until something under Prefix changes after revision
// after (a watch from after+1) and returns the revision of that change.
// Changes are not delivered: the caller reads again what it needs. When
// history after after has been compacted away, it returns the current
// revision at once, as something may have changed. The watch requires a
// leader, so a member cut off from its cluster ends it with an error
// instead of waiting on a state that no longer moves.
func (s *State) WaitChange(ctx context.Context, after int64) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.cli.Watch(wctx, Prefix, clientv3.WithPrefix(), clientv3.WithRev(after+1)) {
		if resp.CompactRevision != 0 {
			return s.Revision(ctx)
		}
		if err := resp.Err(); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("watch cluster state: %w", err)
		}
		if len(resp.Events) > 0 {
			return resp.Events[len(resp.Events)-1].Kv.ModRevision, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("watch cluster state: ended without a change")
}
