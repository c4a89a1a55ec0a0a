package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/zlayer/zlayer/integration/netns"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

// wgLink is the node's WireGuard interface (network.WireGuardLink).
const wgLink = "zlwg0"

// wireguardConfig is BridgeConfig in the wireguard cluster network mode.
func wireguardConfig(s *stack.Stack, ns *netns.NS) string {
	return BridgeConfig(s, ns) + "  cluster:\n    mode: wireguard\n"
}

// wgDevice reads the WireGuard device of the node in ns through its UAPI
// socket, which carries the namespace's inode in its name (the socket
// folder is shared by every namespace of this machine).
func wgDevice(ns *netns.NS) (*wgtypes.Device, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(ns.Path, &st); err != nil {
		return nil, err
	}
	c, err := wgctrl.New()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Device(wgLink + "-" + strconv.FormatUint(st.Ino, 10))
}

// wgEndpoints are the endpoints of the node's WireGuard peers, sorted.
func wgEndpoints(ns *netns.NS) string {
	d, err := wgDevice(ns)
	if err != nil {
		return "error: " + err.Error()
	}
	var eps []string
	for _, p := range d.Peers {
		eps = append(eps, fmt.Sprint(p.Endpoint))
	}
	sort.Strings(eps)
	return strings.Join(eps, " ")
}

// linkBytes are the received and sent bytes of link in ns.
func linkBytes(t *testing.T, ns *netns.NS, link string) (rx, tx uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := ns.Command(ctx, "ip", "-s", "-j", "link", "show", "dev", link).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -s link show %s in %s: %v: %s", link, ns.Name, err, out)
	}
	var links []struct {
		Stats64 struct {
			RX struct{ Bytes uint64 } `json:"rx"`
			TX struct{ Bytes uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -j link show %s: %v: %s", link, err, out)
	}
	return links[0].Stats64.RX.Bytes, links[0].Stats64.TX.Bytes
}

// nsRun runs a command in ns and returns its output.
func nsRun(t *testing.T, ns *netns.NS, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v: %s", name, strings.Join(args, " "), ns.Name, err, out)
	}
	return string(out)
}

// clusterLeftovers is what a stopped node may leave in its namespace:
// routes of the cluster network's protocol, its firewall rules, a UAPI
// socket, the WireGuard interface; with all, any link but lo and eth0
// and any process (and so TUN descriptor) too, which only a node that ran
// no replicas may not leave (replicas and their networks outlive the
// node's process by design).
func clusterLeftovers(t *testing.T, ns *netns.NS, all bool) []string {
	t.Helper()
	var left []string
	for _, line := range strings.Split(nsRun(t, ns, "ip", "-o", "link", "show"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
		if name == wgLink || (all && name != "lo" && name != "eth0") {
			left = append(left, "link "+name)
		}
	}
	if r := strings.TrimSpace(nsRun(t, ns, "ip", "-4", "route", "show", "proto", "211")); r != "" {
		left = append(left, "routes: "+r)
	}
	if n := clusterRules(t, ns); n > 0 {
		left = append(left, fmt.Sprintf("%d firewall rules", n))
	}
	var st syscall.Stat_t
	if syscall.Stat(ns.Path, &st) == nil {
		sock := filepath.Join("/var/run/wireguard", wgLink+"-"+strconv.FormatUint(st.Ino, 10)+".sock")
		if _, err := os.Stat(sock); err == nil {
			left = append(left, "socket "+sock)
		}
	}
	for _, pid := range ns.PIDs() {
		if all {
			left = append(left, "process "+strconv.Itoa(pid))
		}
	}
	return left
}

// tunFDs counts the TUN descriptors of the processes in ns.
func tunFDs(ns *netns.NS) int {
	n := 0
	for _, pid := range ns.PIDs() {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			if dst, _ := os.Readlink(fd); dst == "/dev/net/tun" {
				n++
			}
		}
	}
	return n
}

// leakCycles is the join/leave leak check: cycles times an agent joins
// in a new namespace on b (set up by prepare), appears among the server's
// peers (peersWith: the server's view with the agent in), and stops; its
// namespace must then hold nothing of the cluster network, no link and no
// process. Cycles: ZLAYER_LEAK_CYCLES, default 20 (under 2 s each).
func leakCycles(t *testing.T, fx *clusterFx, b *netns.Net, config func(*netns.NS) string, prepare func(*netns.NS), peersWith func(agent *netns.NS) bool) {
	cycles := 20
	if v, err := strconv.Atoi(os.Getenv("ZLAYER_LEAK_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	start := time.Now()
	for i := range cycles {
		name := fmt.Sprintf("j%d", i)
		ns := netns.Namespace(t, b, name)
		if prepare != nil {
			prepare(ns)
		}
		n := StartClusterNodeConfig(t, fx.s, ns, config(ns), "join", "--api", fx.nodes["s1"].URL(), "--token", token(t, fx, "agent"),
			"--node-name", name, "--advertise-address", ns.IP.String(), "--node-label", "zone=c")
		waitFor(t, "the server routes to "+name, 60*time.Second, func() bool { return peersWith(ns) })
		if i == 0 && strings.Contains(config(ns), "wireguard") && tunFDs(ns) == 0 {
			t.Logf("%s runs the kernel's WireGuard (no TUN descriptor)", name)
		}
		n.Stop()
		if left := clusterLeftovers(t, ns, true); len(left) > 0 {
			t.Fatalf("cycle %d: %s left %v", i, name, left)
		}
	}
	t.Logf("%d join/leave cycles in %s, nothing left", cycles, time.Since(start).Round(time.Millisecond))
}

// initServer starts m (in fx.ns[m.name]) as the cluster's first server
// with config and waits until it is ready (token and joinAgent ask the
// node named s1).
func initServer(t *testing.T, fx *clusterFx, m member, config string) *Node {
	t.Helper()
	ns := fx.ns[m.name]
	s1 := StartClusterNodeConfig(t, fx.s, ns, config, append([]string{
		"serve", "--cluster-init", "--node-name", m.name, "--advertise-address", ns.IP.String()}, m.labelFlags()...)...)
	fx.nodes[m.name] = s1
	waitReady(t, fx, m.name)
	return s1
}

// joinAgent joins m (in fx.ns[m.name]) as an agent with config, its CLI
// talking with s1's admin token, and waits until it is ready.
func joinAgent(t *testing.T, fx *clusterFx, m member, config string) *Node {
	t.Helper()
	s1, ns := fx.nodes["s1"], fx.ns[m.name]
	admin, err := os.ReadFile(filepath.Join(s1.Dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	n := StartClusterNodeConfig(t, fx.s, ns, config, append([]string{"join", "--api", s1.URL(), "--token", token(t, fx, "agent"),
		"--node-name", m.name, "--advertise-address", ns.IP.String()}, m.labelFlags()...)...)
	if n.API, err = apiclient.New(n.Socket, strings.TrimSpace(string(admin))); err != nil {
		t.Fatal(err)
	}
	fx.nodes[m.name] = n
	waitReady(t, fx, m.name)
	return n
}

// routedNet is a bridge per node joined by a router namespace: each node
// reaches the others' bridges through the router, never on-link, so that
// host-gw cannot route between them but UDP goes through.
type routedNet struct {
	bridges []*netns.Net
	router  *netns.NS
	via     []netip.Addr // the router's address on each bridge
}

// routedBridges makes the bridges (one per name) and the router.
func routedBridges(t *testing.T, names ...string) *routedNet {
	t.Helper()
	r := &routedNet{}
	for _, n := range names {
		r.bridges = append(r.bridges, netns.Bridge(t, n, ""))
	}
	r.router = netns.Namespace(t, r.bridges[0], "r")
	r.via = append(r.via, r.router.IP)
	for i, b := range r.bridges[1:] {
		r.via = append(r.via, r.router.Attach(t, b, fmt.Sprintf("eth%d", i+1)))
	}
	nsRun(t, r.router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	return r
}

// route sends what ns (on bridge i) has for the other bridges through the
// router; the host, its default route, does not forward between them.
func (r *routedNet) route(t *testing.T, ns *netns.NS, i int) {
	t.Helper()
	for j, b := range r.bridges {
		if j == i {
			continue
		}
		if err := ns.IPCmd("route", "add", b.Prefix.String(), "via", r.via[i].String()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWireGuard is issue #15's wireguard mode, with the checks of host-gw's
// tests: three nodes each on its own bridge, joined by a router namespace,
// so that no node subnet has an on-link next hop (host-gw cannot route)
// but UDP goes through. Each node's WireGuard interface has the two others
// as peers; a replica on a1 fetches from a replica on s1 by its DNS name
// through the tunnel and is seen with its own address (no NAT inside the
// cluster); s1's DNS answers A and SRV of replicas on a1 and a2; s1's
// ingress reaches replicas on a1 and a2; a2 killed: the others' peers, s1's
// DNS and s1's ingress drop it within seconds of its lease. Then the
// join/leave leak check of an agent in wireguard mode, and a node that
// stops leaves nothing.
func TestWireGuard(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	rn := routedBridges(t, "wga", "wgb", "wgc")
	members := []member{{"s1", "zone=a tier=front"}, {"a1", "zone=b tier=back"}, {"a2", "zone=c tier=back"}}
	nss := map[string]*netns.NS{}
	for i, m := range members {
		nss[m.name] = netns.Namespace(t, rn.bridges[i], m.name)
		rn.route(t, nss[m.name], i)
	}
	fx := &clusterFx{t: t, s: s, b: rn.bridges[0], ns: nss, nodes: map[string]*Node{}}

	s1 := initServer(t, fx, members[0], wireguardConfig(s, nss["s1"]))
	a1 := joinAgent(t, fx, members[1], wireguardConfig(s, nss["a1"]))
	a2 := joinAgent(t, fx, members[2], wireguardConfig(s, nss["a2"]))

	subnets := map[string]string{"s1": subnetOf(t, s1), "a1": subnetOf(t, a1), "a2": subnetOf(t, a2)}
	// Host-gw could not route here: the other nodes are no on-link next hop.
	for self, i := range map[string]int{"s1": 0, "a1": 1, "a2": 2} {
		for other := range nss {
			if other == self {
				continue
			}
			if out := nsRun(t, nss[self], "ip", "route", "get", nss[other].IP.String()); !strings.Contains(out, "via "+rn.via[i].String()) {
				t.Fatalf("%s reaches %s %q, want via the router", self, other, out)
			}
		}
	}
	// peersOf are the endpoints self's WireGuard should have: the others'
	// but those in without.
	peersOf := func(self string, without ...string) string {
		var eps []string
		for name, ns := range nss {
			if name != self && !slices.Contains(without, name) {
				eps = append(eps, fmt.Sprintf("%s:51871", ns.IP))
			}
		}
		sort.Strings(eps)
		return strings.Join(eps, " ")
	}
	for self := range nss {
		want := peersOf(self)
		waitFor(t, self+"'s WireGuard peers", 30*time.Second, func() bool { return wgEndpoints(nss[self]) == want })
		routes := nsRun(t, nss[self], "ip", "-4", "route", "show", "proto", "211")
		if !strings.Contains(routes, "10.244.0.0/16 dev "+wgLink) || strings.Contains(routes, " via ") {
			t.Errorf("%s's cluster routes %q: want 10.244.0.0/16 dev %s and no host-gw route", self, routes, wgLink)
		}
		if n := clusterRules(t, nss[self]); n != 3 {
			t.Errorf("%s has %d cluster firewall rules, want 3", self, n)
		}
		if tunFDs(nss[self]) == 0 {
			t.Logf("%s: no TUN descriptor: the kernel's WireGuard", self)
		}
	}

	t.Run("a replica reaches another node's replica by DNS name through the tunnel, which sees the client's own address", func(t *testing.T) {
		rx0, tx0 := linkBytes(t, nss["a1"], wgLink)
		server, client := fetchAcross(t, s1, subnets["s1"], "a1", true)
		rx1, tx1 := linkBytes(t, nss["a1"], wgLink)
		if rx1 <= rx0 || tx1 <= tx0 {
			t.Errorf("a1's %s counters did not move: rx %d→%d, tx %d→%d", wgLink, rx0, rx1, tx0, tx1)
		}
		d, err := wgDevice(nss["a1"])
		if err != nil || len(d.Peers) != 2 {
			t.Fatalf("a1's WireGuard peers after the fetch: %+v %v", d, err)
		}
		for _, p := range d.Peers {
			if p.Endpoint.IP.Equal(nss["s1"].IP.AsSlice()) && (p.ReceiveBytes == 0 || p.LastHandshakeTime.IsZero()) {
				t.Errorf("a1's peer s1 after the fetch: %+v", p)
			}
		}
		t.Logf("a1's replica %s fetched from s1's replica %s by name through %s (rx %d, tx %d bytes)", client.Address, server.Address, wgLink, rx1-rx0, tx1-tx0)
	})

	dns := deployDNS(t, s1)
	t.Run("s1's DNS answers the replicas on a1 and a2 (A, SRV) and fetches by name reach both", func(t *testing.T) {
		dns.check(t)
	})

	var a2Who string
	t.Run("s1's ingress reaches the replicas on a1 and a2", func(t *testing.T) {
		c := IngressClient(5 * time.Second)
		s1.MustCLI("deploy", s1.WriteSpec("web.yaml", WhoSpec("web", 18080, 2, "{tier: back}")))
		rows := readyOn(t, s1, "web", 2)
		seen := map[string]bool{}
		waitFor(t, "answers of both replicas through s1", 30*time.Second, func() bool {
			who, err := Who(c, IngressURL(s1, 18080))
			if err == nil {
				seen[whoNode(rows, who)] = true
				if whoNode(rows, who) == "a2" {
					a2Who = who
				}
			}
			return seen["a1"] && seen["a2"]
		})
		if seen["s1"] || seen[""] {
			t.Fatalf("answers from %v, want a1 and a2 only", seen)
		}
	})

	t.Run("kill -9 a2: peers, DNS and ingress drop it within seconds", func(t *testing.T) {
		if a2Who == "" {
			t.Skip("web's replica on a2 was not reached")
		}
		killed := ingressFailover(t, s1, 18080, a2, a2Who)
		dns.waitGone(t, "a2", killed)
		for _, self := range []string{"s1", "a1"} {
			want := peersOf(self, "a2")
			waitFor(t, self+" drops its peer a2", lease+10*time.Second, func() bool { return wgEndpoints(nss[self]) == want })
		}
		t.Logf("s1 and a1 dropped their peer a2 %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	})

	t.Run("join/leave cycles of a wireguard agent leave nothing", func(t *testing.T) {
		leakCycles(t, fx, rn.bridges[1], func(ns *netns.NS) string { return wireguardConfig(s, ns) }, func(ns *netns.NS) { rn.route(t, ns, 1) }, func(agent *netns.NS) bool {
			return strings.Contains(wgEndpoints(nss["s1"]), agent.IP.String()+":51871")
		})
		// The agents are gone: s1's peers go back to a1 once their leases
		// end.
		waitFor(t, "s1's peers back to a1 alone", lease+20*time.Second, func() bool {
			return wgEndpoints(nss["s1"]) == peersOf("s1", "a2")
		})
	})

	t.Run("a node that stops leaves nothing of the cluster network", func(t *testing.T) {
		// Its replicas first: replicas outlive a stopped node by design,
		// and the node's cleanup could not remove them.
		for _, dep := range []string{"fetch", "back", "web"} {
			s1.MustCLI("down", dep)
		}
		waitFor(t, "a1 runs no container", 60*time.Second, func() bool { return containersOf(t, a1) == 0 })
		a1.Stop()
		if left := clusterLeftovers(t, nss["a1"], false); len(left) > 0 {
			t.Errorf("a1 left %v", left)
		}
		waitFor(t, "s1 drops its peer a1", lease+20*time.Second, func() bool { return wgEndpoints(nss["s1"]) == "" })
	})
}

// TestHostGWJoinLeave is the leak check in host-gw mode: an agent joins
// and leaves a one-server cluster on one bridge, again and again.
func TestHostGWJoinLeave(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	b := netns.Bridge(t, "hl", "")
	nss := map[string]*netns.NS{"s1": netns.Namespace(t, b, "s1")}
	fx := &clusterFx{t: t, s: s, b: b, ns: nss, nodes: map[string]*Node{}}
	initServer(t, fx, member{"s1", "zone=a"}, BridgeConfig(s, nss["s1"]))
	leakCycles(t, fx, b, func(ns *netns.NS) string { return BridgeConfig(s, ns) }, nil, func(agent *netns.NS) bool {
		for _, via := range hostgwRoutes(t, nss["s1"]) {
			if via == agent.IP.String() {
				return true
			}
		}
		return false
	})
	waitFor(t, "s1's routes to the agents gone", lease+20*time.Second, func() bool { return len(hostgwRoutes(t, nss["s1"])) == 0 })
}
