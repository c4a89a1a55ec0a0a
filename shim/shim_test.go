package shim

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCounterPath(t *testing.T) {
	hybrid := []byte("12:memory:/ns/c1\n11:cpu,cpuacct:/ns/c1\n0::/ns/c1\n")
	if got := counterPath(hybrid, false); got != "/sys/fs/cgroup/memory/ns/c1/memory.oom_control" {
		t.Errorf("v1: %q", got)
	}
	if got := counterPath([]byte("0::/ns/c1\n"), true); got != "/sys/fs/cgroup/ns/c1/memory.events" {
		t.Errorf("v2: %q", got)
	}
	if got := counterPath([]byte("3:cpu:/x\n"), false); got != "" {
		t.Errorf("no memory controller: %q", got)
	}
}

func TestReadOOMKills(t *testing.T) {
	p := filepath.Join(t.TempDir(), "memory.oom_control")
	if err := os.WriteFile(p, []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, ok := readOOMKills(p); !ok || n != 2 {
		t.Errorf("got %d %v", n, ok)
	}
	if !oomKilledSince(p, 1) || oomKilledSince(p, 2) || oomKilledSince("", 0) {
		t.Error("oomKilledSince")
	}
}

func TestHasFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"-v"}, true},
		{[]string{"--version"}, true},
		{[]string{"-debug", "-v"}, true},
		{[]string{"-namespace", "x"}, false},
		{[]string{"start", "-v"}, false},
		{nil, false},
	} {
		if got := hasFlag(c.args, "v", "version"); got != c.want {
			t.Errorf("hasFlag(%q) = %v", c.args, got)
		}
	}
}

func TestBundleAnnotations(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion":"1.0.2","annotations":{"zlayer.io/group":"shop/web"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := bundleAnnotations(dir)
	if err != nil || a["zlayer.io/group"] != "shop/web" {
		t.Fatalf("%v %v", a, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := bundleAnnotations(dir); err == nil {
		t.Error("bad config.json accepted")
	}
}
