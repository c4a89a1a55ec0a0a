package discovery

import (
	"os"
	"strings"
	"testing"
)

// A replica's extra entries stay in its file through peer changes, and
// go with Detach.
func TestExtraEntriesFollowTheFile(t *testing.T) {
	h := New(t.TempDir())
	h.SetExtra("a", [][2]string{{"192.0.2.20", "backend.internal"}, {"10.210.0.1", "node.internal"}})
	if err := h.Prepare("a", "front"); err != nil {
		t.Fatal(err)
	}
	if err := h.Attach("a", "d", "front", "10.210.0.5"); err != nil {
		t.Fatal(err)
	}
	if err := h.SetPeers([]Peer{{ID: "b", Deployment: "d", Service: "db", IP: "10.210.0.6", Ready: true}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(h.Path("a"))
	for _, want := range []string{"10.210.0.5\tfront\n", "192.0.2.20\tbackend.internal\n", "10.210.0.1\tnode.internal\n", "10.210.0.6\tdb db.d\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("hosts file lacks %q:\n%s", want, b)
		}
	}
	_ = h.Detach("a")
	if err := h.Prepare("a", "front"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(h.Path("a")); strings.Contains(string(b), "backend.internal") {
		t.Errorf("extra entries outlived Detach:\n%s", b)
	}
}
