package clusterstate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/etcdmember"
)

func TestSaveRestoreStartsAMemberWithTheKeys(t *testing.T) {
	t.Parallel()
	s := newState(t)
	ctx := testCtx(t, 50*time.Second)
	if _, err := s.Put(deployment(t, "kept", 2), "src"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNode(ctx, NodeInfo{Name: "n1", Role: "server"}); err != nil {
		t.Fatal(err)
	}
	// The secrets key is on the servers' disks, not in the snapshot: the
	// restored records open with it.
	key := testKey(t)
	if _, err := s.Secrets(key, nil).Put("kept-secret", []byte(secretA)); err != nil {
		t.Fatal(err)
	}
	before, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "state.snap")
	if err := Save(ctx, s.Client(), path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v, want mode 0600", st, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	// Recovery: restore into a new member's data dir, start it as a new
	// one-member cluster.
	_, ca := member(t)
	cfg := memberConfig(t, t.TempDir(), "restored", ca)
	if err := Restore(path, filepath.Join(cfg.Dir, "data"), cfg.Name, cfg.PeerURL()); err != nil {
		t.Fatal(err)
	}
	m, err := etcdmember.Start(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	r := NewWith(clientOf(t, m, "/test/"+t.Name()+"/"), Options{Log: quietLog})
	got, err := r.GetCtx(ctx, "kept")
	if err != nil || got.Generation != 1 || got.Spec.Services["web"].Scale.Count() != 2 {
		t.Fatalf("restored deployment: %+v %v", got, err)
	}
	if n, err := r.Node(ctx, "n1"); err != nil || n.Role != "server" {
		t.Fatalf("restored node: %+v %v", n, err)
	}
	if v, ver, err := r.Secrets(key, nil).ValueCtx(ctx, "kept-secret"); err != nil || string(v) != secretA || ver != 1 {
		t.Fatalf("restored secret: %q v%d %v", v, ver, err)
	}
	if snap, err := os.ReadFile(path); err != nil || bytes.Contains(snap, []byte(secretA)) {
		t.Fatalf("the snapshot holds the secret's value in the clear (read: %v)", err)
	}
	if after, err := r.Revision(ctx); err != nil || after < before+RestoreRevisionBump {
		t.Fatalf("restored revision %d (%v), want past %d + the bump", after, err, before)
	}
	// History before the restore is compacted: a watcher from then reads
	// everything again.
	if rev, err := r.WaitChange(ctx, before); err != nil || rev <= before {
		t.Fatalf("WaitChange from before the restore: %d %v", rev, err)
	}
	// Writes work on the restored cluster.
	if _, err := r.PutCtx(ctx, deployment(t, "kept", 3), "src2"); err != nil {
		t.Fatal(err)
	}

	if err := Restore(path, filepath.Join(cfg.Dir, "data"), cfg.Name, cfg.PeerURL()); err == nil {
		t.Fatal("restore into a data dir in use succeeded")
	}
}
