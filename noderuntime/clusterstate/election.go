package clusterstate

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// SessionTTL is the scheduler leader's session TTL in seconds: how long a
// dead leader blocks the next one. etcd raises it to its minimum lease TTL
// (8 s with etcdmember's raft timing).
const SessionTTL = 5

// Leadership is the scheduler election won.
type Leadership struct {
	session  *concurrency.Session
	election *concurrency.Election
}

// Campaign runs for scheduler leader as node and blocks until it leads or
// ctx ends. The leadership lasts until Resign, or until its session's
// lease is lost (Done).
func (s *State) Campaign(ctx context.Context, node string) (*Leadership, error) {
	// The session outlives ctx, which bounds only the campaign.
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(SessionTTL), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, fmt.Errorf("scheduler election session: %w", err)
	}
	e := concurrency.NewElection(sess, electionPrefix)
	if err := e.Campaign(ctx, node); err != nil {
		sess.Close()
		return nil, fmt.Errorf("campaign for scheduler leader as %s: %w", node, err)
	}
	return &Leadership{session: sess, election: e}, nil
}

// Guard is the compare that holds while this leadership does: the leader
// key is still the one it created. WriteAssignments applies nothing
// without it.
func (l *Leadership) Guard() []clientv3.Cmp {
	return []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(l.election.Key()), "=", l.election.Rev())}
}

// Done is closed when the leadership's session ended: its lease was lost
// (the leader was cut off longer than the TTL) or it resigned.
func (l *Leadership) Done() <-chan struct{} { return l.session.Done() }

// Resign gives the leadership up at once, so that another campaigner
// leads without waiting for the TTL, and ends the session.
func (l *Leadership) Resign(ctx context.Context) error {
	err := l.election.Resign(ctx)
	if cerr := l.session.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("resign scheduler leadership: %w", err)
	}
	return nil
}

// Leader is the node that leads the scheduler election, "" when none does.
func (s *State) Leader(ctx context.Context) (string, error) {
	// concurrency.Election keys its candidates <prefix>/<lease>; the
	// oldest is the leader.
	resp, err := s.cli.Get(ctx, electionPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("read scheduler leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
