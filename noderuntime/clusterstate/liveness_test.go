package clusterstate

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcd raises a lease's TTL to its minimum, 8 s with etcdmember's raft
// timing, so a key on a 2 s lease goes 8 to 9 s after its last renewal.
const (
	testTTL    = 2 * time.Second
	expiryWait = 20 * time.Second
)

func TestKeepAliveOutlivesItsStopUntilTheTTL(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 60*time.Second)
	kctx, stop := context.WithCancel(ctx)
	l, err := s.KeepAlive(kctx, "n1", testTTL)
	if err != nil {
		t.Fatal(err)
	}
	if _, lease, found := raw(t, ctx, s, "alive/n1"); !found || lease != l.Lease() {
		t.Fatalf("alive/n1 found %v on lease %x, want lease %x", found, lease, l.Lease())
	}
	// Renewed past the TTL etcd gave.
	time.Sleep(10 * time.Second)
	if alive, err := s.Alive(ctx); err != nil || !alive["n1"] {
		t.Fatalf("alive after renewals: %v %v", alive, err)
	}

	stop()
	<-l.Done()
	select {
	case <-l.Lost():
		t.Fatal("stopping counted as losing the lease")
	default:
	}
	// Not revoked: a restarting node is still ready for a while.
	if alive, err := s.Alive(ctx); err != nil || !alive["n1"] {
		t.Fatalf("alive just after stop: %v %v", alive, err)
	}
	eventually(t, expiryWait, "alive/n1 gone after the TTL", func() bool {
		alive, err := s.Alive(ctx)
		return err == nil && !alive["n1"]
	})
}

func TestKeepAliveReportsALostLease(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	l, err := s.KeepAlive(ctx, "n1", testTTL)
	if err != nil {
		t.Fatal(err)
	}
	// Another server revoking the lease stands for a lease that ran out
	// while the node was cut off.
	if _, err := newState(t).Client().Revoke(ctx, l.Lease()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(expiryWait):
		t.Fatal("Lost not closed after the lease was revoked")
	}
	if alive, err := s.Alive(ctx); err != nil || alive["n1"] {
		t.Fatalf("alive after the lease was lost: %v %v", alive, err)
	}
}

func TestRenewFromTwoServers(t *testing.T) {
	t.Parallel()
	s1, s2 := newState(t), newState(t)
	ctx := testCtx(t, 30*time.Second)
	leaseOf := func() clientv3.LeaseID {
		_, lease, found := raw(t, ctx, s1, "alive/agent")
		if !found {
			t.Fatal("alive/agent absent")
		}
		return lease
	}

	l1, err := s1.Renew(ctx, "agent", testTTL)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s1.Renew(ctx, "agent", testTTL); err != nil || again != l1 {
		t.Fatalf("second renew on one server: %x %v, want %x", again, err, l1)
	}
	if leaseOf() != l1 {
		t.Fatal("alive/agent not on the first server's lease")
	}

	// The agent moves to the second server, which knows no lease for it.
	l2, err := s2.Renew(ctx, "agent", testTTL)
	if err != nil || l2 == l1 {
		t.Fatalf("renew on the second server: %x %v (first %x)", l2, err, l1)
	}
	if leaseOf() != l2 {
		t.Fatal("alive/agent did not move to the second server's lease")
	}
	// And back: the first server's lease is still alive, and takes the
	// key again.
	if back, err := s1.Renew(ctx, "agent", testTTL); err != nil || back != l1 {
		t.Fatalf("renew back on the first server: %x %v, want %x", back, err, l1)
	}
	if leaseOf() != l1 {
		t.Fatal("alive/agent did not come back to the first server's lease")
	}

	// The first server's lease gone (it ran out while the agent talked to
	// the second): a new one.
	if _, err := s1.Client().Revoke(ctx, l1); err != nil {
		t.Fatal(err)
	}
	l3, err := s1.Renew(ctx, "agent", testTTL)
	if err != nil || l3 == l1 || l3 == l2 {
		t.Fatalf("renew after the lease was lost: %x %v", l3, err)
	}
	if leaseOf() != l3 {
		t.Fatal("alive/agent not on the new lease")
	}
	if alive, err := s2.Alive(ctx); err != nil || !alive["agent"] {
		t.Fatalf("alive: %v %v", alive, err)
	}
}
