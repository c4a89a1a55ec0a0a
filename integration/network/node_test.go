package network_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/network"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// netNode is `zlayer serve` running inside a network namespace the test
// made (nsenter --net only: same mounts, so runc sees the replicas'
// namespace files), with its own containerd child.
type netNode struct {
	t      *testing.T
	s      *stack.Stack
	ns     string // /run/netns/NAME
	dir    string
	socket string
	api    *apiclient.Client
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
	config string
	http   *http.Client
}

// netNodeFixture is a fixture whose tests run on one netNode.
type netNodeFixture interface{ node() *netNode }

// onNetNode has the fixture's node report to each test while it runs, so
// its waits fail the test running rather than the one that started it.
func onNetNode[F netNodeFixture](tests []scenario.Step[F]) []scenario.Step[F] {
	out := make([]scenario.Step[F], len(tests))
	for i, tc := range tests {
		out[i] = scenario.Step[F]{Name: tc.Name, Run: func(t *testing.T, fx F) {
			n := fx.node()
			parent := n.t
			n.t = t
			defer func() { n.t = parent }()
			tc.Run(t, fx)
		}}
	}
	return out
}

// dialIn opens connections from inside the node's namespace.
func (n *netNode) dialIn(ctx context.Context, proto, addr string) (net.Conn, error) {
	var c net.Conn
	err := network.Do(n.ns, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, proto, addr)
		return err
	})
	return c, err
}

// forward makes addr (a host loopback service, e.g. the registry) reachable
// at the same address inside the namespace.
func (n *netNode) forward(addr string) {
	var ln net.Listener
	if err := network.Do(n.ns, func() error {
		// A fresh namespace has lo down.
		if out, err := exec.Command(ip(), "link", "set", "lo", "up").CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
}

func startNetNode(t *testing.T, extraConfig string) *netNode {
	need(t, os.Geteuid() == 0, "needs root for network namespaces")
	s := stack.Start(t, stack.Options{})
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		_, err := os.Stat(filepath.Join(s.ToolsBin, p))
		need(t, err == nil, "CNI plugin "+p+" missing in "+s.ToolsBin+" (run make tools)")
	}
	name := "zlt-" + filepath.Base(s.Dir)
	if out, err := exec.Command(ip(), "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	n := &netNode{t: t, s: s, ns: "/run/netns/" + name, dir: filepath.Join(s.Dir, "n"), socket: filepath.Join(s.Dir, "api.sock"),
		log: filepath.Join(s.Dir, "serve.log")}
	t.Cleanup(func() {
		if out, err := exec.Command(ip(), "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n.forward(s.Registry)
	cfg := fmt.Sprintf("registries:\n  mirrors:\n    docker.io:\n      endpoint: [\"http://%s\"]\nnetwork:\n  plugin_dirs: [%s]\n  netns_dir: %s\n%s",
		s.Registry, s.ToolsBin, filepath.Join(s.Dir, "netns"), extraConfig)
	cfgPath := filepath.Join(s.Dir, "node.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	n.config = cfgPath
	var err error
	n.api, err = apiclient.New(n.socket, "")
	if err != nil {
		t.Fatal(err)
	}
	n.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: n.dialIn,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 16}}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *netNode) start() {
	t := n.t
	nsenter, err := stack.LookPath("nsenter")
	if err != nil {
		t.Fatal(err)
	}
	lf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nsenter, "--net="+n.ns, filepath.Join(n.s.BinDir, "zlayer"), "serve", "--log-level", "debug",
		"--data-dir", n.dir, "--socket", n.socket, "--bind", "",
		"--containerd-socket", filepath.Join(n.s.Dir, "no-containerd.sock"),
		"--namespace", "zlnet", "--config", n.config)
	cmd.Env = append(n.s.Env(), "ZLAYER_RUNTIME="+reconcile.RuntimeRunc)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	n.cmd, n.exited = cmd, exited
	go func() { cmd.Wait(); lf.Close(); close(exited) }()
	n.waitFor("API ready", 60*time.Second, func() bool {
		_, err := n.api.Raw(context.Background(), "/health/ready")
		return err == nil
	})
}

// kill9 ends serve as a crash would (nsenter execs serve, so the pid is
// serve's); its containerd child and the replicas stay.
func (n *netNode) kill9() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

func (n *netNode) stop() {
	t := n.t
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if t.Failed() {
		if b, err := os.ReadFile(n.log); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("---- serve log ----\n%s", strings.Join(lines, "\n"))
		}
	}
	select {
	case <-n.exited:
		return
	default:
	}
	if list, err := n.api.List(ctx); err == nil {
		for _, d := range list {
			_ = n.api.Delete(ctx, d.Name)
		}
		n.waitFor("deployments removed", time.Minute, func() bool {
			rs, err := n.api.Replicas(ctx)
			return err == nil && len(rs) == 0
		})
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		t.Error("serve did not stop on SIGTERM")
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
	pid, _ := os.ReadFile(filepath.Join(n.dir, "containerd", "containerd.pid"))
	var p int
	fmt.Sscan(string(pid), &p)
	deadline := time.Now().Add(15 * time.Second)
	for p > 0 && syscall.Kill(p, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *netNode) waitFor(what string, limit time.Duration, ok func() bool) {
	n.t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if ok() {
			return
		}
		select {
		case <-n.exited:
			n.t.Fatalf("serve exited while waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	n.t.Fatalf("timed out after %s waiting for %s", limit, what)
}

func (n *netNode) get(url, host string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}

func (n *netNode) inNS(args ...string) string {
	var out []byte
	var err error
	_ = network.Do(n.ns, func() error {
		out, err = exec.Command(args[0], args[1:]...).CombinedOutput()
		return nil
	})
	if err != nil {
		n.t.Fatalf("%v: %v: %s", args, err, out)
	}
	return string(out)
}

const shopSpec = `version: v1
deployment: shop
services:
  web:
    image: busybox
    network_mode: bridge
    command:
      entrypoint: [/bin/sh, -c, "mkdir -p /www/api && hostname > /www/index.html && hostname > /www/api/index.html && exec httpd -f -p 8080 -h /www"]
    endpoints:
      - {name: http, protocol: http, port: 80, target_port: 8080, expose: public}
      - {name: https, protocol: https, port: 443, target_port: 8080, host: a.test, expose: public}
    scale: {replicas: 3}
    health: {interval: 1s, timeout: 1s, retries: 1, check: {type: http, port: 8080, path: /}}
    restart_policy: {kind: always, delay: 500ms}
  api:
    image: busybox
    network_mode: bridge
    command:
      entrypoint: [/bin/sh, -c, "mkdir -p /www/api && echo api-$(hostname) > /www/api/index.html && echo api-root > /www/index.html && exec httpd -f -p 8080 -h /www"]
    endpoints:
      - {name: http, protocol: http, port: 80, target_port: 8080, host: api.test, path: /api, expose: public}
      - {name: https, protocol: https, port: 443, target_port: 8080, host: b.test, expose: public}
      - {name: internal, protocol: http, port: 8080, expose: internal}
    health: {interval: 1s, timeout: 1s, retries: 1, check: {type: http, port: 8080, path: /}}
  echo:
    # No network_mode: bridge is the default on a node with networking.
    image: busybox
    command: {entrypoint: [/bin/sh, -c, "exec nc -ll -p 9000 -e cat"]}
    endpoints:
      - {name: echo, protocol: tcp, port: 9000, expose: public}
    health: {interval: 1s, timeout: 1s, retries: 1, check: {type: tcp, port: 9000}}
`

func writeTestCert(t *testing.T, dir, host string) (certFile, keyFile string) {
	t.Helper()
	// A certificate the node config names, made like any operator's.
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", filepath.Join(dir, host+".key"), "-out", filepath.Join(dir, host+".crt"), "-days", "2",
		"-subj", "/CN="+host, "-addext", "subjectAltName=DNS:"+host).CombinedOutput()
	need(t, err == nil, fmt.Sprintf("openssl: %v %s", err, out))
	return filepath.Join(dir, host+".crt"), filepath.Join(dir, host+".key")
}

// networkingFixture is the node every networking test runs on: shop
// deployed and ready on the bridge, with a.test's configured certificate.
type networkingFixture struct {
	n    *netNode
	ctx  context.Context
	crt  string                   // a.test's certificate file
	webs []apitypes.ReplicaStatus // shop's web replicas as first deployed
}

func (fx *networkingFixture) node() *netNode { return fx.n }

// replicas lists shop's replicas of svc.
func (fx *networkingFixture) replicas(t *testing.T, svc string) []apitypes.ReplicaStatus {
	t.Helper()
	var out []apitypes.ReplicaStatus
	for _, r := range fx.depReplicas(t, "shop") {
		if r.Service == svc {
			out = append(out, r)
		}
	}
	return out
}

// networkingTests run in order on one node; the later ones (a replica
// killed, a rolling update, serve killed, down) change it for the ones after.
var networkingTests = []scenario.Step[*networkingFixture]{
	{Name: "round robin over three replicas on port 80", Run: testRoundRobin},
	{Name: "host and path routing", Run: testHostAndPathRouting},
	{Name: "TLS on 443 with SNI", Run: testTLSWithSNI},
	{Name: "tcp endpoint", Run: testTCPEndpoint},
	{Name: "udp endpoint", Run: func(t *testing.T, fx *networkingFixture) { fx.n.udpEndpoint(fx.ctx, t) }},
	{Name: "service to service by name", Run: testServiceToServiceByName},
	{Name: "service to service by DNS", Run: testServiceByDNS},
	{Name: "no failures while a replica is killed", Run: testNoFailuresWhileReplicaKilled},
	{Name: "rolling update drains without failures", Run: testRollingUpdateDrains},
	{Name: "kill -9 serve keeps replicas, addresses and routes", Run: testKill9ServeKeepsRoutes},
	{Name: "DNS answers again after serve restarts", Run: testDNSAfterRestart},
	{Name: "down releases addresses, veths and rules", Run: testDownReleases},
}

func TestIntegrationNodeNetworking(t *testing.T) {
	certDir := t.TempDir()
	crt, key := writeTestCert(t, certDir, "a.test")
	n := startNetNode(t, fmt.Sprintf("ingress:\n  certs:\n    - {hosts: [a.test], cert: %s, key: %s}\n", crt, key))
	fx := &networkingFixture{n: n, ctx: context.Background(), crt: crt}
	if _, err := n.api.Apply(fx.ctx, "shop.yaml", shopSpec); err != nil {
		t.Fatal(err)
	}
	n.waitFor("shop ready", 3*time.Minute, func() bool {
		st, err := n.api.Get(fx.ctx, "shop")
		return err == nil && st.Ready
	})
	fx.webs = fx.replicas(t, "web")
	for _, r := range fx.webs {
		if !strings.HasPrefix(r.Address, "10.210.") {
			t.Fatalf("replica %s address %q, want one from 10.210.0.0/16", r.ID, r.Address)
		}
	}

	if es := fx.replicas(t, "echo"); len(es) != 1 || !strings.HasPrefix(es[0].Address, "10.210.") {
		t.Fatalf("service without network_mode not on the bridge: %+v", es)
	}

	scenario.Each(t, fx, onNetNode(networkingTests))
}

func testRoundRobin(t *testing.T, fx *networkingFixture) {
	// Routes follow readiness within a second of the deployment being ready.
	time.Sleep(time.Second)
	seen := map[string]int{}
	for range 30 {
		code, body, err := fx.n.get("http://127.0.0.1/", "")
		if err != nil || code != 200 {
			t.Fatalf("GET /: %d %q %v", code, body, err)
		}
		seen[body]++
	}
	if len(seen) != 3 {
		t.Fatalf("answers from %d replicas, want 3: %v", len(seen), seen)
	}
	for _, r := range fx.webs {
		if seen[r.ID] != 10 {
			t.Fatalf("replica %s answered %d of 30: %v", r.ID, seen[r.ID], seen)
		}
	}
}

func testHostAndPathRouting(t *testing.T, fx *networkingFixture) {
	cases := []struct{ host, path, prefix string }{
		{"api.test", "/api/", "api-shop-api-1"},
		{"api.test", "/", "shop-web-"},
		{"web.test", "/api/", "shop-web-"},
	}
	for _, c := range cases {
		code, body, err := fx.n.get("http://127.0.0.1"+c.path, c.host)
		if err != nil || code != 200 || !strings.HasPrefix(body, c.prefix) {
			t.Errorf("%s%s: %d %q %v, want %s...", c.host, c.path, code, body, err, c.prefix)
		}
	}
}

func testTLSWithSNI(t *testing.T, fx *networkingFixture) {
	n := fx.n
	for _, c := range []struct{ host, prefix string }{{"a.test", "shop-web-"}, {"b.test", "api-root"}} {
		conn, err := n.dialIn(fx.ctx, "tcp", "127.0.0.1:443")
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: c.host, InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		cert := tc.ConnectionState().PeerCertificates[0]
		fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", c.host)
		resp, err := http.ReadResponse(bufioReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		tc.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(string(body)), c.prefix) {
			t.Errorf("https %s: %d %q", c.host, resp.StatusCode, body)
		}
		if err := cert.VerifyHostname(c.host); err != nil {
			t.Errorf("%s: %v", c.host, err)
		}
		switch c.host {
		case "a.test":
			want, _ := os.ReadFile(fx.crt)
			if !bytes.Contains(want, []byte("BEGIN CERTIFICATE")) || !sameCert(t, fx.crt, cert) {
				t.Error("a.test not served the configured certificate")
			}
		case "b.test":
			if _, err := os.Stat(filepath.Join(n.dir, "ingress", "tls", "b.test.crt")); err != nil {
				t.Errorf("b.test's self-signed certificate not kept in the data dir: %v", err)
			}
		}
	}
}

func testTCPEndpoint(t *testing.T, fx *networkingFixture) {
	var c net.Conn
	var err error
	for range 50 {
		if c, err = fx.n.dialIn(fx.ctx, "tcp", "127.0.0.1:9000"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "ping\n")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("tcp echo: %q %v", buf, err)
	}
}

func testServiceToServiceByName(t *testing.T, fx *networkingFixture) {
	for _, name := range []string{"api", "api.shop"} {
		var out, errb bytes.Buffer
		code, err := fx.n.api.Exec(fx.ctx, "shop", "web", 1, []string{"wget", "-qO-", "http://" + name + ":8080/api/"}, nil, &out, &errb)
		if err != nil || code != 0 || !strings.HasPrefix(out.String(), "api-shop-api-1") {
			t.Errorf("web -> %s: exit %d %v: %q %q", name, code, err, out.String(), errb.String())
		}
	}
}

func testNoFailuresWhileReplicaKilled(t *testing.T, fx *networkingFixture) {
	n := fx.n
	load := startLoad(n, "http://127.0.0.1/", 4)
	time.Sleep(500 * time.Millisecond)
	victim := fx.replicas(t, "web")[1]
	if err := syscall.Kill(int(victim.PID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	ok, bad, first := load.stop()
	t.Logf("%d requests ok, %d failed while %s was killed", ok, bad, victim.ID)
	if bad > 0 {
		t.Fatalf("%d requests failed; first: %v", bad, first)
	}
	// It comes back with the same address.
	n.waitFor("killed replica back", time.Minute, func() bool {
		for _, r := range fx.replicas(t, "web") {
			if r.ID == victim.ID && r.State == reconcile.StateReady && r.Restarts > 0 {
				if r.Address != victim.Address {
					t.Fatalf("address changed across restart: %s -> %s", victim.Address, r.Address)
				}
				return true
			}
		}
		return false
	})
}

func testRollingUpdateDrains(t *testing.T, fx *networkingFixture) {
	n := fx.n
	load := startLoad(n, "http://127.0.0.1/", 4)
	// A changed command rolls the three web replicas one by one.
	rolled := strings.Replace(shopSpec, "hostname > /www/index.html &&", "hostname > /www/index.html && echo v2 > /www/v &&", 1)
	if _, err := n.api.Apply(fx.ctx, "shop.yaml", rolled); err != nil {
		t.Fatal(err)
	}
	old := map[string]bool{}
	for _, r := range fx.webs {
		old[r.ID] = true
	}
	n.waitFor("rolled", 3*time.Minute, func() bool {
		st, err := n.api.Get(fx.ctx, "shop")
		if err != nil || !st.Ready {
			return false
		}
		rs := fx.replicas(t, "web")
		for _, r := range rs {
			if old[r.ID] {
				return false
			}
		}
		return len(rs) == 3
	})
	time.Sleep(time.Second)
	ok, bad, first := load.stop()
	t.Logf("%d requests ok, %d failed during the rolling update", ok, bad)
	if bad > 0 {
		t.Fatalf("%d requests failed; first: %v", bad, first)
	}
	seen := map[string]bool{}
	for range 9 {
		_, body, _ := n.get("http://127.0.0.1/", "")
		seen[body] = true
	}
	for id := range seen {
		if old[id] {
			t.Fatalf("removed replica %s still answers", id)
		}
	}
}

func testKill9ServeKeepsRoutes(t *testing.T, fx *networkingFixture) {
	n := fx.n
	before := map[string]apitypes.ReplicaStatus{}
	for _, svc := range []string{"web", "api", "echo"} {
		for _, r := range fx.replicas(t, svc) {
			before[r.ID] = r
		}
	}
	n.kill9()
	n.start()
	n.waitFor("shop ready after restart", time.Minute, func() bool {
		st, err := n.api.Get(fx.ctx, "shop")
		return err == nil && st.Ready
	})
	for _, svc := range []string{"web", "api", "echo"} {
		for _, r := range fx.replicas(t, svc) {
			b, ok := before[r.ID]
			if !ok || b.PID != r.PID || b.Address != r.Address {
				t.Errorf("replica %s after restart: pid %d addr %s, before %+v", r.ID, r.PID, r.Address, b)
			}
		}
	}
	time.Sleep(time.Second)
	seen := map[string]bool{}
	for range 9 {
		code, body, err := n.get("http://127.0.0.1/", "")
		if err != nil || code != 200 {
			t.Fatalf("after restart: %d %q %v", code, body, err)
		}
		seen[body] = true
	}
	if len(seen) != 3 {
		t.Fatalf("after restart answers from %v", seen)
	}
}

func testDownReleases(t *testing.T, fx *networkingFixture) {
	n := fx.n
	if err := n.api.Delete(fx.ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	n.waitFor("replicas removed", time.Minute, func() bool {
		rs, err := n.api.Replicas(fx.ctx)
		return err == nil && len(rs) == 0
	})
	if v := strings.TrimSpace(n.inNS(ip(), "-o", "link", "show", "type", "veth")); v != "" {
		t.Errorf("veths left: %s", v)
	}
	nat := n.inNS("iptables-save", "-t", "nat")
	if strings.Contains(nat, "10.210.") && strings.Contains(nat, "/32") {
		t.Errorf("per-replica NAT rules left:\n%s", nat)
	}
	leases := listDir(filepath.Join(n.dir, "network", "ipam"))
	if strings.Contains(leases, "10.210.") {
		t.Errorf("leases left: %s", leases)
	}
	if ents, _ := os.ReadDir(filepath.Join(n.s.Dir, "netns")); len(ents) > 0 {
		t.Errorf("netns files left: %d", len(ents))
	}
}

// udpEndpoint deploys two replicas of a UDP echo server (a static Go
// binary on busybox) behind a public udp endpoint and checks that
// datagrams sent to the node's port come back from both replicas, each
// client's datagrams from the same one. The deployment is removed after.
func (n *netNode) udpEndpoint(ctx context.Context, t *testing.T) {
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "udpecho"), "./testdata/udpecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build udpecho: %v: %s", err, out)
	}
	df := "FROM busybox\nCOPY udpecho /usr/local/bin/udpecho\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := n.s.Registry + "/test/udpecho:1"
	if err := n.s.BuildDockerfile(ctx, dir, ref); err != nil {
		t.Fatal(err)
	}
	spec := fmt.Sprintf(`version: v1
deployment: dgram
services:
  echo:
    image: %s
    network_mode: bridge
    command: {entrypoint: [/usr/local/bin/udpecho, ":5300"]}
    endpoints:
      - {name: dgram, protocol: udp, port: 5300, expose: public}
    scale: {replicas: 2}
`, ref)
	if _, err := n.api.Apply(ctx, "dgram.yaml", spec); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.api.Delete(ctx, "dgram"); err != nil {
			t.Fatal(err)
		}
		n.waitFor("dgram replicas removed", time.Minute, func() bool {
			rs, err := n.api.Replicas(ctx)
			if err != nil {
				return false
			}
			for _, r := range rs {
				if r.Deployment == "dgram" {
					return false
				}
			}
			return true
		})
	}()
	n.waitFor("dgram ready", 2*time.Minute, func() bool {
		st, err := n.api.Get(ctx, "dgram")
		return err == nil && st.Ready
	})
	// ask sends from one socket (one session at the ingress) until an
	// answer comes: the replica may still be binding its port.
	ask := func(c net.Conn, msg string) string {
		buf := make([]byte, 512)
		for range 50 {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if k, err := c.Read(buf); err == nil {
				return string(buf[:k])
			}
		}
		t.Fatalf("no answer to %q through the udp endpoint", msg)
		return ""
	}
	// Ready means started, not bound: a replica still binding its port
	// answers the first datagram with ICMP refused and is skipped for the
	// ingress's fail timeout (1 s), so new sessions are opened, spaced past
	// that window, until both replicas have answered one.
	seen := map[string]bool{}
	for i := 0; i < 30 && len(seen) < 2; i++ {
		if i >= 6 {
			time.Sleep(500 * time.Millisecond)
		}
		c, err := n.dialIn(ctx, "udp", "127.0.0.1:5300")
		if err != nil {
			t.Fatal(err)
		}
		first := ask(c, fmt.Sprintf("ping-%d", i))
		who, payload, _ := strings.Cut(first, ": ")
		if !strings.HasPrefix(who, "dgram-echo-") || payload != fmt.Sprintf("ping-%d", i) {
			c.Close()
			t.Fatalf("answer %q", first)
		}
		// A session sticks to its replica.
		if again := ask(c, "again"); again != who+": again" {
			c.Close()
			t.Fatalf("same socket answered by %q after %q", again, who)
		}
		c.Close()
		seen[who] = true
	}
	if len(seen) != 2 {
		t.Fatalf("udp sessions reached %v, want both replicas", seen)
	}
}

func sameCert(t *testing.T, file string, got *x509.Certificate) bool {
	kp, err := tls.LoadX509KeyPair(file, strings.TrimSuffix(file, ".crt")+".key")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(kp.Certificate[0], got.Raw)
}

// load keeps clients requesting a URL until stop, counting answers that are
// not a 200.
type load struct {
	ok, bad  atomic.Int64
	firstErr atomic.Value
	done     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(n *netNode, url string, clients int) *load {
	l := &load{done: make(chan struct{})}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.done:
					return
				default:
				}
				code, body, err := n.get(url, "")
				if err != nil || code != 200 {
					l.bad.Add(1)
					l.firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", code, body, err))
				} else {
					l.ok.Add(1)
				}
			}
		}()
	}
	return l
}

// stop ends the clients and reports the counts and the first failure.
func (l *load) stop() (ok, bad int64, first any) {
	close(l.done)
	l.wg.Wait()
	return l.ok.Load(), l.bad.Load(), l.firstErr.Load()
}
