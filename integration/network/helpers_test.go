// Package network_test checks node networking against the real CNI plugins
// and the kernel. Every test runs inside a network namespace it creates (the
// test binary re-executes itself there through nsenter), so bridges, veths
// and firewall rules never touch the host's network.
package network_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/integration/stack"
)

const childEnv = "ZLAYER_NETNS_CHILD"

// need skips (or fails under ZLAYER_INTEGRATION=require) when a
// prerequisite is missing.
func need(t *testing.T, ok bool, reason string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped with -short")
	}
	if ok {
		return
	}
	if os.Getenv("ZLAYER_INTEGRATION") == "require" {
		t.Fatalf("%s (ZLAYER_INTEGRATION=require)", reason)
	}
	t.Skip(reason)
}

func repoRoot(t *testing.T) string {
	if r := os.Getenv("ZLAYER_REPO"); r != "" {
		return r
	}
	dir, _ := os.Getwd()
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/zlayer/zlayer\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("not inside the zlayer module (set ZLAYER_REPO)")
		}
		dir = parent
	}
}

// pluginDir is where tools/build.sh put the CNI plugins.
func pluginDir(t *testing.T) string {
	d := os.Getenv("ZLAYER_TOOLS")
	if d == "" {
		d = filepath.Join(repoRoot(t), ".cache", "tools")
	}
	return filepath.Join(d, "bin")
}

// inNetns runs the calling test inside a fresh network namespace: in the
// parent it creates the namespace, re-runs just this test there and reports
// its result and returns false (the body must not run out here); in the
// child it returns true and the test goes on.
func inNetns(t *testing.T) bool {
	t.Helper()
	if name := os.Getenv(childEnv); name != "" {
		return true
	}
	need(t, os.Geteuid() == 0, "needs root for network namespaces")
	for _, tool := range []string{"ip", "nsenter", "iptables-save"} {
		_, err := stack.LookPath(tool)
		need(t, err == nil, tool+" not found")
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		_, err := os.Stat(filepath.Join(pluginDir(t), p))
		need(t, err == nil, "CNI plugin "+p+" missing in "+pluginDir(t)+" (run make tools)")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "zlt-" + hex.EncodeToString(b)
	if out, err := exec.Command(ip(), "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(ip(), "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	nsenter, _ := stack.LookPath("nsenter")
	args := []string{"--net=/run/netns/" + name, os.Args[0], "-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count=1", "-test.v"}
	cmd := exec.Command(nsenter, args...)
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	out, err := cmd.CombinedOutput()
	t.Logf("inside netns %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("test inside netns %s failed: %v", name, err)
	}
	if bytes.Contains(out, []byte("--- SKIP")) {
		t.Skip("skipped inside the namespace")
	}
	return false
}

func ip() string {
	p, err := stack.LookPath("ip")
	if err != nil {
		return "ip"
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	p, err := stack.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// netState is everything a leak would show up in: addresses, links (veths),
// firewall rules, IPAM leases and namespace mounts.
func netState(t *testing.T, ipamDir, netnsDir string) string {
	t.Helper()
	var b strings.Builder
	// Duplicate address detection flags come and go on their own.
	b.WriteString("## addresses\n" + strings.ReplaceAll(run(t, "ip", "-o", "addr", "show"), "tentative ", ""))
	links := run(t, "ip", "-o", "link", "show")
	// Link lines carry counters of nothing; keep names and kinds.
	var names []string
	for _, l := range strings.Split(links, "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	b.WriteString("## links\n" + strings.Join(names, "\n") + "\n")
	var rules []string
	for _, table := range []string{"filter", "nat"} {
		for _, l := range strings.Split(run(t, "iptables-save", "-t", table), "\n") {
			if strings.HasPrefix(l, "#") || l == "" {
				continue
			}
			rules = append(rules, counters.ReplaceAllString(l, ""))
		}
	}
	b.WriteString("## rules\n" + strings.Join(rules, "\n") + "\n")
	b.WriteString("## leases\n" + listDir(ipamDir) + "## netns\n" + listDir(netnsDir))
	return b.String()
}

func listDir(dir string) string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			// host-local keeps its cursor and lock between leases.
			if !strings.HasPrefix(filepath.Base(rel), "last_reserved_ip") && filepath.Base(rel) != "lock" {
				out = append(out, rel)
			}
		}
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n") + "\n"
}

func diffLines(a, b string) string {
	as, bs := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := map[string]int{}
	for _, l := range as {
		in[l]++
	}
	var d []string
	for _, l := range bs {
		if in[l] > 0 {
			in[l]--
			continue
		}
		d = append(d, "+ "+l)
	}
	for l, n := range in {
		for range n {
			d = append(d, "- "+l)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
