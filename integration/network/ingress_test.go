package network_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/noderuntime/network"
)

// ingressPerSource is the per-source cap the hardening node is configured
// with, for tcp connections and udp sessions alike.
const ingressPerSource = 20

// ingressFixture is the hardened node with the edge deployment served on
// every endpoint.
type ingressFixture struct {
	n   *netNode
	ctx context.Context
	pid int // serve's
	// idle is serve's descriptor count before the first flood, measured once
	// (idleSet) by the first test that needs it.
	idle    int
	idleSet bool
}

func (fx *ingressFixture) node() *netNode { return fx.n }

// idleFDs is serve's descriptor count before any flood.
func (fx *ingressFixture) idleFDs(t *testing.T) int {
	if !fx.idleSet {
		fx.idle, fx.idleSet = fdCount(t, fx.pid), true
	}
	return fx.idle
}

// settle waits until what an earlier test held has been let go.
func (fx *ingressFixture) settle(t *testing.T) {
	idle := fx.idleFDs(t)
	fx.n.waitFor("descriptors let go", 30*time.Second, func() bool { return fdCount(t, fx.pid) <= idle+4 })
}

var ingressTests = []scenario.Step[*ingressFixture]{
	{Name: "forwarded headers and paths", Run: testForwardedHeadersAndPaths},
	{Name: "tcp flood", Run: testTCPFlood},
	{Name: "udp flood", Run: testUDPFlood},
}

// TestIntegrationIngressHardening: a real `zlayer serve` with replicas
// behind http, tcp and udp endpoints. The replicas are told the client's
// address, not what the client claims; paths are routed as cleaned; a
// bounded flood of tcp connections and of udp source ports from one
// address is capped (per source), while the sessions already open and new
// ones from another address are served and the node's descriptors stay
// bounded.
func TestIntegrationIngressHardening(t *testing.T) {
	scenario.Each(t, startIngressFixture(t), onNetNode(ingressTests))
}

// startIngressFixture starts the hardened node and deploys edge, built from
// testdata/ingressecho, waiting until every endpoint answers.
func startIngressFixture(t *testing.T) *ingressFixture {
	t.Helper()
	n := startNetNode(t, fmt.Sprintf(`ingress:
  trusted_proxies: [192.0.2.0/24]
  max_conns: 200
  max_conns_per_source: %d
  udp_max_sessions: 200
  udp_max_sessions_per_source: %d
`, ingressPerSource, ingressPerSource))
	ctx := context.Background()

	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "ingressecho"), "./testdata/ingressecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build ingressecho: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nCOPY ingressecho /usr/local/bin/ingressecho\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := n.s.Registry + "/test/ingressecho:1"
	if err := n.s.BuildDockerfile(ctx, dir, ref); err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf(`version: v1
deployment: edge
services:
  api:
    image: %[1]s
    network_mode: bridge
    command: {entrypoint: [/usr/local/bin/ingressecho]}
    endpoints:
      - {name: http, protocol: http, port: 80, target_port: 8080, path: /api, expose: public}
    health: {interval: 1s, timeout: 1s, retries: 1, check: {type: tcp, port: 8080}}
  root:
    image: %[1]s
    network_mode: bridge
    command: {entrypoint: [/usr/local/bin/ingressecho]}
    endpoints:
      - {name: http, protocol: http, port: 80, target_port: 8080, expose: public}
      - {name: echo, protocol: tcp, port: 9000, expose: public}
      - {name: dgram, protocol: udp, port: 5300, expose: public}
    health: {interval: 1s, timeout: 1s, retries: 1, check: {type: tcp, port: 8080}}
`, ref)
	if _, err := n.api.Apply(ctx, "edge.yaml", spec); err != nil {
		t.Fatal(err)
	}
	n.waitFor("edge ready", 2*time.Minute, func() bool {
		st, err := n.api.Get(ctx, "edge")
		return err == nil && st.Ready
	})
	n.waitFor("routes served", time.Minute, func() bool {
		code, _, err := n.get("http://127.0.0.1/api/", "")
		code2, _, err2 := n.get("http://127.0.0.1/", "")
		return err == nil && code == 200 && err2 == nil && code2 == 200
	})
	n.waitFor("tcp endpoint served", time.Minute, func() bool {
		c, err := n.dialIn(ctx, "tcp", "127.0.0.1:9000")
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		b := make([]byte, 2)
		_, err = c.Write([]byte("hi"))
		if err == nil {
			_, err = io.ReadFull(c, b)
		}
		return err == nil && string(b) == "hi"
	})
	return &ingressFixture{n: n, ctx: ctx, pid: n.cmd.Process.Pid}
}

func testForwardedHeadersAndPaths(t *testing.T, fx *ingressFixture) {
	// Replicas answer "HOSTNAME PATH xff=.. xfh=.. xfp=..", their
	// host names start with deployment-service-.
	for target, want := range map[string][2]string{
		"/x":                {"edge-root-", "/x"},
		"/api/y":            {"edge-api-", "/api/y"},
		"/api/../x":         {"edge-root-", "/x"},
		"/api%2f..%2fx":     {"edge-root-", "/x"},
		"/api/%2e%2e/admin": {"edge-root-", "/admin"},
		"//api/z":           {"edge-api-", "/api/z"},
	} {
		body := fx.n.rawHTTP(fx.ctx, t, "GET "+target+" HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 6.6.6.6\r\n"+
			"X-Forwarded-Host: evil.test\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n")
		who, rest, _ := strings.Cut(body, " ")
		if !strings.HasPrefix(who, want[0]) || rest != want[1]+" xff=127.0.0.1 xfh=a.test xfp=http" {
			t.Errorf("%s: replica answered %q, want %s* %s xff=127.0.0.1 xfh=a.test xfp=http", target, body, want[0], want[1])
		}
	}
}

// tcpEcho writes msg on c and checks it comes back.
func tcpEcho(c net.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	b := make([]byte, len(msg))
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != msg {
		return fmt.Errorf("echo %q", b)
	}
	return nil
}

func testTCPFlood(t *testing.T, fx *ingressFixture) {
	n, ctx, pid := fx.n, fx.ctx, fx.pid
	fx.idleFDs(t)
	held, err := n.dialFrom(ctx, "tcp", "127.0.0.1", "127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := tcpEcho(held, "before"); err != nil {
		t.Fatal(err)
	}
	base := fdCount(t, pid)
	const flood = 100
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range flood {
		c, err := n.dialFrom(ctx, "tcp", "127.0.0.1", "127.0.0.1:9000")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	served := 0
	for _, c := range conns {
		if tcpEcho(c, "f") == nil {
			served++
		}
	}
	during := fdCount(t, pid)
	t.Logf("tcp flood: %d of %d connections served; serve's descriptors %d -> %d", served, flood, base, during)
	if served == 0 || served > ingressPerSource-1 {
		t.Fatalf("%d flood connections served, want 1..%d (the per-source cap)", served, ingressPerSource-1)
	}
	// Each forwarded connection holds two descriptors (client, replica).
	if during-base > 2*ingressPerSource+10 {
		t.Fatalf("serve's descriptors grew from %d to %d under a flood of %d", base, during, flood)
	}
	if err := tcpEcho(held, "during"); err != nil {
		t.Fatalf("the connection open before the flood: %v", err)
	}
	other, err := n.dialFrom(ctx, "tcp", "127.0.0.2", "127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := tcpEcho(other, "other source"); err != nil {
		t.Fatalf("a new connection from another address: %v", err)
	}
}

// udpAsk sends msg until an answer comes, up to tries times: the replica may
// still be binding its port.
func udpAsk(c net.Conn, msg string, tries int) bool {
	buf := make([]byte, 512)
	for range tries {
		if _, err := c.Write([]byte(msg)); err != nil {
			return false
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if k, err := c.Read(buf); err == nil {
			return strings.HasSuffix(string(buf[:k]), ": "+msg)
		}
	}
	return false
}

func testUDPFlood(t *testing.T, fx *ingressFixture) {
	n, ctx, pid := fx.n, fx.ctx, fx.pid
	held, err := n.dialFrom(ctx, "udp", "127.0.0.1", "127.0.0.1:5300")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	fx.settle(t)
	if !udpAsk(held, "before", 50) {
		t.Fatal("no answer through the udp endpoint")
	}
	base := fdCount(t, pid)
	const flood = 300
	var socks []net.Conn
	defer func() {
		for _, c := range socks {
			c.Close()
		}
	}()
	for i := range flood {
		c, err := n.dialFrom(ctx, "udp", "127.0.0.1", "127.0.0.1:5300")
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, c)
		_, _ = fmt.Fprint(c, "f", i)
	}
	// Answers have arrived by now, or will not.
	time.Sleep(time.Second)
	served := 0
	buf := make([]byte, 512)
	for _, c := range socks {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if _, err := c.Read(buf); err == nil {
			served++
		}
	}
	during := fdCount(t, pid)
	t.Logf("udp flood: %d of %d source ports served; serve's descriptors %d -> %d", served, flood, base, during)
	if served == 0 || served > ingressPerSource-1 {
		t.Fatalf("%d flood sessions served, want 1..%d (the per-source cap)", served, ingressPerSource-1)
	}
	// One socket per session.
	if during-base > ingressPerSource+10 {
		t.Fatalf("serve's descriptors grew from %d to %d under a flood of %d source ports", base, during, flood)
	}
	if !udpAsk(held, "during", 3) {
		t.Fatal("the session open before the flood stopped working")
	}
	other, err := n.dialFrom(ctx, "udp", "127.0.0.2", "127.0.0.1:5300")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if !udpAsk(other, "other source", 3) {
		t.Fatal("a new session from another address was not served")
	}
	log, _ := os.ReadFile(n.log)
	if !strings.Contains(string(log), "refusing new udp sessions") || !strings.Contains(string(log), "refusing new tcp connections") {
		t.Fatal("the node did not log the refusals")
	}
	m, err := n.api.Raw(ctx, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zlayer_ingress_refused_connections_total", "zlayer_ingress_dropped_udp_sessions_total"} {
		if v := metricValue(m, name); v <= 0 {
			t.Errorf("%s = %v after the floods, want > 0:\n%s", name, v, m)
		}
	}
}

// dialFrom connects from local address src inside the node's namespace.
func (n *netNode) dialFrom(ctx context.Context, proto, src, addr string) (net.Conn, error) {
	var c net.Conn
	err := network.Do(n.ns, func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		if proto == "udp" {
			d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(src)}
		} else {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		c, err = d.DialContext(ctx, proto, addr)
		return err
	})
	return c, err
}

// rawHTTP sends head as written (no client library cleans the path) to the
// ingress's port 80 and returns the response body.
func (n *netNode) rawHTTP(ctx context.Context, t *testing.T, head string) string {
	t.Helper()
	c, err := n.dialIn(ctx, "tcp", "127.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// fdCount is how many descriptors process pid holds.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// metricValue is the value of an unlabelled sample in Prometheus text, or -1.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
