package clusterstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrNoSubnet is a cluster CIDR with no free subnet left.
var ErrNoSubnet = errors.New("no free subnet left in the cluster CIDR")

func subnetKey(node string) string { return subnetsPrefix + node }

// AllocateSubnet gives node the lowest free /bits subnet of cidr, or the
// one it has already: a node keeps its subnet for as long as its record
// exists (DeleteNode frees it). The claim is one transaction that holds
// only if the node has no subnet yet and no other claim came since the
// free ones were read, so two nodes never get the same subnet. The node's
// record, when there is one, gets the subnet too.
func (s *State) AllocateSubnet(ctx context.Context, node string, cidr netip.Prefix, bits int) (netip.Prefix, error) {
	cidr = cidr.Masked()
	if !cidr.IsValid() || bits < 1 || bits < cidr.Bits() || bits > cidr.Addr().BitLen() {
		return netip.Prefix{}, fmt.Errorf("allocate subnet: /%d subnets of %s", bits, cidr)
	}
	key := subnetKey(node)
	for {
		resp, err := s.cli.Get(ctx, subnetsPrefix, clientv3.WithPrefix())
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("allocate subnet for %s: %w", node, err)
		}
		used := map[netip.Prefix]bool{}
		for _, kv := range resp.Kvs {
			p, err := decodeSubnet(kv.Value)
			if err != nil {
				// An unreadable claim names no subnet to keep free.
				s.skipCorrupt(string(kv.Key), err)
				continue
			}
			if string(kv.Key) == key {
				if p.Bits() != bits || !cidr.Contains(p.Addr()) {
					return netip.Prefix{}, fmt.Errorf("allocate subnet for %s: it has %s already, not a /%d of %s", node, p, bits, cidr)
				}
				return p, s.noteSubnet(ctx, node, p)
			}
			used[p] = true
		}
		p, ok := lowestFree(cidr, bits, used)
		if !ok {
			return netip.Prefix{}, fmt.Errorf("allocate subnet for %s: %w (%s, /%d each, %d taken)", node, ErrNoSubnet, cidr, bits, len(used))
		}
		rev := resp.Header.Revision
		tr, err := s.cli.Txn(ctx).If(
			absent(key),
			// No claim was added or changed since the read.
			clientv3.Compare(clientv3.ModRevision(subnetsPrefix), "<", rev+1).WithPrefix(),
		).Then(clientv3.OpPut(key, mustJSON(p.String()))).Commit()
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("allocate subnet for %s: %w", node, err)
		}
		if tr.Succeeded {
			return p, s.noteSubnet(ctx, node, p)
		}
	}
}

func decodeSubnet(v []byte) (netip.Prefix, error) {
	var str string
	if err := json.Unmarshal(v, &str); err != nil {
		return netip.Prefix{}, err
	}
	return netip.ParsePrefix(str)
}

// noteSubnet writes p into node's record if it has one that says another.
func (s *State) noteSubnet(ctx context.Context, node string, p netip.Prefix) error {
	err := update(ctx, s, nodeKey(node), false, func(n *NodeInfo, found bool) (bool, error) {
		if !found || n.Subnet == p.String() {
			return false, nil
		}
		n.Subnet = p.String()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("note subnet of node %s: %w", node, err)
	}
	return nil
}

// lowestFree is the first /bits subnet of cidr not in used. It looks at
// most len(used)+1 candidates, so a large space (IPv6) costs nothing.
func lowestFree(cidr netip.Prefix, bits int, used map[netip.Prefix]bool) (netip.Prefix, bool) {
	addr := cidr.Addr()
	for {
		p := netip.PrefixFrom(addr, bits)
		if !used[p] {
			return p, true
		}
		next, ok := addBit(addr, bits)
		if !ok || !cidr.Contains(next) {
			return netip.Prefix{}, false
		}
		addr = next
	}
}

// addBit adds one at bit position bit (counted from the most significant,
// 1-based as prefix lengths are) of a; ok is false when it overflows.
func addBit(a netip.Addr, bit int) (netip.Addr, bool) {
	b := a.AsSlice()
	i := bit - 1
	carry := byte(1) << (7 - i%8)
	for j := i / 8; j >= 0 && carry != 0; j-- {
		sum := uint16(b[j]) + uint16(carry)
		b[j] = byte(sum)
		carry = byte(sum >> 8)
	}
	if carry != 0 {
		return netip.Addr{}, false
	}
	next, _ := netip.AddrFromSlice(b)
	return next, true
}
