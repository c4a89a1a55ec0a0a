package nodeconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/internal/yamldoc"
	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/network"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAllSectionsFromOneFile: registries, network and ingress come from one
// read of one file.
func TestAllSectionsFromOneFile(t *testing.T) {
	p := write(t, `registries:
  mirrors:
    docker.io: {endpoint: ["http://10.0.0.5:5000"]}
  configs:
    reg.lan:5000: {plain_http: true}
network:
  default_mode: host
  subnet: 10.99.0.0/16
  dns: {domain: cluster.example, upstreams: ["10.0.0.2", "10.0.0.3:5353"]}
ingress:
  listen: 127.0.0.1
  certs:
    - {hosts: [a.example.com], cert: /a.crt, key: /a.key}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Network.DefaultMode != network.ModeHost || c.Network.Subnet != "10.99.0.0/16" || c.Ingress.Listen != "127.0.0.1" ||
		c.Network.DNS.Domain != "cluster.example" || len(c.Network.DNS.Upstreams) != 2 ||
		len(c.Ingress.Certs) != 1 || c.Ingress.Certs[0].Hosts[0] != "a.example.com" || c.Ingress.Certs[0].KeyFile != "/a.key" {
		t.Fatalf("parsed %+v", c)
	}
	h, _ := c.Registries.Hosts("docker.io")
	if len(h) != 2 || h[0].Host != "10.0.0.5:5000" || h[0].Scheme != "http" {
		t.Fatalf("docker.io hosts %+v", h)
	}
	if h, _ := c.Registries.Hosts("reg.lan:5000"); h[0].Scheme != "http" {
		t.Fatalf("plain http %+v", h)
	}
}

// TestK3sShapeAtTopLevel: registries.yaml as k3s writes it (no registries:
// wrapper) is a node config.
func TestK3sShapeAtTopLevel(t *testing.T) {
	c, err := Load(write(t, "mirrors:\n  docker.io:\n    endpoint: [\"http://10.0.0.5:5000\"]\nconfigs:\n  reg.lan:5000:\n    plain_http: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Registries.Mirrors["docker.io"].Endpoint[0] != "http://10.0.0.5:5000" || !c.Registries.Configs["reg.lan:5000"].PlainHTTP {
		t.Fatalf("%+v", c.Registries)
	}
}

func TestExampleNodeConfig(t *testing.T) {
	c, err := Load("../../examples/deploy/node-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.Registries.Hosts("docker.io")
	if h[0].Host != "registry.lan:5000" || h[0].Scheme != "http" {
		t.Fatalf("%+v", h[0])
	}
}

func TestEmptyIsDefaults(t *testing.T) {
	for _, body := range []string{"", "# only a comment\n", "~\n"} {
		c, err := Load(write(t, body))
		if err != nil || c.Network.DefaultMode != "" || c.Ingress.Disabled || c.Registries.Mirrors == nil {
			t.Errorf("%q: %+v %v", body, c, err)
		}
	}
	if c, err := Load(""); err != nil || c == nil {
		t.Fatalf("no file: %v", err)
	}
}

// TestUnknownKeys: every unknown key, at any depth and in any section, is
// reported at once at its position.
func TestUnknownKeys(t *testing.T) {
	p := write(t, "network:\n  subnett: 10.0.0.0/8\ningress:\n  certs:\n    - {host: x, cert: a, key: b}\nmirorrs: {}\nconfigs:\n  reg.lan:\n    tls: {insecure: true}\n")
	_, err := Load(p)
	for _, w := range []string{p + `:2:3: network: unknown key "subnett"`, p + `:5:8: certs: unknown key "host"`,
		p + `:6:1: unknown key "mirorrs" (allowed: registries, mirrors, configs, network, ingress)`,
		p + `:9:11: tls: unknown key "insecure" (allowed: insecure_skip_verify)`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v\nwant %q", err, w)
		}
	}
}

func TestBadValuesArePositioned(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"network:\n  default_mode: overlay\n", `:2:17: network.default_mode: "overlay" is not bridge or host`},
		{"ingress:\n  listen: localhost\n", `:2:11: ingress.listen: "localhost" is not an IP address`},
		{"network:\n  cluster:\n    mode: vxlan\n", `:3:11: network.cluster.mode: "vxlan" is not host-gw or wireguard`},
		{"network:\n  cluster: {wireguard_port: 70000}\n", `:2:29: network.cluster.wireguard_port: 70000 is not a UDP port (0 or absent: 51871)`},
		{"network:\n  mtu: big\n", ":2:8: cannot unmarshal !!str `big` into int"},
		{"registries:\n  mirrors:\n    docker.io:\n      endpoint: [ftp://x]\n", `:4:18: mirrors.docker.io: endpoint "ftp://x" must be an http:// or https:// URL`},
		{"network: [a]\n", ":1:10: network must be a mapping"},
		{"- a\n", ":1:1: the node config must be a mapping"},
		{"network: {}\n---\ningress: {}\n", ":3:1: more than one document"},
		{"network:\n  dns:\n    upstreams: [10.0.0.2, dns.google]\n", `:3:27: network.dns.upstreams: "dns.google" is not an IP address or IP:port`},
		{"network:\n  dns:\n    domain: bad_name\n", `:3:13: network.dns.domain: "bad_name" is not a DNS name`},
		{"network:\n  dns:\n    listen: 1.2.3.4\n", `:3:5: dns: unknown key "listen" (allowed: disabled, domain, upstreams)`},
	} {
		p := write(t, c.body)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%q: err = %v\nwant %q", c.body, err, p+c.want)
		}
	}
}

func TestIngressHardening(t *testing.T) {
	p := write(t, `ingress:
  trusted_proxies: [10.0.0.0/8, 127.0.0.1, "::1"]
  fast_path: false
  prefer_local: false
  max_conns: 50
  max_conns_per_source: 5
  header_timeout: 2s
  idle_timeout: 1m
  write_timeout: 15s
  tcp_idle_timeout: 5m
  udp_idle_timeout: 20s
  udp_max_sessions: 40
  udp_max_sessions_per_source: 4
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Ingress.Options()
	if got := fmt.Sprint(o.TrustedProxies); got != "[10.0.0.0/8 127.0.0.1/32 ::1/128]" || !o.NoFastPath || o.PreferLocal {
		t.Fatalf("trusted %s, no fast path %v, prefer local %v", got, o.NoFastPath, o.PreferLocal)
	}
	want := ingress.Limits{MaxConns: 50, MaxConnsPerSource: 5, HeaderTimeout: 2 * time.Second, IdleTimeout: time.Minute,
		WriteTimeout: 15 * time.Second, TCPIdle: 5 * time.Minute, UDPIdle: 20 * time.Second, MaxUDPSessions: 40, MaxUDPSessionsPerSource: 4}
	if o.Limits != want {
		t.Fatalf("limits %+v, want %+v", o.Limits, want)
	}
	// Absent: defaults (the fast path on, local replicas preferred, no
	// trusted proxy).
	if c, err := Load(write(t, "ingress:\n  listen: 127.0.0.1\n")); err != nil || c.Ingress.Options().NoFastPath || !c.Ingress.Options().PreferLocal ||
		len(c.Ingress.Options().TrustedProxies) != 0 || c.Ingress.Options().Limits != (ingress.Limits{}) {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	p = write(t, "ingress:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - proxy.example\n  max_conns: -1\n  write_timeout: 1ns\n")
	_, err = Load(p)
	for _, w := range []string{p + `:4:7: ingress.trusted_proxies: "proxy.example" is not an address or CIDR`,
		p + ":5:14: ingress.max_conns: -1 is negative", p + ":6:18: ingress.write_timeout: 1ns is below 10ms"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
}

// TestMergeKeys: a shared block merged into two sections; keys written in
// the section win over merged ones.
func TestMergeKeys(t *testing.T) {
	_, err := Load(write(t, `x-limits: &limits
  max_conns: 10
  header_timeout: 3s
ingress:
  <<: *limits
  max_conns: 20
`))
	// x-limits is not a node config key: an anchor holder must be refused
	// like any other unknown key, so merges use anchors inside known keys.
	if err == nil || !strings.Contains(err.Error(), `unknown key "x-limits"`) {
		t.Fatalf("err = %v", err)
	}
	c, err := Load(write(t, `registries:
  configs:
    a.lan: &plain {plain_http: true, tls: {insecure_skip_verify: true}}
    b.lan:
      <<: *plain
      plain_http: false
ingress:
  certs:
    - &cert {hosts: [a.example], cert: /a.crt, key: /a.key}
    - {<<: *cert, hosts: [b.example]}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Registries.Configs["a.lan"], c.Registries.Configs["b.lan"]
	if !a.PlainHTTP || b.PlainHTTP || !b.TLS.InsecureSkipVerify {
		t.Fatalf("a %+v b %+v", a, b)
	}
	if certs := c.Ingress.Certs; len(certs) != 2 || certs[1].Hosts[0] != "b.example" || certs[1].KeyFile != "/a.key" {
		t.Fatalf("certs %+v", certs)
	}
}

// TestAliasBombRefused: a small file that expands exponentially is refused
// after bounded work, as every ZLayer YAML reader does.
func TestAliasBombRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("registries:\n  mirrors:\n    a0: &a0 {endpoint: [\"http://x.lan\"]}\n")
	b.WriteString("ingress:\n  certs:\n    - &l0 {hosts: [a], cert: c, key: k}\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "    - &l%d [*l%d, *l%d, *l%d, *l%d]\n", i, i-1, i-1, i-1, i-1)
	}
	_, err := Load(write(t, b.String()))
	if !errors.Is(err, yamldoc.ErrBudget) {
		t.Fatalf("err = %v, want the alias budget", err)
	}
}

func TestClusterNetworkMode(t *testing.T) {
	c, err := Load(write(t, "network:\n  cluster:\n    mode: wireguard\n    wireguard_port: 51900\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cl := c.Network.Cluster; cl.ModeOrDefault() != "wireguard" || cl.PortOrDefault() != 51900 {
		t.Errorf("cluster section %+v", cl)
	}
	c, err = Load(write(t, "network: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cl := c.Network.Cluster; cl.ModeOrDefault() != "host-gw" || cl.PortOrDefault() != 51871 {
		t.Errorf("default cluster section %+v: want host-gw on 51871", cl)
	}
}
