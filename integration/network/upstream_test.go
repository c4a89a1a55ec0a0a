package network_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// upstreamToken is read by the spec's $E: reference from serve's own
// environment.
const upstreamToken = "edge-token-3c9a71f2"

// upstreamSpec is written as upstream ZLayer's spec reads: a check by
// url, cap_add, a signal number, a depends on_timeout. Each replica
// writes what it sees into files its httpd serves, read through the
// published port.
const upstreamSpec = `version: v1
deployment: edge
services:
  proxy:
    image: {name: busybox, pull_policy: if_not_present}
    command:
      entrypoint:
        - /bin/sh
        - -c
        - >-
          mkdir -p /tmp/www && cd /tmp/www &&
          id > id && hostname > hostname && cat /etc/hosts > hosts && cat /etc/resolv.conf > resolv &&
          grep CapBnd /proc/self/status > caps && echo "$TOKEN" > token &&
          (test -c /dev/net/tun && echo yes || echo no) > tun &&
          exec httpd -f -p 8080 -h /tmp/www
    env:
      TOKEN: $E:ZLT_UPSTREAM_TOKEN
    hostname: edge-proxy
    extra_hosts: ["backend.internal:192.0.2.20", "node.internal:host-gateway"]
    dns: [192.0.2.53]
    user: "65534:65534"
    cap_add: [NET_ADMIN]
    devices: [{path: /dev/net/tun}]
    port_mappings:
      - {host_port: 18080, container_port: 8080}
    stop_signal: "15"
    health:
      interval: 1s
      timeout: 1s
      retries: 1
      check: {type: http, url: "http://localhost:8080/id"}
  root:
    image: busybox
    command:
      entrypoint: [/bin/sh, -c, "mkdir -p /www && grep CapEff /proc/self/status > /www/caps && exec httpd -f -p 8081 -h /www"]
    privileged: true
    port_mappings:
      - {host_port: 18081, container_port: 8081}
    init:
      steps:
        - {id: proxy-port, uses: init.wait_tcp, with: {host: proxy, port: 8080}, timeout: 60s}
        - {id: proxy-http, uses: init.wait_http, with: {url: "http://proxy.edge:8080/hostname", expect_status: 200}, retry: 2}
    depends:
      - {service: proxy, condition: healthy, timeout: 5s, on_timeout: continue}
`

// TestIntegrationUpstreamSpec deploys a spec written for upstream ZLayer
// on a node with bridge networking and checks what each key did inside
// the replicas; root's init steps wait for proxy by its name.
func TestIntegrationUpstreamSpec(t *testing.T) {
	t.Setenv("ZLT_UPSTREAM_TOKEN", upstreamToken)
	n := startNetNode(t, "")
	ctx := context.Background()
	if _, err := n.api.Apply(ctx, "edge.yaml", upstreamSpec); err != nil {
		t.Fatal(err)
	}
	n.waitFor("edge ready", 3*time.Minute, func() bool {
		st, err := n.api.Get(ctx, "edge")
		return err == nil && st.Ready
	})
	// The published ports, from the node itself: the bridge's gateway is
	// one of its addresses.
	read := func(port int, file string) string {
		t.Helper()
		code, body, err := n.get(fmt.Sprintf("http://10.210.0.1:%d/%s", port, file), "")
		if err != nil || code != 200 {
			t.Fatalf("GET %s through host port %d: %d %q %v", file, port, code, body, err)
		}
		return body
	}
	if got := read(18080, "id"); !strings.HasPrefix(got, "uid=65534") || !strings.Contains(got, "gid=65534") {
		t.Errorf("user: id says %q", got)
	}
	if got := read(18080, "hostname"); got != "edge-proxy" {
		t.Errorf("hostname %q", got)
	}
	hosts := read(18080, "hosts")
	for _, want := range []string{"192.0.2.20\tbackend.internal", "10.210.0.1\tnode.internal", "\tedge-proxy"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("hosts file lacks %q:\n%s", want, hosts)
		}
	}
	// The service's dns servers replace the node's: the first (and only)
	// nameserver line is the spec's.
	resolv := read(18080, "resolv")
	var servers []string
	for _, line := range strings.Split(resolv, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
			servers = append(servers, f[1])
		}
	}
	if len(servers) != 1 || servers[0] != "192.0.2.53" {
		t.Errorf("resolv.conf names %v, want the service's server only:\n%s", servers, resolv)
	}
	if got := read(18080, "token"); got != upstreamToken {
		t.Errorf("$E: gave %q, want serve's %q", got, upstreamToken)
	}
	if got := read(18080, "tun"); got != "yes" {
		t.Errorf("device /dev/net/tun in the container: %s", got)
	}
	const netAdmin, sysAdmin = 12, 21
	if caps := capMask(t, read(18080, "caps")); caps&(1<<netAdmin) == 0 || caps&(1<<sysAdmin) != 0 {
		t.Errorf("bounding set %x: want NET_ADMIN added and no SYS_ADMIN", caps)
	}
	if caps := capMask(t, read(18081, "caps")); caps&(1<<sysAdmin) == 0 {
		t.Errorf("privileged replica's effective set %x lacks SYS_ADMIN", caps)
	}

	// A variable serve does not have is refused at its position.
	bad := strings.Replace(upstreamSpec, "$E:ZLT_UPSTREAM_TOKEN", "$E:ZLT_UPSTREAM_UNSET", 1)
	_, err := n.api.Apply(ctx, "edge.yaml", bad)
	if err == nil || !strings.Contains(err.Error(), "edge.yaml:17:14: services.proxy.env.TOKEN: environment variable ZLT_UPSTREAM_UNSET is not set on the node") {
		t.Errorf("unset $E: variable: %v", err)
	}
}

// capMask reads "CapBnd:\t000001ffffffffff" as a number.
func capMask(t *testing.T, line string) uint64 {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("capability line %q", line)
	}
	v, err := strconv.ParseUint(f[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
