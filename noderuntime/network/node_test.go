package network

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestLoadNodeConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "node.yaml")
	os.WriteFile(p, []byte(`registries:
  mirrors: {}
network:
  default_mode: host
  subnet: 10.99.0.0/16
ingress:
  listen: 127.0.0.1
  certs:
    - {hosts: [a.example.com], cert: /a.crt, key: /a.key}
`), 0o644)
	c, err := LoadNodeConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.DefaultMode != ModeHost || c.Network.Subnet != "10.99.0.0/16" || c.Ingress.Listen != "127.0.0.1" ||
		len(c.Ingress.Certs) != 1 || c.Ingress.Certs[0].Hosts[0] != "a.example.com" || c.Ingress.Certs[0].KeyFile != "/a.key" {
		t.Fatalf("parsed %+v", c)
	}
	os.WriteFile(p, []byte("network:\n  subnett: 10.0.0.0/8\ningress:\n  certs:\n    - {host: x, cert: a, key: b}\n"), 0o644)
	_, err = LoadNodeConfig(p)
	if err == nil || !strings.Contains(err.Error(), p+":2:3: network: unknown key \"subnett\"") || !strings.Contains(err.Error(), ":5:8: certs: unknown key \"host\"") {
		t.Fatalf("err = %v", err)
	}
	os.WriteFile(p, []byte("network:\n  default_mode: overlay\n"), 0o644)
	if _, err := LoadNodeConfig(p); err == nil || !strings.Contains(err.Error(), "default_mode") {
		t.Fatalf("err = %v", err)
	}
	os.WriteFile(p, nil, 0o644)
	if _, err := LoadNodeConfig(p); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestLoadNodeConfigIngressHardening(t *testing.T) {
	p := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(p, []byte(`ingress:
  trusted_proxies: [10.0.0.0/8, 127.0.0.1, "::1"]
  fast_path: false
  max_conns: 50
  max_conns_per_source: 5
  header_timeout: 2s
  idle_timeout: 1m
  write_timeout: 15s
  tcp_idle_timeout: 5m
  udp_idle_timeout: 20s
  udp_max_sessions: 40
  udp_max_sessions_per_source: 4
`), 0o644)
	c, err := LoadNodeConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	o := c.IngressOptions()
	if got := fmt.Sprint(o.TrustedProxies); got != "[10.0.0.0/8 127.0.0.1/32 ::1/128]" || !o.NoFastPath {
		t.Fatalf("trusted %s, no fast path %v", got, o.NoFastPath)
	}
	want := ingress.Limits{MaxConns: 50, MaxConnsPerSource: 5, HeaderTimeout: 2 * time.Second, IdleTimeout: time.Minute,
		WriteTimeout: 15 * time.Second, TCPIdle: 5 * time.Minute, UDPIdle: 20 * time.Second, MaxUDPSessions: 40, MaxUDPSessionsPerSource: 4}
	if o.Limits != want {
		t.Fatalf("limits %+v, want %+v", o.Limits, want)
	}
	// Absent: defaults (the fast path on, no trusted proxy).
	os.WriteFile(p, []byte("ingress:\n  listen: 127.0.0.1\n"), 0o644)
	if c, err := LoadNodeConfig(p); err != nil || c.IngressOptions().NoFastPath || len(c.IngressOptions().TrustedProxies) != 0 || c.IngressOptions().Limits != (ingress.Limits{}) {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	os.WriteFile(p, []byte("ingress:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - proxy.example\n  max_conns: -1\n  write_timeout: 1ns\n"), 0o644)
	_, err = LoadNodeConfig(p)
	for _, w := range []string{p + `:4:7: ingress.trusted_proxies: "proxy.example" is not an address or CIDR`,
		p + ":5:14: ingress.max_conns: -1 is negative", p + ":6:18: ingress.write_timeout: 1ns is below 10ms"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
}

func TestNewBridgeChecksConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{DataDir: t.TempDir(), Subnet: "10.1.0.0"}, "must be an IPv4 CIDR"},
		{Config{DataDir: t.TempDir(), Subnet: "10.1.0.0/30"}, "too small"},
		{Config{DataDir: t.TempDir(), Bridge: "a-very-long-bridge-name"}, "not a valid interface name"},
		{Config{DataDir: t.TempDir(), PluginDirs: []string{t.TempDir()}}, "CNI plugins bridge, host-local, loopback, portmap not found"},
		{Config{}, "data dir"},
	} {
		if _, err := NewBridge(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.cfg, err, c.want)
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestSyncFeedsIngressReadyReplicas: public endpoints get routes with the
// ready replicas only; internal endpoints get none.
func TestSyncFeedsIngressReadyReplicas(t *testing.T) {
	target := freePort(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "web") })}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", target))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	public, internal := freePort(t), freePort(t)
	d, err := spec.Parse("s.yaml", []byte(fmt.Sprintf(`version: v1
deployment: shop
services:
  web:
    image: busybox
    network_mode: bridge
    endpoints:
      - {name: http, port: %d, target_port: %d, expose: public}
      - {name: admin, port: %d, target_port: %d}
`, public, target, internal, target)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := ingress.New(ingress.Options{ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(t.Context())
	n := &Node{Ingress: g}
	reps := []ingress.Replica{
		{ID: "web-1", Deployment: "shop", Service: "web", Index: 1, Addr: "127.0.0.1", Ready: false},
	}
	if err := n.Sync([]View{{Spec: d, Replicas: reps}}); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", public)
	status := func() int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(); s != 503 {
		t.Fatalf("not-ready replica: %d, want 503", s)
	}
	reps[0].Ready = true
	if err := n.Sync([]View{{Spec: d, Replicas: reps}}); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != 200 {
		t.Fatalf("ready replica: %d, want 200", s)
	}
	if g.Addr(internal) != nil {
		t.Fatal("internal endpoint published by the ingress")
	}
}
