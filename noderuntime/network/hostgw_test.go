package network

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// inNetns runs fn inside a new network namespace with a link d0 at
// 192.0.2.1/24 (the "node uplink" peers are reached on); the namespace is
// removed afterwards, with whatever fn left in it.
func inNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes a network namespace")
	}
	for _, bin := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s", bin)
		}
	}
	path := filepath.Join(t.TempDir(), "ns")
	if err := newNetns(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeNetns(path) })
	err := Do(path, func() error {
		for _, args := range [][]string{
			{"link", "set", "lo", "up"},
			// A veth pair, not a dummy link: the dummy module may be absent.
			{"link", "add", "d0", "type", "veth", "peer", "name", "d1"},
			{"addr", "add", "192.0.2.1/24", "dev", "d0"},
			{"link", "set", "d0", "up"},
			{"link", "set", "d1", "up"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
				return nil
			}
		}
		fn()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

func routesNow(t *testing.T) map[netip.Prefix]netip.Addr {
	t.Helper()
	have, err := ownRoutes()
	if err != nil {
		t.Fatal(err)
	}
	return have
}

func iptablesSave(t *testing.T) string {
	t.Helper()
	var all []string
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.Command("iptables", "-w", "-t", table, "-S").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables -S: %v: %s", err, out)
		}
		all = append(all, string(out))
	}
	return strings.Join(all, "")
}

func TestHostGWRoutesFollowPeers(t *testing.T) {
	inNetns(t, func() {
		// Someone else's route into the cluster CIDR: never touched.
		if out, err := exec.Command("ip", "route", "add", "10.244.9.0/24", "via", "192.0.2.9").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		h := &HostGW{CIDR: mustPrefix("10.244.0.0/16"), Subnet: mustPrefix("10.244.0.0/24")}
		peers := []Peer{
			{Node: "b", Subnet: mustPrefix("10.244.1.0/24"), Via: mustAddr("192.0.2.2")},
			{Node: "c", Subnet: mustPrefix("10.244.2.0/24"), Via: mustAddr("192.0.2.3")},
			{Node: "self", Subnet: mustPrefix("10.244.0.0/24"), Via: mustAddr("192.0.2.1")},
			{Node: "outside", Subnet: mustPrefix("10.99.0.0/24"), Via: mustAddr("192.0.2.4")},
		}
		for range 2 { // the second sync changes nothing and does not fail
			if err := h.Sync(peers); err != nil {
				t.Fatal(err)
			}
			have := routesNow(t)
			if len(have) != 2 || have[mustPrefix("10.244.1.0/24")] != mustAddr("192.0.2.2") || have[mustPrefix("10.244.2.0/24")] != mustAddr("192.0.2.3") {
				t.Fatalf("routes %v, want b's and c's only", have)
			}
		}
		rules := iptablesSave(t)
		for _, want := range []string{
			`-A FORWARD -s 10.244.0.0/16 -m comment --comment "zlayer cluster network" -j ACCEPT`,
			`-A FORWARD -d 10.244.0.0/16 -m comment --comment "zlayer cluster network" -j ACCEPT`,
			`-A POSTROUTING -s 10.244.0.0/24 -d 10.244.0.0/16 -m comment --comment "zlayer cluster network" -j RETURN`,
		} {
			if strings.Count(rules, want) != 1 {
				t.Fatalf("want the rule %q once in:\n%s", want, rules)
			}
		}
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
			t.Fatalf("ip_forward %q", b)
		}

		// c left, b moved, d's next hop is on no link of this node.
		err := h.Sync([]Peer{
			{Node: "b", Subnet: mustPrefix("10.244.1.0/24"), Via: mustAddr("192.0.2.5")},
			{Node: "d", Subnet: mustPrefix("10.244.3.0/24"), Via: mustAddr("198.51.100.7")},
		})
		if err == nil || !strings.Contains(err.Error(), "10.244.3.0/24") {
			t.Fatalf("err %v, want one naming d's subnet", err)
		}
		if have := routesNow(t); len(have) != 1 || have[mustPrefix("10.244.1.0/24")] != mustAddr("192.0.2.5") {
			t.Fatalf("routes %v, want b's via its new address only", have)
		}

		// A new HostGW (a restarted node with another subnet) replaces the
		// rules the last one left instead of adding to them.
		h2 := &HostGW{CIDR: mustPrefix("10.244.0.0/16"), Subnet: mustPrefix("10.244.7.0/24")}
		if err := h2.Sync(nil); err != nil {
			t.Fatal(err)
		}
		rules = iptablesSave(t)
		if strings.Count(rules, "zlayer cluster network") != 3 || !strings.Contains(rules, "-s 10.244.7.0/24") {
			t.Fatalf("rules after a restart:\n%s", rules)
		}
		if have := routesNow(t); len(have) != 0 {
			t.Fatalf("routes %v after a sync with no peers", have)
		}

		if err := h.Sync(peers); err != nil {
			t.Fatal(err)
		}
		if err := h.Remove(); err != nil {
			t.Fatal(err)
		}
		if have := routesNow(t); len(have) != 0 {
			t.Fatalf("routes %v left after Remove", have)
		}
		if rules := iptablesSave(t); strings.Contains(rules, "zlayer cluster network") {
			t.Fatalf("rules left after Remove:\n%s", rules)
		}
		out, err := exec.Command("ip", "-4", "route", "show", "10.244.9.0/24").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "via 192.0.2.9") {
			t.Fatalf("the route HostGW did not make is gone: %v %s", err, out)
		}
	})
}

func TestClusterSubnetMustAgreeWithConfig(t *testing.T) {
	cn := &ClusterNet{CIDR: mustPrefix("10.244.0.0/16"), Subnet: mustPrefix("10.244.3.0/24")}
	for _, c := range []struct {
		subnet, err string
	}{
		{"", ""},
		{"10.244.3.0/24", ""},
		{"10.210.0.0/16", "not this node's cluster subnet 10.244.3.0/24"},
		{"nope", "not this node's cluster subnet"},
	} {
		cfg := Config{Subnet: c.subnet}
		err := cn.check(&cfg)
		if c.err == "" {
			if err != nil || cfg.Subnet != "10.244.3.0/24" {
				t.Fatalf("subnet %q: err %v, bridge subnet %q", c.subnet, err, cfg.Subnet)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Fatalf("subnet %q: err %v, want %q", c.subnet, err, c.err)
		}
	}
	out := &ClusterNet{CIDR: mustPrefix("10.244.0.0/16"), Subnet: mustPrefix("10.1.0.0/24")}
	if err := out.check(&Config{}); err == nil || !strings.Contains(err.Error(), "not inside the cluster CIDR") {
		t.Fatalf("a subnet outside the CIDR: %v", err)
	}
}
