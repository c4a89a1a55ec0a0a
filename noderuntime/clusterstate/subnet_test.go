package clusterstate

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func TestAllocateSubnet(t *testing.T) {
	t.Parallel()
	s1, s2 := newState(t), newState(t)
	ctx := testCtx(t, 30*time.Second)
	cidr := netip.MustParsePrefix("10.244.0.0/22") // four /24s

	// Three nodes at once from two servers: three different subnets.
	var wg sync.WaitGroup
	got := make([]netip.Prefix, 3)
	errs := make([]error, 3)
	for i := range 3 {
		s := []*State{s1, s2}[i%2]
		wg.Go(func() { got[i], errs[i] = s.AllocateSubnet(ctx, fmt.Sprint("n", i), cidr, 24) })
	}
	wg.Wait()
	seen := map[netip.Prefix]bool{}
	for i, p := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[p] || p.Bits() != 24 || !cidr.Contains(p.Addr()) {
			t.Fatalf("subnets %v: %s given twice or outside %s", got, p, cidr)
		}
		seen[p] = true
	}
	if !seen[netip.MustParsePrefix("10.244.0.0/24")] || !seen[netip.MustParsePrefix("10.244.2.0/24")] {
		t.Fatalf("subnets %v: not the lowest three", got)
	}
	// Stable on repeat, from either server.
	for i := range 3 {
		if p, err := s2.AllocateSubnet(ctx, fmt.Sprint("n", i), cidr, 24); err != nil || p != got[i] {
			t.Fatalf("repeat for n%d: %s %v, want %s", i, p, err, got[i])
		}
	}
	last, err := s1.AllocateSubnet(ctx, "n3", cidr, 24)
	if err != nil || last != netip.MustParsePrefix("10.244.3.0/24") {
		t.Fatalf("fourth: %s %v", last, err)
	}
	if _, err := s1.AllocateSubnet(ctx, "n4", cidr, 24); !errors.Is(err, ErrNoSubnet) {
		t.Fatalf("fifth of four: %v, want ErrNoSubnet", err)
	}
	// A freed subnet is the lowest free one again.
	if err := s1.PutNode(ctx, NodeInfo{Name: "n0"}); err != nil {
		t.Fatal(err)
	}
	if err := s1.DeleteNode(ctx, "n0"); err != nil {
		t.Fatal(err)
	}
	if p, err := s1.AllocateSubnet(ctx, "n4", cidr, 24); err != nil || p != got[0] {
		t.Fatalf("after n0 left: %s %v, want %s", p, err, got[0])
	}
	if _, err := s1.AllocateSubnet(ctx, "n1", netip.MustParsePrefix("10.99.0.0/16"), 24); err == nil {
		t.Fatal("a node's subnet outside a new cluster CIDR was returned")
	}
	if _, err := s1.AllocateSubnet(ctx, "x", cidr, 16); err == nil {
		t.Fatal("/16 subnets of a /22 accepted")
	}
}

func TestLowestFree(t *testing.T) {
	v6 := netip.MustParsePrefix("fd00:10::/48")
	used := map[netip.Prefix]bool{netip.MustParsePrefix("fd00:10::/64"): true}
	if p, ok := lowestFree(v6, 64, used); !ok || p != netip.MustParsePrefix("fd00:10:0:1::/64") {
		t.Fatalf("v6: %s %v", p, ok)
	}
	odd := netip.MustParsePrefix("10.0.0.0/8")
	used = map[netip.Prefix]bool{netip.MustParsePrefix("10.0.0.0/20"): true, netip.MustParsePrefix("10.0.16.0/20"): true}
	if p, ok := lowestFree(odd, 20, used); !ok || p != netip.MustParsePrefix("10.0.32.0/20") {
		t.Fatalf("/20s: %s %v", p, ok)
	}
	full := netip.MustParsePrefix("255.255.255.254/31")
	used = map[netip.Prefix]bool{netip.MustParsePrefix("255.255.255.254/32"): true, netip.MustParsePrefix("255.255.255.255/32"): true}
	if p, ok := lowestFree(full, 32, used); ok {
		t.Fatalf("full /31 at the top of the space: %s", p)
	}
}
