package reconcile

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// containerd's identifier rule (pkg/identifiers): alphanumerics separated by
// single '.', '_' or '-', at most 76 characters; and, as the ID is the
// replica's host name, a DNS label (lowercase, digits, '-', at most 63).
var (
	containerdID = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

func TestContainerIDIsInjective(t *testing.T) {
	long := strings.Repeat("a", 38) + "-z"
	names := []string{"a", "b", "c", "a-b", "b-c", "a-b-c", "ab", "1", "1-2", "2-1", "x1", "a-1", "1-a-2", "12345678", "a-b-1-2", long, long[:38], strings.Repeat("b", 40), strings.Repeat("a-", 19) + "ab"}
	for _, n := range names {
		if err := spec.CheckName(n); err != nil {
			t.Fatalf("test name %q: %v", n, err)
		}
	}
	hashes := []string{"0123456789ab", "ba9876543210", "123456780000"}
	seen := map[string][4]any{}
	for _, dep := range names {
		for _, svc := range names {
			for _, idx := range []int{1, 2, 10, 12, 1000} {
				for _, h := range hashes {
					id := ContainerID(dep, svc, idx, h)
					if len(id) > 76 || !containerdID.MatchString(id) || !dnsLabel.MatchString(id) {
						t.Fatalf("ContainerID(%q, %q, %d) = %q is not a containerd ID", dep, svc, idx, id)
					}
					key := [4]any{dep, svc, idx, h[:8]}
					if prev, ok := seen[id]; ok && prev != key {
						t.Fatalf("%v and %v both map to %q", prev, key, id)
					}
					seen[id] = key
				}
			}
		}
	}
	// The collision of the old DEP-SVC-INDEX-HASH scheme.
	if ContainerID("a-b", "c", 1, "0123456789ab") == ContainerID("a", "b-c", 1, "0123456789ab") {
		t.Fatal("a-b/c and a/b-c collide")
	}
	// Names without a dash in the deployment keep the earlier scheme's ID.
	if got := ContainerID("shop", "web-api", 1, "0123456789ab"); got != "shop-web-api-1-01234567" {
		t.Errorf("got %q", got)
	}
}

// A node upgraded from the DEP-SVC-INDEX-HASH scheme finds its containers by
// their labels: a replica under an old-style ID whose spec is unchanged is
// kept (not re-created), and only missing indices get new-style IDs.
func TestOldSchemeReplicaIsKept(t *testing.T) {
	d, err := spec.Parse("d.yaml", []byte("version: v1\ndeployment: a-b\nservices:\n  c:\n    image: busybox\n    scale: {replicas: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := d.Services["c"]
	c := New(Options{})
	oldID := "a-b-c-1-" + s.Hash()[:8]
	c.replicas[oldID] = &Replica{ID: oldID, Deployment: "a-b", Service: "c", Index: 1, Hash: s.Hash(), State: StateReady}
	creates, err := c.service(context.Background(), d, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(creates) != 1 {
		t.Fatalf("%d creations, want 1 (index 2 only)", len(creates))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.replicas[oldID]; r == nil || r.removing {
		t.Fatalf("old-scheme replica dropped: %+v", r)
	}
	newID := ContainerID("a-b", "c", 2, s.Hash())
	if r := c.replicas[newID]; r == nil || r.Index != 2 || r.State != StateCreating {
		t.Fatalf("index 2 not created as %s: %+v", newID, c.replicas)
	}
	if len(c.replicas) != 2 {
		t.Errorf("replicas %v", c.replicas)
	}
}
