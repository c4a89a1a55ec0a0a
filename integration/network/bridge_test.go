package network_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zlayer/zlayer/noderuntime/network"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

func newBridge(t *testing.T) (*network.Bridge, string, string) {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "zln")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	netnsDir := filepath.Join(dir, "netns")
	b, err := network.NewBridge(network.Config{DataDir: dir, NetnsDir: netnsDir, PluginDirs: []string{pluginDir(t)}})
	if err != nil {
		t.Fatal(err)
	}
	return b, filepath.Join(dir, "network", "ipam"), netnsDir
}

// create does what containerd does with the bridge's spec options when a
// replica's container is created.
func create(t *testing.T, b *network.Bridge, id string) *oci.Spec {
	t.Helper()
	sp := &oci.Spec{Linux: &specs.Linux{}}
	for _, o := range b.SpecOpts("dep", "web", &spec.Service{}) {
		if err := o(context.Background(), nil, &containers.Container{ID: id}, sp); err != nil {
			t.Fatal(err)
		}
	}
	return sp
}

func TestIntegrationBridgeAttachDetach(t *testing.T) {
	if !inNetns(t) {
		return
	}
	b, ipamDir, netnsDir := newBridge(t)
	ctx := context.Background()
	id := "dep-web-1-abcdef01"
	sp := create(t, b, id)
	var nsPath string
	for _, ns := range sp.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			nsPath = ns.Path
		}
	}
	if nsPath != b.NetnsPath(id) || sp.Hostname != id {
		t.Fatalf("spec: netns %q hostname %q", nsPath, sp.Hostname)
	}
	mounts := map[string]string{}
	for _, m := range sp.Mounts {
		mounts[m.Destination] = m.Source
	}
	if mounts["/etc/hosts"] == "" || mounts["/etc/resolv.conf"] == "" {
		t.Fatalf("hosts and resolv.conf not mounted: %v", sp.Mounts)
	}
	addr, err := b.Attach(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "10.210.") || addr == "10.210.0.1" {
		t.Fatalf("address %q not from 10.210.0.0/16", addr)
	}
	// Attach again (a task restart, or an adopted replica): same address.
	if again, err := b.Attach(ctx, id, 0); err != nil || again != addr {
		t.Fatalf("re-attach: %q %v, want %q", again, err, addr)
	}
	// The node reaches a server inside the replica's namespace; the
	// replica has loopback up and a default route through the gateway.
	var ln net.Listener
	if err := network.Do(nsPath, func() (err error) {
		ln, err = net.Listen("tcp", "0.0.0.0:8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello from "+c.LocalAddr().String())
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "8080"), 2*time.Second)
	if err != nil {
		t.Fatalf("node cannot reach replica: %v", err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "hello from "+addr+":8080" {
		t.Fatalf("got %q", got)
	}
	var routes, lo string
	_ = network.Do(nsPath, func() error {
		routes = run(t, "ip", "route")
		lo = run(t, "ip", "-o", "addr", "show", "lo")
		return nil
	})
	if !strings.Contains(routes, "default via 10.210.0.1") || !strings.Contains(lo, "127.0.0.1") {
		t.Fatalf("replica namespace: routes %q, lo %q", routes, lo)
	}
	// Outbound NAT for the replica's address.
	nat := run(t, "iptables-save", "-t", "nat")
	if !strings.Contains(nat, "MASQUERADE") || !strings.Contains(nat, addr) {
		t.Fatalf("no outbound NAT for %s:\n%s", addr, nat)
	}
	hosts, _ := os.ReadFile(mounts["/etc/hosts"])
	if !strings.Contains(string(hosts), addr+"\t"+id) {
		t.Fatalf("hosts file lacks own name:\n%s", hosts)
	}
	ln.Close()
	// Without the node's DNS server (none was started here) the replica
	// gets the node's resolvers; its file goes with it.
	if resolv, err := os.ReadFile(mounts["/etc/resolv.conf"]); err != nil || strings.Contains(string(resolv), "nameserver 10.210.0.1") {
		t.Fatalf("resolv.conf without a node DNS server: %v\n%s", err, resolv)
	}

	if err := b.Detach(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := b.Detach(ctx, id); err != nil {
		t.Fatalf("second detach: %v", err)
	}
	if _, err := os.Stat(nsPath); !os.IsNotExist(err) {
		t.Fatal("netns file left behind")
	}
	if _, err := os.Stat(mounts["/etc/resolv.conf"]); !os.IsNotExist(err) {
		t.Fatal("resolv.conf left behind")
	}
	if nat := run(t, "iptables-save", "-t", "nat"); strings.Contains(nat, addr) {
		t.Fatalf("NAT rule for %s left behind:\n%s", addr, nat)
	}
	if leases := listDir(ipamDir); strings.Contains(leases, addr) {
		t.Fatalf("lease for %s left behind: %s", addr, leases)
	}
	if links := run(t, "ip", "-o", "link", "show", "type", "veth"); strings.TrimSpace(links) != "" {
		t.Fatalf("veth left behind: %s", links)
	}
	_ = netnsDir
}

// TestIntegrationBridgeNoLeaks runs 100 create/delete cycles, five replicas
// at a time, and compares addresses, links, firewall rules, leases and
// namespace mounts with the state after a first warm-up cycle (which makes
// the bridge and the plugins' base chains).
func TestIntegrationBridgeNoLeaks(t *testing.T) {
	if !inNetns(t) {
		return
	}
	b, ipamDir, netnsDir := newBridge(t)
	ctx := context.Background()
	cycle := func(round, width int) {
		var wg sync.WaitGroup
		errs := make(chan error, width)
		for i := range width {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("leak-%d-%d", round, i)
				sp := &oci.Spec{Linux: &specs.Linux{}}
				for _, o := range b.SpecOpts("dep", "web", &spec.Service{}) {
					if err := o(ctx, nil, &containers.Container{ID: id}, sp); err != nil {
						errs <- err
						return
					}
				}
				if _, err := b.Attach(ctx, id, 0); err != nil {
					errs <- err
					return
				}
				if err := b.Detach(ctx, id); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	cycle(-1, 1)
	before := netState(t, ipamDir, netnsDir)
	start := time.Now()
	for round := range 20 {
		cycle(round, 5)
	}
	t.Logf("100 attach/detach cycles in %s", time.Since(start).Round(time.Millisecond))
	after := netState(t, ipamDir, netnsDir)
	if before != after {
		t.Fatalf("state changed after 100 cycles:\n%s", diffLines(before, after))
	}
	if ids := b.Attached(); len(ids) != 0 {
		t.Fatalf("attachments left: %v", ids)
	}
}

// TestIntegrationBridgePrune releases replicas that vanished while the node
// was away.
func TestIntegrationBridgePrune(t *testing.T) {
	if !inNetns(t) {
		return
	}
	b, ipamDir, _ := newBridge(t)
	ctx := context.Background()
	for _, id := range []string{"keep-1", "gone-1"} {
		create(t, b, id)
		if _, err := b.Attach(ctx, id, 0); err != nil {
			t.Fatal(err)
		}
	}
	gone := b.Addr("gone-1")
	if err := b.Prune(ctx, func(id string) bool { return id == "keep-1" }); err != nil {
		t.Fatal(err)
	}
	if b.Addr("keep-1") == "" || b.Addr("gone-1") != "" {
		t.Fatalf("prune: keep %q gone %q", b.Addr("keep-1"), b.Addr("gone-1"))
	}
	if strings.Contains(listDir(ipamDir), gone) {
		t.Fatal("pruned replica's lease kept")
	}
	if err := b.Detach(ctx, "keep-1"); err != nil {
		t.Fatal(err)
	}
}
