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
	s1 := fx.nodes["s1"]

	s1.MustCLI("deploy", s1.WriteSpec("back.yaml", backSpec))
	s1.MustCLI("deploy", s1.WriteSpec("front.yaml", probeSpec))
	addrOn := map[string]string{} // node -> its back replica's address
	waitFor(t, "back ready on a1 and a2, the probe running on s1", 2*time.Minute, func() bool {
		rows, _ := listJSON[addrRow](s1, "ps")
		clear(addrOn)
		probe := false
		for _, r := range rows {
			switch {
			case r.Deployment == "back" && r.State == "ready" && r.Address != "":
				addrOn[r.Node] = r.Address
			case r.Deployment == "front" && up(psRow{State: r.State}) && r.Node == "s1":
				probe = true
			}
		}
		return probe && addrOn["a1"] != "" && addrOn["a2"] != ""
	})
	both := []string{addrOn["a1"], addrOn["a2"]}
	sort.Strings(both)

	inProbe := func(args ...string) string {
		out, errOut, _ := s1.CLI(append([]string{"exec", "front/probe", "--"}, args...)...)
		return out + errOut
	}
	lookup := func(name string) ([]string, string) {
		out := inProbe("nslookup", name)
		var ips []string
		for _, m := range lookupAddr.FindAllStringSubmatch(out, -1) {
			if !slices.Contains(ips, m[1]) {
				ips = append(ips, m[1])
			}
		}
		sort.Strings(ips)
		return ips, out
	}
	// The remote replicas reach s1's views within a second of being
	// ready; a poll absorbs the exec's own time.
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("last lookup:\n%s", last)
		}
	}()
	waitFor(t, "s1's DNS answering back's replicas on a1 and a2", 10*time.Second, func() bool {
		var ips []string
		ips, last = lookup("httpd.back.zlayer.internal")
		return slices.Equal(ips, both)
	})
	if ips, out := lookup("httpd.back"); !slices.Equal(ips, both) {
		t.Errorf("httpd.back: %v, want %v\n%s", ips, both, out)
	}
	srv := inProbe("nslookup", "-type=srv", "_http._tcp.httpd.back.zlayer.internal")
	if strings.Count(srv, "0 10 8080 back-httpd-") != 2 {
		t.Errorf("SRV of back's endpoint, want two targets on 8080:\n%s", srv)
	}
	// Fetched by the name only DNS answers; the rotation spreads the
	// fetches over both nodes' replicas.
	who := map[string]bool{}
	for range 8 {
		out := strings.TrimSpace(inProbe("wget", "-q", "-O-", "http://httpd.back.zlayer.internal:8080/cgi-bin/who"))
		if !strings.HasPrefix(out, "back-httpd-") {
			t.Fatalf("fetch by name: %q", out)
		}
		who[out] = true
	}
	if len(who) != 2 {
		t.Errorf("fetches by name reached %v, want both replicas", who)
	}

	a2 := fx.nodes["a2"]
	killed := time.Now()
	a2.Kill9()
	waitFor(t, "a2's replica out of s1's answers", lease+10*time.Second, func() bool {
		var ips []string
		ips, last = lookup("httpd.back.zlayer.internal")
		return !slices.Contains(ips, addrOn["a2"]) && slices.Contains(ips, addrOn["a1"])
	})
	t.Logf("a2's replica left the answers %s after a2 was killed (lease %s): %s", time.Since(killed).Round(100*time.Millisecond), lease, strings.TrimSpace(last))
}
