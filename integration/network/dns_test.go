package network_test

import (
	"bytes"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// depReplicas lists deployment dep's replicas.
func (fx *networkingFixture) depReplicas(t *testing.T, dep string) []apitypes.ReplicaStatus {
	t.Helper()
	all, err := fx.n.api.Replicas(fx.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []apitypes.ReplicaStatus
	for _, r := range all {
		if r.Deployment == dep {
			out = append(out, r)
		}
	}
	return out
}

// probeSpec is a deployment whose replicas come and go while shop's web
// replica looks them up.
const probeSpec = `version: v1
deployment: probe
services:
  echo:
    image: busybox
    network_mode: bridge
    command: {entrypoint: [/bin/sh, -c, "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]}
    endpoints:
      - {name: http, protocol: http, port: 8080}
    scale: {replicas: REPLICAS}
    health: {interval: 1s, timeout: 1s, retries: 1, check: {type: http, port: 8080, path: /}}
`

// nsAddr is an answer line of busybox nslookup (the server's own line has
// a tab and a port).
var nsAddr = regexp.MustCompile(`(?m)^Address: ([0-9.]+)\s*$`)

// inWeb runs cmd in shop's web replica 1.
func (fx *networkingFixture) inWeb(t *testing.T, cmd ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := fx.n.api.Exec(fx.ctx, "shop", "web", 1, cmd, nil, &out, &errb)
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	return out.String() + errb.String(), code
}

// lookup is the sorted addresses nslookup in web 1 gets for name.
func (fx *networkingFixture) lookup(t *testing.T, name string) ([]string, string) {
	t.Helper()
	out, _ := fx.inWeb(t, "nslookup", name)
	var ips []string
	for _, m := range nsAddr.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(ips, m[1]) {
			ips = append(ips, m[1])
		}
	}
	sort.Strings(ips)
	return ips, out
}

// testServiceByDNS: a bridge replica's resolver is the node's DNS server,
// which answers the services by name (with the search domain), SRV with
// the endpoint's port, and follows replicas getting ready and going.
func testServiceByDNS(t *testing.T, fx *networkingFixture) {
	resolv, _ := fx.inWeb(t, "cat", "/etc/resolv.conf")
	if !strings.Contains(resolv, "nameserver 10.210.0.1\n") || !strings.Contains(resolv, "search shop.zlayer.internal zlayer.internal") {
		t.Fatalf("web's resolv.conf does not use the node's DNS server:\n%s", resolv)
	}
	api := fx.replicas(t, "api")[0].Address
	for _, name := range []string{"api", "api.shop", "api.shop.zlayer.internal"} {
		if ips, out := fx.lookup(t, name); !slices.Equal(ips, []string{api}) {
			t.Errorf("nslookup %s: %v, want [%s]\n%s", name, ips, api, out)
		}
	}
	// A name only the DNS server knows (the hosts file has api and
	// api.shop): fetched by it.
	out, code := fx.inWeb(t, "wget", "-qO-", "http://api.shop.zlayer.internal:8080/api/")
	if code != 0 || !strings.HasPrefix(out, "api-shop-api-1") {
		t.Errorf("web -> api.shop.zlayer.internal: exit %d %q", code, out)
	}
	out, _ = fx.inWeb(t, "nslookup", "-type=srv", "_internal._tcp.api.shop.zlayer.internal")
	if !strings.Contains(out, "0 10 8080 shop-api-1-") {
		t.Errorf("SRV of api's internal endpoint:\n%s", out)
	}
	if out, code := fx.inWeb(t, "nslookup", "nothere.shop.zlayer.internal"); code == 0 || !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("a name that does not exist: exit %d\n%s", code, out)
	}

	// Readiness: probe's replicas appear as they get ready and vanish
	// with the deployment.
	want := func(n int) []string {
		var ips []string
		for _, r := range fx.depReplicas(t, "probe") {
			if r.State == reconcile.StateReady {
				ips = append(ips, r.Address)
			}
		}
		sort.Strings(ips)
		if len(ips) != n {
			return nil
		}
		return ips
	}
	for _, n := range []int{1, 2} {
		if _, err := fx.n.api.Apply(fx.ctx, "probe.yaml", strings.Replace(probeSpec, "REPLICAS", strconv.Itoa(n), 1)); err != nil {
			t.Fatal(err)
		}
		var ready []string
		fx.n.waitFor("probe's replicas ready", 2*time.Minute, func() bool { ready = want(n); return ready != nil })
		at := time.Now()
		var got []string
		fx.n.waitFor("probe's ready replicas in DNS", 10*time.Second, func() bool {
			got, _ = fx.lookup(t, "echo.probe.zlayer.internal")
			return slices.Equal(got, ready)
		})
		t.Logf("%d ready replicas answered %s after the API said ready", n, time.Since(at).Round(time.Millisecond))
		if d := time.Since(at); d > 3*time.Second {
			t.Errorf("DNS followed readiness after %s", d)
		}
	}
	if err := fx.n.api.Delete(fx.ctx, "probe"); err != nil {
		t.Fatal(err)
	}
	fx.n.waitFor("probe gone from DNS", time.Minute, func() bool {
		out, _ := fx.inWeb(t, "nslookup", "echo.probe.zlayer.internal")
		return strings.Contains(out, "NXDOMAIN")
	})
	fx.n.waitFor("probe's replicas removed", time.Minute, func() bool { return len(fx.depReplicas(t, "probe")) == 0 })
}

// testDNSAfterRestart: a serve killed and started again (the step before)
// serves its replicas' DNS at the gateway again, their resolv.conf as it
// was.
func testDNSAfterRestart(t *testing.T, fx *networkingFixture) {
	api := fx.replicas(t, "api")[0].Address
	fx.n.waitFor("api in DNS after the restart", 10*time.Second, func() bool {
		ips, _ := fx.lookup(t, "api.shop.zlayer.internal")
		return slices.Equal(ips, []string{api})
	})
}
