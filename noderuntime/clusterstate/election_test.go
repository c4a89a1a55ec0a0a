package clusterstate

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// campaign runs Campaign in the background.
func campaign(ctx context.Context, s *State, node string) (<-chan *Leadership, <-chan error) {
	won, errc := make(chan *Leadership, 1), make(chan error, 1)
	go func() {
		l, err := s.Campaign(ctx, node)
		if err != nil {
			errc <- err
			return
		}
		won <- l
	}()
	return won, errc
}

func waitLead(t *testing.T, won <-chan *Leadership, errc <-chan error, d time.Duration, who string) *Leadership {
	t.Helper()
	select {
	case l := <-won:
		return l
	case err := <-errc:
		t.Fatalf("%s: %v", who, err)
	case <-time.After(d):
		t.Fatalf("%s does not lead within %s", who, d)
	}
	return nil
}

func TestCampaignSecondLeadsAfterResign(t *testing.T) {
	t.Parallel()
	s1, s2 := newState(t), newState(t)
	ctx := testCtx(t, 40*time.Second)
	if name, err := s1.Leader(ctx); err != nil || name != "" {
		t.Fatalf("leader before any campaign: %q %v", name, err)
	}
	l1, err := s1.Campaign(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	won, errc := campaign(ctx, s2, "s2")
	select {
	case <-won:
		t.Fatal("two leaders at once")
	case <-time.After(500 * time.Millisecond):
	}
	if name, err := s2.Leader(ctx); err != nil || name != "s1" {
		t.Fatalf("leader: %q %v, want s1", name, err)
	}
	if err := l1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	<-l1.Done()
	l2 := waitLead(t, won, errc, 5*time.Second, "s2 after s1 resigned")
	if name, err := s1.Leader(ctx); err != nil || name != "s2" {
		t.Fatalf("leader: %q %v, want s2", name, err)
	}
	// The old guard fails, the new one holds.
	if tr, err := s1.Client().Txn(ctx).If(l1.Guard()...).Commit(); err != nil || tr.Succeeded {
		t.Fatalf("s1's guard after it resigned: %v %v", tr, err)
	}
	if tr, err := s1.Client().Txn(ctx).If(l2.Guard()...).Commit(); err != nil || !tr.Succeeded {
		t.Fatalf("s2's guard: %v %v", tr, err)
	}
	if err := l2.Resign(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCampaignSecondLeadsWhenTheSessionEnds(t *testing.T) {
	t.Parallel()
	s1, s2 := newState(t), newState(t)
	ctx := testCtx(t, 40*time.Second)
	l1, err := s1.Campaign(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	won, errc := campaign(ctx, s2, "s2")
	// The leader's session lease ends without a resign, as it does when
	// the leader dies and its TTL runs out (revoked here, not waited for).
	if _, err := s2.Client().Revoke(ctx, l1.session.Lease()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l1.Done():
	case <-time.After(expiryWait):
		t.Fatal("Done not closed when the session's lease ended")
	}
	l2 := waitLead(t, won, errc, 5*time.Second, "s2 after s1's session ended")
	if name, err := s2.Leader(ctx); err != nil || name != "s2" {
		t.Fatalf("leader: %q %v, want s2", name, err)
	}
	l2.Resign(ctx)

	// A campaign whose context ends gives up and leaves no candidate.
	l3, err := s1.Campaign(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s2.Campaign(cctx, "s2"); err == nil {
		t.Fatal("campaign against a leader returned before its context ended")
	}
	l3.Resign(ctx)
	if resp, err := s1.Client().Get(ctx, electionPrefix+"/", clientv3.WithPrefix()); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("candidates left: %v %v", resp, err)
	}
}
