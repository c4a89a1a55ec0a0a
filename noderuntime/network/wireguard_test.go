package network

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// The WireGuard tests run in a child process that is wholly inside a new
// network namespace (wireguard-go opens its sockets from threads of its
// own, which Do's one switched thread would not cover).
const wgChildEnv = "ZLAYER_WG_TEST_CHILD"

// needNetAdmin skips a test that cannot make namespaces and TUN devices
// here, or lacks one of the tools (ip, iptables and those named).
func needNetAdmin(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes network namespaces")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	for _, bin := range append([]string{"ip", "iptables"}, tools...) {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s", bin)
		}
	}
}

// inOwnNetns reruns the test named name inside `unshare --net` with env
// added, and fails the parent when the child fails; it reports whether the
// caller is the child (and should run the body).
func inOwnNetns(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv(wgChildEnv) == t.Name() {
		return true
	}
	needNetAdmin(t, "unshare")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), wgChildEnv+"="+t.Name()), env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in its own network namespace: %v\n%s", err, out)
	}
	t.Logf("in its own network namespace:\n%s", out)
	return false
}

// uplink gives the child's namespace lo and a veth at addr/24.
func uplink(t *testing.T, addr string) {
	t.Helper()
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "d0", "type", "veth", "peer", "name", "d1"},
		{"addr", "add", addr + "/24", "dev", "d0"},
		{"link", "set", "d0", "up"},
		{"link", "set", "d1", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}

func newKey(t *testing.T) wgtypes.Key {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// leftovers is what the cluster network may leave in this namespace and
// process: links other than the uplink, routes of its protocol, firewall
// rules, UAPI sockets, TUN file descriptors.
func leftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if n := l.Attrs().Name; n != "lo" && n != "d0" && n != "d1" {
			out = append(out, "link "+n)
		}
	}
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		out = append(out, "route "+r.String())
	}
	if n := strings.Count(iptablesSave(t), ruleComment); n > 0 {
		out = append(out, fmt.Sprintf("%d firewall rules", n))
	}
	if _, err := os.Stat(uapiPath(uapiName(WireGuardLink))); err == nil {
		out = append(out, "UAPI socket "+uapiPath(uapiName(WireGuardLink)))
	}
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if dst, _ := os.Readlink(fd); dst == "/dev/net/tun" {
			out = append(out, "TUN fd "+filepath.Base(fd))
		}
	}
	return out
}

func TestWireGuardPeersFollowSync(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	uplink(t, "192.0.2.1")
	k2, k3 := newKey(t), newKey(t)
	w := &WireGuard{CIDR: mustPrefix("10.244.0.0/16"), Subnet: mustPrefix("10.244.1.0/24"), Key: newKey(t), Port: 51990}
	// As serve sets it.
	limit := int64(32 << 20)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
	peers := []Peer{
		{Node: "n2", Subnet: mustPrefix("10.244.2.0/24"), Via: mustAddr("192.0.2.2"), PublicKey: k2.PublicKey().String(), Port: 51991},
		{Node: "n3", Subnet: mustPrefix("10.244.3.0/24"), Via: mustAddr("192.0.2.3"), PublicKey: k3.PublicKey().String()},
		// Skipped: this node's own subnet, one outside the CIDR.
		{Node: "self", Subnet: mustPrefix("10.244.1.0/24"), Via: mustAddr("192.0.2.1"), PublicKey: k2.PublicKey().String()},
		{Node: "out", Subnet: mustPrefix("10.9.0.0/24"), Via: mustAddr("192.0.2.4"), PublicKey: newKey(t).PublicKey().String()},
	}
	if err := w.Sync(peers); err != nil {
		t.Fatal(err)
	}
	c, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dev, err := c.Device(w.dev.ctl)
	if err != nil {
		t.Fatal(err)
	}
	if dev.ListenPort != 51990 || dev.PublicKey != w.Key.PublicKey() {
		t.Errorf("device port %d key %s, want 51990 and the node's", dev.ListenPort, dev.PublicKey)
	}
	// wireguard-go's queues get room above the node's limit (the kernel's
	// WireGuard needs none).
	wantLimit := limit
	if w.dev.user != nil {
		wantLimit += wgHeadroom
	}
	if got := debug.SetMemoryLimit(-1); got != wantLimit {
		t.Errorf("memory limit with the device up: %d MiB, want %d", got>>20, wantLimit>>20)
	}
	got := map[string]string{}
	for _, p := range dev.Peers {
		var ips []string
		for _, n := range p.AllowedIPs {
			ips = append(ips, n.String())
		}
		got[p.PublicKey.String()] = fmt.Sprint(p.Endpoint, " ", ips)
	}
	want := map[string]string{
		k2.PublicKey().String(): "192.0.2.2:51991 [10.244.2.0/24]",
		k3.PublicKey().String(): fmt.Sprintf("192.0.2.3:%d [10.244.3.0/24]", DefaultWireGuardPort),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("peers %v, want %v", got, want)
	}
	out, err := exec.Command("ip", "-4", "route", "show", "proto", "211").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.244.0.0/16 dev "+WireGuardLink) || !strings.Contains(string(out), "src 10.244.1.1") {
		t.Errorf("routes %q (%v), want 10.244.0.0/16 dev %s src 10.244.1.1", out, err, WireGuardLink)
	}
	if n := strings.Count(iptablesSave(t), ruleComment); n != 3 {
		t.Errorf("%d firewall rules, want 3", n)
	}

	// n3 leaves, n2 moves: one peer, at its new endpoint.
	peers = []Peer{{Node: "n2", Subnet: mustPrefix("10.244.2.0/24"), Via: mustAddr("192.0.2.22"), PublicKey: k2.PublicKey().String(), Port: 51991}}
	if err := w.Sync(peers); err != nil {
		t.Fatal(err)
	}
	if dev, err = c.Device(w.dev.ctl); err != nil {
		t.Fatal(err)
	}
	if len(dev.Peers) != 1 || dev.Peers[0].Endpoint.String() != "192.0.2.22:51991" {
		t.Errorf("peers after n3 left and n2 moved: %+v", dev.Peers)
	}
	// A peer without a key is reported, the others kept.
	err = w.Sync(append(peers, Peer{Node: "n4", Subnet: mustPrefix("10.244.4.0/24"), Via: mustAddr("192.0.2.4")}))
	if err == nil || !strings.Contains(err.Error(), "node n4 published no public key") {
		t.Errorf("a peer without a key: %v", err)
	}
	if dev, err = c.Device(w.dev.ctl); err != nil || len(dev.Peers) != 1 {
		t.Errorf("peers after a keyless one: %v %v", dev, err)
	}

	if err := w.Remove(); err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t); len(l) > 0 {
		t.Errorf("left after Remove: %v", l)
	}
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit after Remove: %d MiB, want %d back", got>>20, limit>>20)
	}
}

// TestClusterNetworkLeavesNothing is the leak check of both modes: 20
// times up, peers set, down; nothing may pile up.
func TestClusterNetworkLeavesNothing(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	uplink(t, "192.0.2.1")
	peer := newKey(t).PublicKey().String()
	peers := []Peer{{Node: "n2", Subnet: mustPrefix("10.244.2.0/24"), Via: mustAddr("192.0.2.2"), PublicKey: peer}}
	cidr, sub := mustPrefix("10.244.0.0/16"), mustPrefix("10.244.1.0/24")
	key := newKey(t)
	for i := range 20 {
		for _, r := range []clusterRoutes{&HostGW{CIDR: cidr, Subnet: sub}, &WireGuard{CIDR: cidr, Subnet: sub, Key: key, Port: 51990}} {
			if err := r.Sync(peers); err != nil {
				t.Fatalf("cycle %d, %T: %v", i, r, err)
			}
			if len(leftovers(t)) == 0 {
				t.Fatalf("cycle %d, %T: nothing set up", i, r)
			}
			if err := r.Remove(); err != nil {
				t.Fatalf("cycle %d, %T: remove: %v", i, r, err)
			}
			if l := leftovers(t); len(l) > 0 {
				t.Fatalf("cycle %d, %T left %v", i, r, l)
			}
		}
	}
}

// TestWireGuardCarriesReplicaTraffic runs two nodes' WireGuard in two
// namespaces joined by a veth: a TCP connection from node 1's subnet
// address to node 2's crosses the tunnel with its source kept, and the
// device counters show it.
func TestWireGuardCarriesReplicaTraffic(t *testing.T) {
	if os.Getenv(wgChildEnv) == "" {
		twoNodes(t)
		return
	}
	if os.Getenv(wgChildEnv) != t.Name() {
		return
	}
	role := os.Getenv("ZLAYER_WG_ROLE")
	self, other := "1", "2"
	if role == "2" {
		self, other = "2", "1"
	}
	key, err := wgtypes.ParseKey(os.Getenv("ZLAYER_WG_KEY" + self))
	if err != nil {
		t.Fatal(err)
	}
	peerKey, err := wgtypes.ParseKey(os.Getenv("ZLAYER_WG_KEY" + other))
	if err != nil {
		t.Fatal(err)
	}
	w := &WireGuard{CIDR: mustPrefix("10.244.0.0/16"), Subnet: mustPrefix("10.244." + self + ".0/24"), Key: key, Port: 51990}
	defer w.Remove()
	peers := []Peer{{Node: "n" + other, Subnet: mustPrefix("10.244." + other + ".0/24"), Via: mustAddr("192.0.2." + other),
		PublicKey: peerKey.PublicKey().String(), Port: 51990}}
	if err := w.Sync(peers); err != nil {
		t.Fatal(err)
	}
	if role == "2" {
		// Serve: answer every connection with the address it came from.
		l, err := net.Listen("tcp4", "10.244.2.1:7070")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("ready")
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "from %s\n", c.RemoteAddr().(*net.TCPAddr).IP)
		if n := bulkMB(); n > 0 {
			buf := make([]byte, 1<<20)
			for range n {
				if _, err := c.Write(buf); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Until the client has read it: the tunnel goes with this process.
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
		l.Close()
		return
	}
	var c net.Conn
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(100 * time.Millisecond) {
		if c, err = net.DialTimeout("tcp4", "10.244.2.1:7070", time.Second); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("through the tunnel: %v", err)
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "from 10.244.1.1\n" {
		c.Close()
		t.Fatalf("the server saw %q (%v), want from 10.244.1.1", line, err)
	}
	if n := bulkMB(); n > 0 {
		start := time.Now()
		got, err := io.CopyN(io.Discard, br, int64(n)<<20)
		if err != nil {
			c.Close()
			t.Fatalf("bulk read: %d bytes: %v", got, err)
		}
		fmt.Printf("bulk: %d MB in %s: %.1f MB/s\n", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
		// Packets over the path's MTU would be fragmented here or
		// reassembled there (the namespace's own counters).
		snmp, _ := os.ReadFile("/proc/net/snmp")
		if w.dev.user != nil {
			fmt.Printf("wireguard-go batch size %d (128: TUN offloads on)\n", w.dev.user.BatchSize())
		}
		for _, l := range strings.Split(string(snmp), "\n") {
			if strings.HasPrefix(l, "Ip:") {
				fmt.Println(l)
			}
		}
	}
	c.Close()
	cl, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dev, err := cl.Device(w.dev.ctl)
	if err != nil || len(dev.Peers) != 1 || dev.Peers[0].ReceiveBytes == 0 || dev.Peers[0].TransmitBytes == 0 || dev.Peers[0].LastHandshakeTime.IsZero() {
		t.Fatalf("device after the exchange: %+v %v", dev, err)
	}
}

// bulkMB is how many MiB the server sends after its line
// (ZLAYER_WG_BULK_MB, default none): a throughput run of the tunnel.
func bulkMB() int {
	n, _ := strconv.Atoi(os.Getenv("ZLAYER_WG_BULK_MB"))
	return n
}

// twoNodes is the parent of TestWireGuardCarriesReplicaTraffic: two
// namespaces, a veth between them (192.0.2.1 and .2), a child test process
// in each.
func twoNodes(t *testing.T) {
	needNetAdmin(t, "nsenter")
	dir := t.TempDir()
	ns := []string{filepath.Join(dir, "ns1"), filepath.Join(dir, "ns2")}
	for _, p := range ns {
		if err := newNetns(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = removeNetns(p) })
	}
	err := Do(ns[0], func() error {
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			{"link", "add", "d0", "type", "veth", "peer", "name", "d1", "netns", ns[1]},
			{"addr", "add", "192.0.2.1/24", "dev", "d0"},
			{"link", "set", "d0", "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
			}
		}
		return nil
	})
	if err == nil {
		err = Do(ns[1], func() error {
			for _, args := range [][]string{
				{"link", "set", "lo", "up"},
				{"addr", "add", "192.0.2.2/24", "dev", "d1"},
				{"link", "set", "d1", "up"},
			} {
				if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
					return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
				}
			}
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), wgChildEnv+"="+t.Name(), "ZLAYER_WG_KEY1="+newKey(t).String(), "ZLAYER_WG_KEY2="+newKey(t).String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	child := func(role, path string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "nsenter", "--net="+path, "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
		cmd.Env = append(env, "ZLAYER_WG_ROLE="+role)
		// A hung child shows its goroutines.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
		cmd.WaitDelay = 5 * time.Second
		return cmd
	}
	server := child("2", ns[1])
	sout, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	server.Stderr = server.Stdout
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	var serverLog strings.Builder
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(sout)
		for sc.Scan() {
			serverLog.WriteString(sc.Text() + "\n")
			if sc.Text() == "ready" {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-done:
	case <-ctx.Done():
	}
	out, cerr := child("1", ns[0]).CombinedOutput()
	<-done
	serr := server.Wait()
	if cerr != nil || serr != nil || !strings.Contains(string(out), "--- PASS") || !strings.Contains(serverLog.String(), "--- PASS") {
		t.Fatalf("client: %v\n%s\nserver: %v\n%s", cerr, out, serr, serverLog.String())
	}
	if bulkMB() > 0 {
		t.Logf("client:\n%s", out)
	}
}

func TestWireGuardModeFitsTheBridgeMTU(t *testing.T) {
	cn := &ClusterNet{CIDR: mustPrefix("10.244.0.0/16"), Subnet: mustPrefix("10.244.1.0/24"), Mode: ModeWireGuard}
	cfg := Config{}
	if err := cn.check(&cfg); err != nil || cfg.MTU != wgMTU {
		t.Errorf("wireguard mode: bridge MTU %d (%v), want %d", cfg.MTU, err, wgMTU)
	}
	// One the config sets is kept; host-gw leaves the default.
	cfg = Config{MTU: 1380}
	if err := cn.check(&cfg); err != nil || cfg.MTU != 1380 {
		t.Errorf("wireguard mode with mtu 1380: %d (%v)", cfg.MTU, err)
	}
	cn.Mode, cfg = ModeHostGW, Config{}
	if err := cn.check(&cfg); err != nil || cfg.MTU != 0 {
		t.Errorf("host-gw: bridge MTU %d (%v), want the default", cfg.MTU, err)
	}
}
