package network_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

const backSpec = `version: v1
deployment: back
services:
  web:
    image: busybox
    network_mode: bridge
    command:
      entrypoint: [/bin/sh, -c, "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
    endpoints:
      - {name: http, protocol: http, port: 80, target_port: 8080, expose: public}
    scale: {replicas: 2}
    health: {interval: 500ms, timeout: 1s, retries: 1, check: {type: http, port: 8080, path: /}}
    restart_policy: {kind: always, delay: 200ms}
`

// TestIntegrationVanishedNetnsRecreated does to a node what `docker
// restart` of a node container does: serve, its containerd, the shims and
// the replicas all end, and the replicas' network namespace mounts (under
// the runtime dir, which does not survive) are gone, while the data dir
// (containers, IPAM leases, attachments) stays. The restarted node must
// recreate each replica (never crash-loop it on the missing namespace),
// give it an address again without leaking or colliding leases and NAT
// rules, and route to it through the ingress.
func TestIntegrationVanishedNetnsRecreated(t *testing.T) {
	n := startNetNode(t, "")
	ctx := context.Background()
	if _, err := n.api.Apply(ctx, "back.yaml", backSpec); err != nil {
		t.Fatal(err)
	}
	n.waitFor("back ready", 3*time.Minute, func() bool {
		st, err := n.api.Get(ctx, "back")
		return err == nil && st.Ready
	})
	replicas := func() []apitypes.ReplicaStatus {
		all, err := n.api.Replicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
	before := replicas()
	if len(before) != 2 {
		t.Fatalf("replicas: %+v", before)
	}
	answers := func(what string) {
		t.Helper()
		seen := map[string]bool{}
		n.waitFor(what, time.Minute, func() bool {
			code, body, err := n.get("http://127.0.0.1/", "")
			if err == nil && code == 200 {
				seen[body] = true
			}
			return len(seen) == 2
		})
		for _, r := range before {
			if !seen[r.ID] {
				t.Fatalf("%s: %s did not answer through the ingress: %v", what, r.ID, seen)
			}
		}
	}
	answers("both replicas answer")

	// The node goes down with everything it ran.
	ctdPID := n.containerdPID()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	<-n.exited
	waitGone(t, ctdPID)
	for _, r := range before {
		_ = syscall.Kill(int(r.PID), syscall.SIGKILL)
	}
	for _, pid := range stack.ShimPIDs(filepath.Join(n.dir, "containerd", "c.sock")) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(t, pid)
	}
	netnsDir := filepath.Join(n.s.Dir, "netns")
	ents, err := os.ReadDir(netnsDir)
	if err != nil || len(ents) != 2 {
		t.Fatalf("namespace files before the restart: %v %v", ents, err)
	}
	for _, e := range ents {
		p := filepath.Join(netnsDir, e.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}

	n.start()
	n.waitFor("back ready after the restart", 3*time.Minute, func() bool {
		st, err := n.api.Get(ctx, "back")
		return err == nil && st.Ready
	})
	after := replicas()
	addrs := map[string]bool{}
	for _, r := range after {
		if r.State != reconcile.StateReady || !strings.HasPrefix(r.Address, "10.210.") || r.Restarts < 1 {
			t.Errorf("replica after the restart: %+v", r)
		}
		addrs[r.Address] = true
	}
	if len(after) != 2 || len(addrs) != 2 {
		t.Fatalf("replicas after the restart: %+v", after)
	}
	answers("both replicas answer after the restart")

	// One lease per replica, each the replica's address; outbound NAT rules
	// only for those addresses.
	var leases []string
	for _, l := range strings.Split(strings.TrimSpace(listDir(filepath.Join(n.dir, "network", "ipam"))), "\n") {
		if strings.Contains(l, "10.210.") {
			leases = append(leases, filepath.Base(l))
		}
	}
	if len(leases) != 2 || !addrs[leases[0]] || !addrs[leases[1]] {
		t.Errorf("leases %v, want exactly the replicas' addresses %v", leases, addrs)
	}
	for _, l := range strings.Split(n.inNS("iptables-save", "-t", "nat"), "\n") {
		if strings.HasPrefix(l, "-A POSTROUTING -s 10.210.") {
			ip, _, _ := strings.Cut(strings.Fields(l)[3], "/")
			if !addrs[ip] {
				t.Errorf("NAT rule left for a released address: %s", l)
			}
		}
	}
	log, _ := os.ReadFile(n.log)
	if !strings.Contains(string(log), "recreating its container") {
		t.Error("serve's log does not say it recreated the replicas")
	}
	if strings.Contains(string(log), string(reconcile.StateCrashLoop)) {
		t.Error("a replica went into a crash loop")
	}
}

func (n *netNode) containerdPID() int {
	var p int
	b, _ := os.ReadFile(filepath.Join(n.dir, "containerd", "containerd.pid"))
	_, _ = fmt.Sscan(strings.TrimSpace(string(b)), &p)
	return p
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for pid > 1 && syscall.Kill(pid, 0) == nil && !zombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not end", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err != nil || strings.Contains(string(b), ") Z ")
}
