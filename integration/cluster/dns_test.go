package cluster

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// backSpec is a busybox httpd with two replicas on the tier=back nodes
// whose CGI answers with the replica's hostname.
const backSpec = `version: v1
deployment: back
services:
  httpd:
    image: busybox
    network_mode: bridge
    node_selector: {tier: back}
    scale: {replicas: 2}
    command:
      entrypoint: [/bin/sh, -c]
      args:
        - |
          mkdir -p /tmp/www/cgi-bin
          printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\nhostname\n' > /tmp/www/cgi-bin/who
          chmod +x /tmp/www/cgi-bin/who
          exec httpd -f -p 8080 -h /tmp/www
    endpoints:
      - {name: http, protocol: http, port: 8080}
    health:
      interval: 500ms
      check: {type: tcp, port: 8080}
`

// probeSpec is an idle bridge replica on the tier=front node to run
// lookups in.
const probeSpec = `version: v1
deployment: front
services:
  probe:
    image: busybox
    network_mode: bridge
    node_selector: {tier: front}
    command: {entrypoint: [/bin/sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']}
`

var lookupAddr = regexp.MustCompile(`(?m)^Address: ([0-9.]+)\s*$`)

// TestClusterDNS is issue #15's DNS part across nodes: a replica on s1
// resolves a service whose replicas run on a1 and a2 by name (short and
// full, A and SRV) and fetches from it by that name; when a2 is killed its
// replica's address leaves the answers within the lease and a little.
func TestClusterDNS(t *testing.T) {
	fx := bridgeCluster(t, "dn", member{"s1", "tier=front"}, member{"a1", "tier=back"}, member{"a2", "tier=back"})
	d := deployDNS(t, fx.nodes["s1"])
	d.check(t)
	killed := time.Now()
	fx.nodes["a2"].Kill9()
	d.waitGone(t, "a2", killed)
}

// dnsCheck is the DNS checks' deployment: back's replicas on the two
// tier=back nodes (a1 and a2), the probe on s1 (tier=front) asking.
type dnsCheck struct {
	s1     *Node
	addrOn map[string]string // node -> its back replica's address
	both   []string          // back's two addresses, sorted
	last   string            // the last lookup's output
}

// deployDNS deploys back and the probe through s1 and waits until back is
// ready on a1 and a2 and the probe runs on s1.
func deployDNS(t *testing.T, s1 *Node) *dnsCheck {
	t.Helper()
	s1.MustCLI("deploy", s1.WriteSpec("back.yaml", backSpec))
	s1.MustCLI("deploy", s1.WriteSpec("front.yaml", probeSpec))
	d := &dnsCheck{s1: s1, addrOn: map[string]string{}}
	waitFor(t, "back ready on a1 and a2, the probe running on s1", 2*time.Minute, func() bool {
		rows, _ := listJSON[addrRow](s1, "ps")
		clear(d.addrOn)
		probe := false
		for _, r := range rows {
			switch {
			case r.Deployment == "back" && r.State == "ready" && r.Address != "":
				d.addrOn[r.Node] = r.Address
			case r.Deployment == "front" && up(psRow{State: r.State}) && r.Node == "s1":
				probe = true
			}
		}
		return probe && d.addrOn["a1"] != "" && d.addrOn["a2"] != ""
	})
	d.both = []string{d.addrOn["a1"], d.addrOn["a2"]}
	sort.Strings(d.both)
	t.Cleanup(func() {
		if t.Failed() && d.last != "" {
			t.Logf("last lookup:\n%s", d.last)
		}
	})
	return d
}

func (d *dnsCheck) inProbe(args ...string) string {
	out, errOut, _ := d.s1.CLI(append([]string{"exec", "front/probe", "--"}, args...)...)
	return out + errOut
}

// lookup is the probe's nslookup of name: the addresses answered, sorted,
// and the whole output.
func (d *dnsCheck) lookup(name string) ([]string, string) {
	out := d.inProbe("nslookup", name)
	var ips []string
	for _, m := range lookupAddr.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(ips, m[1]) {
			ips = append(ips, m[1])
		}
	}
	sort.Strings(ips)
	d.last = out
	return ips, out
}

// check asks s1's DNS from the probe: the full and the short name answer
// both replicas, SRV both targets on the endpoint's port, and fetches by
// the name reach both replicas.
func (d *dnsCheck) check(t *testing.T) {
	t.Helper()
	// The remote replicas reach s1's views within a second of being
	// ready; a poll absorbs the exec's own time.
	waitFor(t, "s1's DNS answering back's replicas on a1 and a2", 10*time.Second, func() bool {
		ips, _ := d.lookup("httpd.back.zlayer.internal")
		return slices.Equal(ips, d.both)
	})
	if ips, out := d.lookup("httpd.back"); !slices.Equal(ips, d.both) {
		t.Errorf("httpd.back: %v, want %v\n%s", ips, d.both, out)
	}
	srv := d.inProbe("nslookup", "-type=srv", "_http._tcp.httpd.back.zlayer.internal")
	if strings.Count(srv, "0 10 8080 back-httpd-") != 2 {
		t.Errorf("SRV of back's endpoint, want two targets on 8080:\n%s", srv)
	}
	// Fetched by the name only DNS answers; the rotation spreads the
	// fetches over both nodes' replicas.
	who := map[string]bool{}
	for range 8 {
		out := strings.TrimSpace(d.inProbe("wget", "-q", "-O-", "http://httpd.back.zlayer.internal:8080/cgi-bin/who"))
		if !strings.HasPrefix(out, "back-httpd-") {
			t.Fatalf("fetch by name: %q", out)
		}
		who[out] = true
	}
	if len(who) != 2 {
		t.Errorf("fetches by name reached %v, want both replicas", who)
	}
}

// waitGone waits until the replica on node, killed at killed, is out of
// s1's answers and the other one still in.
func (d *dnsCheck) waitGone(t *testing.T, node string, killed time.Time) {
	t.Helper()
	other := d.both[0]
	if other == d.addrOn[node] {
		other = d.both[1]
	}
	waitFor(t, node+"'s replica out of s1's answers", lease+10*time.Second, func() bool {
		ips, _ := d.lookup("httpd.back.zlayer.internal")
		return !slices.Contains(ips, d.addrOn[node]) && slices.Contains(ips, other)
	})
	t.Logf("%s's replica left the answers %s after %s was killed (lease %s): %s", node, time.Since(killed).Round(100*time.Millisecond), node, lease, strings.TrimSpace(d.last))
}
