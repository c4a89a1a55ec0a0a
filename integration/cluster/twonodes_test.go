package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/netns"
	"github.com/zlayer/zlayer/integration/node"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

// webSpec is a busybox httpd on the node's network (host mode: the node's
// namespace), serving a page that names the node.
func webSpec(name string) string {
	return fmt.Sprintf(`version: v1
deployment: web
services:
  httpd:
    image: busybox
    network_mode: host
    command:
      entrypoint: [/bin/sh, -c]
      args: ['mkdir -p /tmp/www && echo "served by %s" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
    health:
      interval: 500ms
      check: {type: tcp, port: 8080}
`, name)
}

// leftovers is what a node run may leave on the host, to check it did not.
type leftovers struct {
	links, namespaces, dirs, ctdNS []string
	pids                           []int
	shimAddrs                      []string
}

func (l leftovers) check(t *testing.T) {
	t.Helper()
	for _, n := range append(append([]string{}, l.links...), l.namespaces...) {
		if netns.Exists(n) {
			t.Errorf("%s still exists", n)
		}
	}
	for _, d := range l.dirs {
		if m, _ := stack.MountsUnder(d); len(m) > 0 {
			t.Errorf("mounts left under %s: %v", d, m)
		}
	}
	if left := stack.RemoveNamedCgroups(l.ctdNS...); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	for _, p := range l.pids {
		if p > 1 && syscall.Kill(p, 0) == nil && !node.Zombie(p) {
			t.Errorf("process %d still running", p)
		}
	}
	for _, a := range l.shimAddrs {
		if pids := stack.ShimPIDs(a); len(pids) > 0 {
			t.Errorf("shims of %s left: %v", a, pids)
		}
	}
}

// TestTwoNodesInNamespaces runs two plain single nodes, each in its own
// network namespace: both deploy busybox httpd on the same port of their
// own network, answer their API on their namespace address from the host,
// one cut off by a link down keeps running and answers again after heal,
// and after one is killed with kill -9 the harness still leaves no mount,
// cgroup, process, link or namespace behind.
func TestTwoNodesInNamespaces(t *testing.T) {
	s := stack.Start(t, stack.Options{})
	b := netns.Bridge(t, "two", "")
	var left leftovers

	t.Run("nodes", func(t *testing.T) {
		ns1, ns2 := netns.Namespace(t, b, "n1"), netns.Namespace(t, b, "n2")
		n1, n2 := StartClusterNode(t, s, ns1), StartClusterNode(t, s, ns2)
		for _, n := range []*Node{n1, n2} {
			left.links = append(left.links, n.NS.HostVeth)
			left.namespaces = append(left.namespaces, n.NS.NetNS)
			left.dirs = append(left.dirs, n.Dir)
			left.ctdNS = append(left.ctdNS, n.Node.NS)
			left.shimAddrs = append(left.shimAddrs, n.ContainerdSocket())
		}

		for _, n := range []*Node{n1, n2} {
			n.MustCLI("deploy", n.WriteSpec("web.yaml", webSpec(n.Name)))
			n.WaitFor("web ready on "+n.Name, 60*time.Second, func() bool { return n.Ready("web") })
			left.pids = append(left.pids, n.PID(), n.ContainerdPID())
		}

		t.Run("each answers its API on its namespace address", func(t *testing.T) {
			for _, n := range []*Node{n1, n2} {
				list, err := n.TCP(n.Token(false)).List(context.Background())
				if err != nil {
					t.Fatalf("%s over %s: %v", n.Name, n.URL(), err)
				}
				if len(list) != 1 || list[0].Name != "web" {
					t.Errorf("%s lists %+v", n.Name, list)
				}
			}
		})

		t.Run("each replica is on its own node's network", func(t *testing.T) {
			// The same port on both: each namespace has its own.
			for _, n := range []*Node{n1, n2} {
				url := fmt.Sprintf("http://%s:8080/", n.NS.IP)
				body := get(t, url)
				if want := "served by " + n.Name; strings.TrimSpace(body) != want {
					t.Errorf("%s: %q, want %q", url, body, want)
				}
			}
		})

		t.Run("a node cut off keeps running and is back after heal", func(t *testing.T) {
			c := &http.Client{Timeout: 2 * time.Second}
			n1.NS.LinkDown()
			if resp, err := c.Get(fmt.Sprintf("http://%s:8080/", n1.NS.IP)); err == nil {
				resp.Body.Close()
				t.Fatal("n1's replica answered through a partition")
			}
			// Over its unix socket the node still answers, its replica still runs.
			if !n1.Ready("web") {
				t.Error("n1 cut off is not ready")
			}
			n1.NS.LinkUp()
			if body := get(t, fmt.Sprintf("http://%s:8080/", n1.NS.IP)); !strings.Contains(body, "n1") {
				t.Errorf("n1 after heal: %q", body)
			}
		})

		t.Run("kill -9 one node, the other goes on", func(t *testing.T) {
			rs := n2.Replicas("web", "")
			if len(rs) != 1 || rs[0].State != reconcile.StateReady {
				t.Fatalf("n2 replicas before: %+v", rs)
			}
			n2.Kill9()
			if syscall.Kill(n2.ContainerdPID(), 0) != nil {
				t.Error("n2's containerd went with serve; it should outlive it")
			}
			if !n1.Ready("web") {
				t.Error("n1 not ready after n2 was killed")
			}
			if body := get(t, fmt.Sprintf("http://%s:8080/", n1.NS.IP)); !strings.Contains(body, "n1") {
				t.Errorf("n1's replica: %q", body)
			}
		})
	})
	if len(left.links) == 0 {
		t.Fatal("the nodes subtest made nothing")
	}
	left.check(t)
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for i := 0; i < 20; i++ {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}
