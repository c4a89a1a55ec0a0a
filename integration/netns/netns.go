// Package netns builds small test networks on one machine: a bridge on the
// host and network namespaces hanging off it by veth pairs, each with its
// own address, so that several daemons (cluster nodes) can each have an
// address of their own and be cut off from the others.
//
//	b := netns.Bridge(t, "c", "")          // 10.213.X.0/24, X the first free
//	s1 := netns.Namespace(t, b, "s1")      // 10.213.X.2, default route via .1
//	cmd := s1.Command(ctx, "zlayer", "serve", "--bind", s1.IP.String()+":3669")
//	s1.LinkDown(); s1.LinkUp()             // partition and heal
//
// Processes run in a namespace through `nsenter --net=`, never `ip netns
// exec`: the latter also unshares the mount namespace and remounts /sys,
// which hides /sys/fs/cgroup from runc.
//
// Every object is named with Prefix and a random suffix and carries its
// owner's PID (in the namespace's name, in the links' alias), so a crashed
// run never blocks the next one, and Sweep removes only what runs that
// have ended left behind. Cleanup (t.Cleanup, in reverse) kills what still
// runs in a namespace, then removes veths, namespaces and the bridge, and
// fails the test if any of them is still there.
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
)

// Prefix starts the name of every link and namespace this package makes;
// Sweep touches nothing else.
const Prefix = "zlt"

// netnsDir is where `ip netns add` bind-mounts named namespaces.
const netnsDir = "/run/netns"

// aliasTag starts the alias of our links, followed by the owner's PID.
const aliasTag = "zlayer-netns pid="

// autoRange is searched for a free /24 when Bridge is given no CIDR: an
// unlikely private range, so that a test network never shadows a real one.
var autoRange = netip.MustParsePrefix("10.213.0.0/16")

// Net is a test bridge on the host and the subnet its namespaces share.
type Net struct {
	Name   string       // bridge interface name
	Prefix netip.Prefix // the subnet
	Addr   netip.Addr   // the bridge's (the host's) address, the subnet's first
	t      testing.TB
	mu     sync.Mutex
	next   netip.Addr
}

// NS is a named network namespace attached to a Net.
type NS struct {
	Name     string     // the name the test gave (s1, a1...)
	NetNS    string     // the namespace's name under /run/netns
	Path     string     // /run/netns/NetNS, for nsenter --net= and setns
	IP       netip.Addr // its address on the bridge
	HostVeth string     // the host-side end of its veth pair, on the bridge
	Net      *Net
	t        testing.TB
}

// Available says why the harness cannot run here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netns: needs root (links, namespaces)")
	}
	for _, name := range []string{"ip", "nsenter"} {
		if _, err := stack.LookPath(name); err != nil {
			return fmt.Errorf("netns: %s not found", name)
		}
	}
	return nil
}

// tool is the path of ip or nsenter (sbin may be missing from PATH).
func tool(name string) string {
	if p, err := stack.LookPath(name); err == nil {
		return p
	}
	return name
}

var sweepOnce sync.Once

// Bridge creates a test bridge with the first address of cidr (a free /24
// of 10.213.0.0/16 when cidr is ""), up, and registers its removal. name is
// a short tag shown in the alias; the interface name is Prefix plus a random
// suffix. The first call in a process sweeps what ended runs left.
func Bridge(t testing.TB, name, cidr string) *Net {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
	if err := Available(); err != nil {
		if stack.Required() {
			t.Fatalf("%v (ZLAYER_INTEGRATION=require)", err)
		}
		t.Skip(err)
	}
	sweepOnce.Do(func() {
		if err := Sweep(); err != nil {
			t.Logf("netns: sweep of stale test objects: %v", err)
		}
	})
	// Test processes run side by side (go test ./integration/...): choosing
	// a subnet and taking it must be one step, or two bridges get one.
	unlock, err := lockHost()
	if err != nil {
		t.Fatalf("netns: bridge %s: %v", name, err)
	}
	defer unlock()
	var pfx netip.Prefix
	if cidr == "" {
		pfx, err = FreeSubnet(autoRange, 24)
	} else {
		pfx, err = netip.ParsePrefix(cidr)
		if err == nil {
			pfx = pfx.Masked()
			err = checkUnused(pfx)
		}
	}
	if err != nil {
		t.Fatalf("netns: bridge %s: %v", name, err)
	}
	if pfx.Bits() > 30 || !pfx.Addr().Is4() {
		t.Fatalf("netns: bridge %s: %s is not an IPv4 subnet with room for hosts", name, pfx)
	}
	b := &Net{Name: Prefix + "b" + randHex(3), Prefix: pfx, Addr: pfx.Addr().Next(), t: t}
	b.next = b.Addr.Next()
	// Registered before anything exists, so a failure half-way still removes
	// what was made.
	t.Cleanup(b.cleanup)
	steps := [][]string{
		{"link", "add", b.Name, "type", "bridge"},
		{"link", "set", "dev", b.Name, "alias", alias(name)},
		{"addr", "add", netip.PrefixFrom(b.Addr, pfx.Bits()).String(), "dev", b.Name},
		{"link", "set", "dev", b.Name, "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Fatalf("netns: bridge %s: %v", name, err)
		}
	}
	t.Logf("netns: bridge %s (%s) at %s", b.Name, name, netip.PrefixFrom(b.Addr, pfx.Bits()))
	return b
}

// lockFile serialises subnet choice between test processes.
const lockFile = "/run/lock/zlayer-netns.lock"

func lockHost() (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(lockFile), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", lockFile, err)
	}
	return func() { f.Close() }, nil
}

func (b *Net) cleanup() {
	if err := delLink(b.Name); err != nil {
		b.t.Errorf("netns: remove bridge %s: %v", b.Name, err)
	}
	if linkExists(b.Name) {
		b.t.Errorf("netns: bridge %s still present after cleanup", b.Name)
	}
}

func (b *Net) allocate() (netip.Addr, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.next
	// The last address of the subnet is its broadcast.
	if !b.Prefix.Contains(a) || !b.Prefix.Contains(a.Next()) {
		return netip.Addr{}, fmt.Errorf("subnet %s is full", b.Prefix)
	}
	b.next = a.Next()
	return a, nil
}

// Namespace creates a named network namespace on b: loopback up, one end of
// a veth pair inside as eth0 with the next free address of b's subnet and a
// default route via the bridge, the other end on the bridge. Its cleanup
// (registered with t.Cleanup) kills the processes still in it, then removes
// the veth and the namespace.
func Namespace(t testing.TB, b *Net, name string) *NS {
	t.Helper()
	ip, err := b.allocate()
	if err != nil {
		t.Fatalf("netns: namespace %s: %v", name, err)
	}
	id := randHex(3)
	ns := &NS{
		Name: name, NetNS: fmt.Sprintf("%s-%d-%s-%s", Prefix, os.Getpid(), id, name),
		IP: ip, HostVeth: Prefix + "h" + id, Net: b, t: t,
	}
	ns.Path = filepath.Join(netnsDir, ns.NetNS)
	peer := Prefix + "p" + id
	t.Cleanup(ns.cleanup)
	if err := ipCmd("netns", "add", ns.NetNS); err != nil {
		t.Fatalf("netns: namespace %s: %v", name, err)
	}
	host := [][]string{
		{"link", "add", ns.HostVeth, "type", "veth", "peer", "name", peer},
		{"link", "set", "dev", ns.HostVeth, "alias", alias(name)},
		{"link", "set", "dev", peer, "netns", ns.NetNS},
		{"link", "set", "dev", ns.HostVeth, "master", b.Name},
		{"link", "set", "dev", ns.HostVeth, "up"},
	}
	for _, s := range host {
		if err := ipCmd(s...); err != nil {
			t.Fatalf("netns: namespace %s: %v", name, err)
		}
	}
	inside := [][]string{
		{"link", "set", "dev", "lo", "up"},
		{"link", "set", "dev", peer, "name", "eth0"},
		{"addr", "add", netip.PrefixFrom(ip, b.Prefix.Bits()).String(), "dev", "eth0"},
		{"link", "set", "dev", "eth0", "up"},
		{"route", "add", "default", "via", b.Addr.String()},
	}
	for _, s := range inside {
		if err := ns.ip(s...); err != nil {
			t.Fatalf("netns: namespace %s: %v", name, err)
		}
	}
	t.Logf("netns: namespace %s (%s) at %s, host veth %s", ns.NetNS, name, ip, ns.HostVeth)
	return ns
}

// Attach gives the namespace a second link, dev, on bridge b with the
// next free address of b's subnet (no route beyond b's subnet): with IP
// forwarding on in it, the namespace is a router between two bridges.
// The veth goes in a cleanup registered here, before the namespace's.
func (ns *NS) Attach(t testing.TB, b *Net, dev string) netip.Addr {
	t.Helper()
	ip, err := b.allocate()
	if err != nil {
		t.Fatalf("netns: attach %s to %s: %v", ns.Name, b.Name, err)
	}
	id := randHex(3)
	host, peer := Prefix+"h"+id, Prefix+"p"+id
	t.Cleanup(func() {
		if err := delLink(host); err != nil {
			t.Errorf("netns: remove veth %s: %v", host, err)
		}
	})
	for _, s := range [][]string{
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", "dev", host, "alias", alias(ns.Name)},
		{"link", "set", "dev", peer, "netns", ns.NetNS},
		{"link", "set", "dev", host, "master", b.Name},
		{"link", "set", "dev", host, "up"},
	} {
		if err := ipCmd(s...); err != nil {
			t.Fatalf("netns: attach %s to %s: %v", ns.Name, b.Name, err)
		}
	}
	for _, s := range [][]string{
		{"link", "set", "dev", peer, "name", dev},
		{"addr", "add", netip.PrefixFrom(ip, b.Prefix.Bits()).String(), "dev", dev},
		{"link", "set", "dev", dev, "up"},
	} {
		if err := ns.ip(s...); err != nil {
			t.Fatalf("netns: attach %s to %s: %v", ns.Name, b.Name, err)
		}
	}
	t.Logf("netns: %s also on %s at %s (%s)", ns.Name, b.Name, ip, dev)
	return ip
}

// IPCmd runs `ip` with args inside the namespace (a route a test needs).
func (ns *NS) IPCmd(args ...string) error { return ns.ip(args...) }

// ip runs `ip` inside the namespace.
func (ns *NS) ip(args ...string) error {
	return run(exec.Command(tool("nsenter"), append([]string{"--net=" + ns.Path, "--", tool("ip")}, args...)...))
}

// Command is exec.CommandContext of name inside the namespace. nsenter
// execs name in place, so the command's PID is the program's own. A process
// still in the namespace at cleanup is killed by its PID.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, tool("nsenter"), append([]string{"--net=" + ns.Path, "--", name}, args...)...)
	return cmd
}

// Prefix is the command line that runs a program inside the namespace, for
// harnesses that build their own exec.Cmd.
func (ns *NS) Prefix() []string { return []string{tool("nsenter"), "--net=" + ns.Path, "--"} }

// LinkDown sets the host-side veth down: the namespace is cut off from the
// bridge (and so from the host and every other namespace) until LinkUp.
func (ns *NS) LinkDown() {
	ns.t.Helper()
	if err := ipCmd("link", "set", "dev", ns.HostVeth, "down"); err != nil {
		ns.t.Fatalf("netns: partition %s: %v", ns.Name, err)
	}
}

// LinkUp heals a LinkDown.
func (ns *NS) LinkUp() {
	ns.t.Helper()
	if err := ipCmd("link", "set", "dev", ns.HostVeth, "up"); err != nil {
		ns.t.Fatalf("netns: heal %s: %v", ns.Name, err)
	}
}

// PIDs lists the processes whose network namespace is this one.
func (ns *NS) PIDs() []int { return pidsIn(ns.Path) }

func (ns *NS) cleanup() {
	t := ns.t
	// Processes first, by PID: everything whose network namespace is this
	// one is ours (what Command started, a daemon's children). A daemon still
	// running would keep the namespace alive past its removal from /run/netns.
	if left := ns.PIDs(); len(left) > 0 {
		t.Logf("netns: killing %d processes left in %s: %v", len(left), ns.NetNS, describe(left))
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		waitGone(left, 10*time.Second)
	}
	if err := delLink(ns.HostVeth); err != nil {
		t.Errorf("netns: remove veth %s: %v", ns.HostVeth, err)
	}
	if err := delNetNS(ns.NetNS); err != nil {
		t.Errorf("netns: remove namespace %s: %v", ns.NetNS, err)
	}
	if linkExists(ns.HostVeth) {
		t.Errorf("netns: veth %s still present after cleanup", ns.HostVeth)
	}
	if _, err := os.Stat(ns.Path); err == nil {
		t.Errorf("netns: namespace %s still present after cleanup", ns.NetNS)
	}
}

// Sweep removes the links and namespaces that runs which have ended left
// behind (a crashed or killed test binary): only names with Prefix, and
// only those whose owner PID is no longer running.
func Sweep() error {
	var errs []error
	links, err := listLinks()
	if err != nil {
		return err
	}
	for _, l := range links {
		if !strings.HasPrefix(l.Name, Prefix) {
			continue
		}
		if pid, ok := ownerOfAlias(l.Alias); ok && !running(pid) {
			if err := delLink(l.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if pid, ok := ownerOfNetNS(e.Name()); ok && !running(pid) {
			p := filepath.Join(netnsDir, e.Name())
			for _, q := range pidsIn(p) {
				_ = syscall.Kill(q, syscall.SIGKILL)
			}
			if err := delNetNS(e.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists the links and namespaces of this package's naming that
// exist now (any owner), for tests that check nothing is left.
func Leftovers() (links, namespaces []string) {
	ls, _ := listLinks()
	for _, l := range ls {
		if strings.HasPrefix(l.Name, Prefix) {
			links = append(links, l.Name)
		}
	}
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), Prefix+"-") {
			namespaces = append(namespaces, e.Name())
		}
	}
	return links, namespaces
}

// Exists reports whether a link or a namespace of that name exists.
func Exists(name string) bool {
	if linkExists(name) {
		return true
	}
	_, err := os.Stat(filepath.Join(netnsDir, name))
	return err == nil
}

// FreeSubnet returns the first subnet of size bits inside within that
// overlaps no address or route of the host.
func FreeSubnet(within netip.Prefix, bits int) (netip.Prefix, error) {
	used, err := usedPrefixes()
	if err != nil {
		return netip.Prefix{}, err
	}
	return freeSubnet(within, bits, used)
}

func freeSubnet(within netip.Prefix, bits int, used []netip.Prefix) (netip.Prefix, error) {
	if !within.Addr().Is4() || bits < within.Bits() || bits > 32 {
		return netip.Prefix{}, fmt.Errorf("no /%d in %s", bits, within)
	}
	step := uint32(1) << (32 - bits)
	base := within.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for i := uint32(0); i < 1<<(bits-within.Bits()); i++ {
		v := start + i*step
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
		if !overlapsAny(p, used) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /%d in %s", bits, within)
}

func checkUnused(p netip.Prefix) error {
	used, err := usedPrefixes()
	if err != nil {
		return err
	}
	for _, u := range used {
		if u.Overlaps(p) {
			return fmt.Errorf("%s is in use on this host (%s)", p, u)
		}
	}
	return nil
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Overlaps(p) {
			return true
		}
	}
	return false
}

// usedPrefixes are the host's interface subnets and route destinations
// (except the default route, which overlaps everything).
func usedPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			out = append(out, p.Masked())
		}
	}
	b, err := output(exec.Command(tool("ip"), "-j", "-4", "route", "show", "table", "all"))
	if err != nil {
		return nil, err
	}
	var routes []struct {
		Dst string `json:"dst"`
	}
	if err := json.Unmarshal(b, &routes); err != nil {
		return nil, fmt.Errorf("ip -j route: %w", err)
	}
	for _, r := range routes {
		if r.Dst == "" || r.Dst == "default" {
			continue
		}
		if !strings.Contains(r.Dst, "/") {
			r.Dst += "/32"
		}
		if p, err := netip.ParsePrefix(r.Dst); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

type link struct {
	Name  string `json:"ifname"`
	Alias string `json:"ifalias"`
}

func listLinks() ([]link, error) {
	b, err := output(exec.Command(tool("ip"), "-j", "link", "show"))
	if err != nil {
		return nil, err
	}
	var ls []link
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, fmt.Errorf("ip -j link: %w", err)
	}
	return ls, nil
}

func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func delLink(name string) error {
	if !linkExists(name) {
		return nil
	}
	err := ipCmd("link", "del", "dev", name)
	if err != nil && !linkExists(name) {
		// Gone meanwhile: a veth goes with its peer's namespace.
		return nil
	}
	return err
}

func delNetNS(name string) error {
	if _, err := os.Stat(filepath.Join(netnsDir, name)); err != nil {
		return nil
	}
	return ipCmd("netns", "del", name)
}

func alias(name string) string { return fmt.Sprintf("%s%d name=%s", aliasTag, os.Getpid(), name) }

func ownerOfAlias(a string) (int, bool) {
	rest, ok := strings.CutPrefix(a, aliasTag)
	if !ok {
		return 0, false
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(f[0])
	return pid, err == nil && pid > 0
}

// ownerOfNetNS reads the PID out of Prefix-PID-ID-NAME.
func ownerOfNetNS(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix+"-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
	return pid, err == nil && pid > 0
}

func running(pid int) bool {
	return syscall.Kill(pid, 0) == nil && !exited(pid)
}

// exited reports a process gone or a zombie (dead, not yet reaped).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || bytes.Contains(b, []byte(") Z "))
}

// pidsIn lists the live processes whose network namespace is the one
// bind-mounted at path.
func pidsIn(path string) []int {
	var want syscall.Stat_t
	if err := syscall.Stat(path, &want); err != nil {
		return nil
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil {
			continue
		}
		if st.Ino == want.Ino && st.Dev == want.Dev && !exited(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitGone(pids []int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, p := range pids {
		for !exited(p) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func describe(pids []int) []string {
	var out []string
	for _, p := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if len(cmd) > 80 {
			cmd = cmd[:80] + "..."
		}
		out = append(out, fmt.Sprintf("%d %s", p, cmd))
	}
	return out
}

func ipCmd(args ...string) error { return run(exec.Command(tool("ip"), args...)) }

func run(cmd *exec.Cmd) error {
	_, err := output(cmd)
	return err
}

func output(cmd *exec.Cmd) ([]byte, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return b, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return b, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Relay listens on the bridge address and forwards every connection to
// target, a host service on loopback (the stack's registry) that the
// namespaces cannot reach there. It returns the address to give them and
// stops with the test.
func (b *Net) Relay(t testing.TB, target string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(b.Addr.String(), "0"))
	if err != nil {
		t.Fatalf("netns: relay to %s: %v", target, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	// Idle keep-alive connections of a puller would hold the relay open:
	// cleanup closes them with the listener.
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				pipe(c, target)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return l.Addr().String()
}

// pipe copies both ways between c and a new connection to target until
// either side closes.
func pipe(c net.Conn, target string) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(u, c)
	go cp(c, u)
	<-done
	// One side is done: the other gets a moment to drain, not forever.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_ = u.SetDeadline(time.Now().Add(5 * time.Second))
	<-done
}
