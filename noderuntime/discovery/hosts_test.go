package discovery

import (
	"os"
	"strings"
	"testing"
)

func TestHostsFilesFollowPeers(t *testing.T) {
	h := New(t.TempDir())
	if err := h.Prepare("web-1", "web-1"); err != nil {
		t.Fatal(err)
	}
	// Bind mounts see a file by inode: updates must keep it.
	before, _ := os.Stat(h.Path("web-1"))
	if err := h.Attach("web-1", "", "web-1", "10.210.0.2"); err != nil {
		t.Fatal(err)
	}
	peers := []Peer{
		{ID: "api-2", Deployment: "shop", Service: "api", Index: 2, IP: "10.210.0.4", Ready: true},
		{ID: "api-1", Deployment: "shop", Service: "api", Index: 1, IP: "10.210.0.3", Ready: true},
		{ID: "db-1", Deployment: "other", Service: "db", Index: 1, IP: "10.210.0.9", Ready: true},
		{ID: "db-2", Deployment: "other", Service: "db", Index: 2, IP: "10.210.0.10"},
		{ID: "bad", Deployment: "shop", Service: "x", Index: 1, IP: "", Ready: true},
		// The reader itself, not ready yet: tells it its deployment and index.
		{ID: "web-1", Deployment: "shop", Service: "web", Index: 1, IP: "10.210.0.2"},
	}
	if err := h.SetPeers(peers); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(h.Path("web-1"))
	got := string(b)
	for _, want := range []string{
		"127.0.0.1\tlocalhost\n",
		"10.210.0.2\tweb-1\n",
		// Rotated by the reader's index (1): api-2 first.
		"10.210.0.4\tapi api.shop\n10.210.0.3\tapi api.shop\n",
		// Other deployments only by their qualified name.
		"10.210.0.9\tdb.other\n",
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("hosts file lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\tx ") || strings.Contains(got, "10.210.0.10") {
		t.Fatalf("peer without an address listed:\n%s", got)
	}
	after, _ := os.Stat(h.Path("web-1"))
	if !os.SameFile(before, after) {
		t.Fatal("hosts file replaced instead of rewritten in place")
	}
	// A peer going away disappears from the file.
	if err := h.SetPeers(append(peers[1:2:2], peers[5])); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(h.Path("web-1"))
	if strings.Contains(string(b), "10.210.0.4") || strings.Contains(string(b), "db.other") {
		t.Fatalf("stale peers kept:\n%s", b)
	}
	if err := h.Detach("web-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.Path("web-1")); !os.IsNotExist(err) {
		t.Fatal("hosts file left after detach")
	}
}
