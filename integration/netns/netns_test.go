package netns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the tiny TCP peer run inside namespaces:
// ZLAYER_NETNS_ROLE=listen|dial with ZLAYER_NETNS_ADDR.
func TestMain(m *testing.M) {
	switch os.Getenv("ZLAYER_NETNS_ROLE") {
	case "listen":
		os.Exit(listenOnce(os.Getenv("ZLAYER_NETNS_ADDR"), os.Getenv("ZLAYER_NETNS_MSG")))
	case "dial":
		os.Exit(dialOnce(os.Getenv("ZLAYER_NETNS_ADDR")))
	}
	os.Exit(m.Run())
}

// listenOnce says "ready" on stdout, then greets one connection with msg.
func listenOnce(addr, msg string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	c, err := l.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintln(c, msg)
	c.Close()
	return 0
}

// dialOnce prints the first line the peer at addr sends.
func dialOnce(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Print(line)
	return 0
}

func peer(ctx context.Context, ns *NS, role, addr, msg string) *exec.Cmd {
	self, _ := os.Executable()
	cmd := ns.Command(ctx, self)
	cmd.Env = append(os.Environ(), "ZLAYER_NETNS_ROLE="+role, "ZLAYER_NETNS_ADDR="+addr, "ZLAYER_NETNS_MSG="+msg)
	return cmd
}

// listenIn starts a listener in ns and waits until it accepts.
func listenIn(t *testing.T, ns *NS, addr, msg string) *exec.Cmd {
	t.Helper()
	cmd := peer(context.Background(), ns, "listen", addr, msg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("listener in %s: %q, %v", ns.Name, line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out); _ = cmd.Wait() }()
	return cmd
}

// greeter listens on the host at addr and greets one connection with msg;
// it closes with the test.
func greeter(t *testing.T, addr, msg string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.Accept()
		if err == nil {
			fmt.Fprintln(conn, msg)
			conn.Close()
		}
	}()
	return l
}

// dialFrom dials addr from inside ns and returns the line it read.
func dialFrom(ns *NS, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := peer(ctx, ns, "dial", addr, "").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestPacketPath(t *testing.T) {
	b := Bridge(t, "pkt", "")
	a := Namespace(t, b, "a")
	c := Namespace(t, b, "c")
	if a.IP == c.IP || !b.Prefix.Contains(a.IP) || a.IP == b.Addr {
		t.Fatalf("addresses: bridge %s, a %s, c %s", b.Addr, a.IP, c.IP)
	}

	t.Run("namespace to namespace", func(t *testing.T) {
		addr := net.JoinHostPort(c.IP.String(), "7000")
		listenIn(t, c, addr, "hello from c")
		got, err := dialFrom(a, addr)
		if err != nil || got != "hello from c" {
			t.Fatalf("dial %s from a: %q, %v", addr, got, err)
		}
	})

	t.Run("namespace to host on the bridge address", func(t *testing.T) {
		l := greeter(t, net.JoinHostPort(b.Addr.String(), "0"), "hello from the host")
		got, err := dialFrom(a, l.Addr().String())
		if err != nil || got != "hello from the host" {
			t.Fatalf("dial host %s from a: %q, %v", l.Addr(), got, err)
		}
	})

	t.Run("namespace to a host loopback service through the relay", func(t *testing.T) {
		l := greeter(t, "127.0.0.1:0", "hello from loopback")
		relay := b.Relay(t, l.Addr().String())
		got, err := dialFrom(a, relay)
		if err != nil || got != "hello from loopback" {
			t.Fatalf("dial relay %s from a: %q, %v", relay, got, err)
		}
	})

	t.Run("host loopback is not the namespace's", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if got, err := dialFrom(a, l.Addr().String()); err == nil {
			t.Fatalf("a reached the host's loopback listener %s: %q", l.Addr(), got)
		}
	})
}

func TestPartitionAndHeal(t *testing.T) {
	b := Bridge(t, "part", "")
	a := Namespace(t, b, "a")
	c := Namespace(t, b, "c")
	addr := net.JoinHostPort(c.IP.String(), "7001")

	listenIn(t, c, addr, "before")
	if got, err := dialFrom(a, addr); err != nil || got != "before" {
		t.Fatalf("before the partition: %q, %v", got, err)
	}

	c.LinkDown()
	listenIn(t, c, addr, "during")
	if got, err := dialFrom(a, addr); err == nil {
		t.Fatalf("a reached c through a partition: %q", got)
	}
	// The host is cut off too.
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("the host reached c through a partition")
	}

	c.LinkUp()
	var got string
	var err error
	for i := 0; i < 20; i++ {
		if got, err = dialFrom(a, addr); err == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil || got != "during" {
		t.Fatalf("after heal: %q, %v", got, err)
	}
}

// made is what a run created, as the failing or crashing helper reports it.
type made struct {
	Links      []string `json:"links"`
	Namespaces []string `json:"namespaces"`
	PIDs       []int    `json:"pids"`
}

// build makes a bridge, two namespaces and a process in one of them.
func build(t *testing.T) made {
	b := Bridge(t, "cln", "")
	a := Namespace(t, b, "a")
	c := Namespace(t, b, "c")
	cmd := listenIn(t, c, net.JoinHostPort(c.IP.String(), "7002"), "x")
	return made{
		Links:      []string{b.Name, a.HostVeth, c.HostVeth},
		Namespaces: []string{a.NetNS, c.NetNS},
		PIDs:       []int{cmd.Process.Pid},
	}
}

func (m made) left() []string {
	var out []string
	for _, n := range append(slices.Clone(m.Links), m.Namespaces...) {
		if Exists(n) {
			out = append(out, n)
		}
	}
	// A killed child of a crashed process is reparented and reaped by init;
	// one that is merely a zombie is gone for the network's sake.
	for _, p := range m.PIDs {
		if !exited(p) {
			out = append(out, fmt.Sprintf("pid %d", p))
		}
	}
	return out
}

// requireNet skips or fails, as Bridge does, where the harness cannot run,
// for tests whose networks are made in a subtest or a child process.
func requireNet(t *testing.T) {
	if testing.Short() || Available() != nil {
		Bridge(t, "x", "") // skips or fails with the reason
	}
}

func TestCleanupLeavesNothing(t *testing.T) {
	requireNet(t)
	var m made
	t.Run("build", func(t *testing.T) { m = build(t) })
	if len(m.Links) == 0 {
		t.Fatal("build made nothing")
	}
	if left := m.left(); len(left) > 0 {
		t.Fatalf("left after the subtest's cleanup: %v", left)
	}
	links, nss := Leftovers()
	for _, n := range append(links, nss...) {
		if slices.Contains(m.Links, n) || slices.Contains(m.Namespaces, n) {
			t.Errorf("%s still listed", n)
		}
	}
}

// helperRun runs TestHelperBuild in a child test process in the given mode
// and returns what it made.
func helperRun(t *testing.T, mode string) (made, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "made.json")
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^TestHelperBuild$", "-test.v")
	cmd.Env = append(os.Environ(), "ZLAYER_NETNS_HELPER="+mode, "ZLAYER_NETNS_OUT="+out)
	// A file, not a pipe: the crashed helper's orphans would hold a pipe
	// open, and Wait with it.
	logPath := filepath.Join(t.TempDir(), "helper.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	runErr := cmd.Run()
	lf.Close()
	log, _ := os.ReadFile(logPath)
	// The child's own result lines are quoted, so that the suite's count of
	// passes and failures sees the child's deliberate failure as what it
	// is: this test's input, not a failed test.
	t.Logf("helper (%s):\n%s", mode, strings.ReplaceAll(string(log), "--- ", "(child) "))
	var m made
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("helper wrote nothing: %v", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m, runErr
}

// TestHelperBuild is run by the tests below in a child process: it builds a
// network and then fails (its cleanups run) or crashes (they do not).
func TestHelperBuild(t *testing.T) {
	mode := os.Getenv("ZLAYER_NETNS_HELPER")
	if mode == "" {
		t.Skip("helper for TestCleanupAfterFailure and TestSweepAfterCrash")
	}
	m := build(t)
	b, _ := json.Marshal(m)
	if err := os.WriteFile(os.Getenv("ZLAYER_NETNS_OUT"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if mode == "crash" {
		// No cleanup runs: as if the test binary were killed.
		os.Exit(3)
	}
	t.Fatal("failing midway on purpose")
}

func TestCleanupAfterFailure(t *testing.T) {
	requireNet(t)
	m, err := helperRun(t, "fail")
	if err == nil {
		t.Fatal("the failing helper passed")
	}
	if left := m.left(); len(left) > 0 {
		t.Fatalf("left after a failed test's cleanup: %v", left)
	}
}

func TestSweepAfterCrash(t *testing.T) {
	requireNet(t)
	m, err := helperRun(t, "crash")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("crash helper: %v", err)
	}
	if left := m.left(); len(left) != len(m.Links)+len(m.Namespaces)+len(m.PIDs) {
		t.Fatalf("the crashed run should have left everything, left only %v", left)
	}
	// Our own objects, made meanwhile, are not stale and must survive.
	b := Bridge(t, "mine", "")
	ours := Namespace(t, b, "mine")
	if err := Sweep(); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	waitGone(m.PIDs, 10*time.Second)
	if left := m.left(); len(left) > 0 {
		t.Fatalf("left after the sweep: %v", left)
	}
	if !Exists(b.Name) || !Exists(ours.NetNS) || !Exists(ours.HostVeth) {
		t.Fatal("the sweep removed a live run's objects")
	}
}
