package network

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// routeProto marks the routes HostGW makes (the route's "protocol", as
// routing daemons mark theirs), so that it lists, changes and removes only
// its own and never a route someone else made to the same prefix.
const routeProto netlink.RouteProtocol = 211

// ruleComment marks HostGW's firewall rules.
const ruleComment = "zlayer cluster network"

// Peer is another node of the cluster as its routes need it: its replicas'
// subnet, reached via the address it advertises.
type Peer struct {
	Node   string
	Subnet netip.Prefix
	Via    netip.Addr
	// In wireguard mode: the node's public key (base64) and the UDP port
	// of its endpoint at Via.
	PublicKey string
	Port      int
}

// HostGW keeps a route to every other node's replica subnet via that node's
// address, as flannel's host-gw backend does: nodes must share a link (the
// next hop must be on-link), and nothing is encapsulated. It also lets
// traffic of the cluster CIDR through the node's FORWARD chain and keeps it
// out of the outbound NAT, so replicas see each other's own addresses.
type HostGW struct {
	CIDR   netip.Prefix // the cluster's
	Subnet netip.Prefix // this node's
	Log    *slog.Logger

	rules clusterRules
}

// Sync makes the node's routes those to peers: routes to peers that left or
// moved are removed, new ones added, and nothing without HostGW's mark is
// touched. A peer whose subnet lies outside the cluster CIDR, or is this
// node's own, is skipped; one whose next hop is not on a shared link is
// reported and the others are still routed.
func (h *HostGW) Sync(peers []Peer) error {
	if err := h.ensure(); err != nil {
		return err
	}
	want := map[netip.Prefix]netip.Addr{}
	for _, p := range peers {
		s := p.Subnet.Masked()
		if !s.IsValid() || !p.Via.IsValid() || s == h.Subnet.Masked() || !h.CIDR.Contains(s.Addr()) || s.Bits() < h.CIDR.Bits() {
			continue
		}
		want[s] = p.Via
	}
	have, err := ownRoutes()
	if err != nil {
		return err
	}
	var errs []error
	for dst, via := range have {
		if w, ok := want[dst]; !ok || w != via {
			if err := delRoute(dst); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for dst, via := range want {
		if have[dst] == via {
			continue
		}
		if err := setRoute(dst, via); err != nil {
			errs = append(errs, fmt.Errorf("%w (host-gw needs every node on one link with this one)", err))
			continue
		}
		if h.Log != nil {
			h.Log.Info("route to a node's replicas", "subnet", dst.String(), "via", via.String())
		}
	}
	return errors.Join(errs...)
}

// Remove takes away every route and rule HostGW made. IP forwarding stays
// on: the bridge plugin turns it on for the node's own bridge too.
func (h *HostGW) Remove() error {
	h.rules.set = false
	return RemoveHostGW()
}

// ensure keeps the rules without touching routes: what a node does until it
// has heard from the cluster.
func (h *HostGW) ensure() error {
	h.rules.CIDR, h.rules.Subnet, h.rules.Mode = h.CIDR, h.Subnet, ModeHostGW
	return h.rules.ensure()
}

// RemoveHostGW removes the routes and rules any HostGW made in the current
// network namespace: what a node leaving the cluster, or a test, cleans up.
func RemoveHostGW() error {
	var errs []error
	have, err := ownRoutes()
	if err != nil {
		errs = append(errs, err)
	}
	for dst := range have {
		if err := delRoute(dst); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, dropRules(ModeHostGW))
	return errors.Join(errs...)
}

// clusterRules are the firewall rules of the cluster network, the same in
// every mode: the cluster CIDR is let through the FORWARD chain and kept
// out of the outbound NAT, so replicas see each other's own addresses.
type clusterRules struct {
	CIDR   netip.Prefix // the cluster's
	Subnet netip.Prefix // this node's
	Mode   string       // in errors: host-gw, wireguard
	set    bool
}

// list is the rules: table, chain, match and target.
func (r *clusterRules) list() [][]string {
	c := r.CIDR.Masked().String()
	return [][]string{
		{"filter", "FORWARD", "-s", c, "-m", "comment", "--comment", ruleComment, "-j", "ACCEPT"},
		{"filter", "FORWARD", "-d", c, "-m", "comment", "--comment", ruleComment, "-j", "ACCEPT"},
		// Ahead of the bridge plugin's masquerade, which would give a
		// replica's packets to another node's replica the node's address.
		{"nat", "POSTROUTING", "-s", r.Subnet.Masked().String(), "-d", c, "-m", "comment", "--comment", ruleComment, "-j", "RETURN"},
	}
}

// ensure turns forwarding on and puts the rules first in their chains. The
// first call replaces rules an earlier run left (they may be for another
// subnet); later calls only add what went missing.
func (r *clusterRules) ensure() error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("%s: turn IP forwarding on: %w", r.Mode, err)
	}
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return fmt.Errorf("%s: iptables is needed to let the cluster's traffic through: %w", r.Mode, err)
	}
	if !r.set {
		if err := dropRules(r.Mode); err != nil {
			return err
		}
	}
	for _, rule := range r.list() {
		if !r.set || exec.Command(ipt, append([]string{"-w", "-t", rule[0], "-C", rule[1]}, rule[2:]...)...).Run() != nil {
			if out, err := exec.Command(ipt, append([]string{"-w", "-t", rule[0], "-I", rule[1], "1"}, rule[2:]...)...).CombinedOutput(); err != nil {
				return fmt.Errorf("%s: iptables -t %s -I %s %s: %w: %s", r.Mode, rule[0], rule[1], strings.Join(rule[2:], " "), err, strings.TrimSpace(string(out)))
			}
		}
	}
	r.set = true
	return nil
}

// dropRules deletes every rule marked with ruleComment from the chains
// clusterRules uses, whatever addresses they name.
func dropRules(mode string) error {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		return nil // no iptables: no rules were made either
	}
	var errs []error
	for _, tc := range [][2]string{{"filter", "FORWARD"}, {"nat", "POSTROUTING"}} {
		out, err := exec.Command(ipt, "-w", "-t", tc[0], "-n", "-L", tc[1], "--line-numbers").Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: list %s %s: %w", mode, tc[0], tc[1], err))
			continue
		}
		var nums []int
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.Contains(line, "/* "+ruleComment+" */") {
				continue
			}
			if n, err := strconv.Atoi(strings.Fields(line)[0]); err == nil {
				nums = append(nums, n)
			}
		}
		// From the last: deleting a rule renumbers those after it.
		slices.Sort(nums)
		for _, n := range slices.Backward(nums) {
			if out, err := exec.Command(ipt, "-w", "-t", tc[0], "-D", tc[1], strconv.Itoa(n)).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s: delete %s %s rule %d: %w: %s", mode, tc[0], tc[1], n, err, strings.TrimSpace(string(out))))
			}
		}
	}
	return errors.Join(errs...)
}

// ownRoutes are the IPv4 routes of the main table with HostGW's mark, by
// destination, with their next hop.
func ownRoutes() (map[netip.Prefix]netip.Addr, error) {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: routeProto},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("host-gw: list routes: %w", err)
	}
	have := map[netip.Prefix]netip.Addr{}
	for _, r := range rs {
		if r.Dst == nil || r.Gw == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		dst, ok1 := netip.AddrFromSlice(r.Dst.IP.To4())
		via, ok2 := netip.AddrFromSlice(r.Gw.To4())
		if ok1 && ok2 {
			have[netip.PrefixFrom(dst, ones)] = via
		}
	}
	return have, nil
}

func route(dst netip.Prefix, via netip.Addr) *netlink.Route {
	r := &netlink.Route{
		Dst:      &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)},
		Table:    unix.RT_TABLE_MAIN,
		Protocol: routeProto,
		Scope:    netlink.SCOPE_UNIVERSE,
	}
	if via.IsValid() {
		r.Gw = via.AsSlice()
	}
	return r
}

// setRoute adds or replaces the route to dst via via.
func setRoute(dst netip.Prefix, via netip.Addr) error {
	if err := netlink.RouteReplace(route(dst, via)); err != nil {
		return fmt.Errorf("host-gw: route %s via %s: %w", dst, via, err)
	}
	return nil
}

// delRoute removes HostGW's route to dst (one without the mark stays).
func delRoute(dst netip.Prefix) error {
	if err := netlink.RouteDel(route(dst, netip.Addr{})); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("host-gw: remove route %s: %w", dst, err)
	}
	return nil
}
