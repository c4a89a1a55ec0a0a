package clusterstate

import (
	"testing"
	"time"
)

func TestInitNetworkFirstWins(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 30*time.Second)
	if _, found, err := s.ClusterNetwork(ctx); err != nil || found {
		t.Fatalf("a new cluster's network: found %v, %v", found, err)
	}
	got, err := s.InitNetwork(ctx, Network{Mode: "wireguard"})
	if err != nil || got.Mode != "wireguard" {
		t.Fatalf("first init: %+v %v", got, err)
	}
	// A second server's config does not change it.
	if got, err = s.InitNetwork(ctx, Network{Mode: "host-gw"}); err != nil || got.Mode != "wireguard" {
		t.Fatalf("second init: %+v %v, want the first's wireguard", got, err)
	}
	if n, found, err := s.ClusterNetwork(ctx); err != nil || !found || n.Mode != "wireguard" {
		t.Fatalf("recorded: %+v %v %v", n, found, err)
	}
}
