package clusterstate

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestNodesKeepClusterFlagsAcrossPutNode(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	n := NodeInfo{Name: "b", Role: "agent", Address: "10.0.0.2", API: "https://10.0.0.2:3669", Labels: map[string]string{"zone": "a"}}
	if err := s.PutNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNode(ctx, NodeInfo{Name: "a", Role: "server", Address: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Node(ctx, "b")
	if err != nil || first.JoinedAt.IsZero() || first.Labels["zone"] != "a" {
		t.Fatalf("node: %+v %v", first, err)
	}
	if err := s.SetSchedulable(ctx, "b", true, true); err != nil {
		t.Fatal(err)
	}
	sub, err := s.AllocateSubnet(ctx, "b", netip.MustParsePrefix("10.244.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}

	// The node restarts and puts its record again, as it knows it.
	n.Labels = map[string]string{"zone": "b"}
	n.JoinedAt = time.Now().Add(time.Hour)
	if err := s.PutNode(ctx, n); err != nil {
		t.Fatal(err)
	}
	got, err := s.Node(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cordoned || !got.Draining || !got.JoinedAt.Equal(first.JoinedAt) || got.Subnet != sub.String() || got.Labels["zone"] != "b" {
		t.Fatalf("after the second PutNode: %+v (subnet %s, joined %s)", got, sub, first.JoinedAt)
	}
	if err := s.SetSchedulable(ctx, "b", false, false); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].Name != "a" || nodes[1].Name != "b" || nodes[1].Cordoned {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}

	if err := s.SetSchedulable(ctx, "zz", true, false); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("cordon unknown: %v", err)
	}
	if _, err := s.Node(ctx, "zz"); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("unknown node: %v", err)
	}
	if err := s.DeleteNode(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Node(ctx, "b"); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("deleted node: %v", err)
	}
	if _, _, found := raw(t, ctx, s, "subnets/b"); found {
		t.Fatal("DeleteNode left the node's subnet")
	}
	if err := s.DeleteNode(ctx, "b"); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
