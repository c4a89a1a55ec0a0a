package runs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBookKeepsAcrossReopen: what one node process wrote, the next reads.
func TestBookKeepsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBook(dir)
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	err = b.Update("shop", "migrate", func(h *History) (bool, error) {
		r := h.Begin("h1", TriggerDeploy, time.Time{}, t0)
		r.State = Running
		h.End(r.N, Succeeded, &zero, t0.Add(time.Second), "")
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := OpenBook(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := b2.Read("shop", "migrate")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Runs) != 1 || h.Runs[0].State != Succeeded || h.Runs[0].ExitCode == nil || *h.Runs[0].ExitCode != 0 || h.Last != 1 {
		t.Fatalf("read back %+v", h)
	}
	svcs, err := b2.Services()
	if err != nil || len(svcs) != 1 || svcs[0] != [2]string{"shop", "migrate"} {
		t.Fatalf("services %v %v", svcs, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "shop", "migrate.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("history file: %v %v", fi, err)
	}
	if err := b2.Forget("shop", "migrate"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "shop")); !os.IsNotExist(err) {
		t.Fatalf("deployment folder left after its last service: %v", err)
	}
}

// TestBookUnchangedWritesNothing: an update that changes nothing, or
// fails, leaves the history as it was.
func TestBookUnchangedWritesNothing(t *testing.T) {
	b, err := OpenBook(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Update("d", "s", func(h *History) (bool, error) {
		h.Begin("x", TriggerManual, time.Time{}, t0)
		return false, nil
	})
	if h, _ := b.Read("d", "s"); len(h.Runs) != 0 {
		t.Fatalf("an unchanged update was kept: %+v", h)
	}
	if err := b.Update("../x", "s", func(*History) (bool, error) { return true, nil }); err == nil {
		t.Fatal("a path name was taken as a deployment")
	}
}
