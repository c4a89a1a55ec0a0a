package clusterstate

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// Save writes a snapshot of the etcd member cli talks to (the first
// endpoint it reaches) to path, mode 0600: through a temporary file in the
// same folder, renamed once whole, so that path is never a partial
// snapshot.
func Save(ctx context.Context, cli *clientv3.Client, path string) (err error) {
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("etcd snapshot: %w", err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("etcd snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("etcd snapshot: %w", err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		return fmt.Errorf("etcd snapshot to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("etcd snapshot to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("etcd snapshot to %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("etcd snapshot to %s: %w", path, err)
	}
	return nil
}

// RestoreRevisionBump is how far Restore moves the store's revision past
// the snapshot's, marking what lies between compacted: a watcher that
// remembers a revision of the lost cluster (later than the snapshot) gets
// a compaction, not silence, and reads everything again.
const RestoreRevisionBump = 1_000_000_000

// restoreClusterToken seeds the restored cluster's id. The cluster CA's
// mutual TLS, not this token, keeps two clusters' members apart.
const restoreClusterToken = "zlayer-restored"

// Restore makes, from a snapshot Save wrote, a new etcd data dir dataDir
// (absent or empty) holding a one-member cluster whose member is name at
// peerURL. For an etcdmember member, dataDir is <Config.Dir>/data, name
// and peerURL its Config's Name and PeerURL(): etcdmember.Start then
// restarts it from that data (see "State in etcd" in docs/cluster.md for
// the whole recovery).
func Restore(snap string, dataDir string, name, peerURL string) error {
	err := snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath:        snap,
		Name:                name,
		OutputDataDir:       dataDir,
		PeerURLs:            []string{peerURL},
		InitialCluster:      name + "=" + peerURL,
		InitialClusterToken: restoreClusterToken,
		RevisionBump:        RestoreRevisionBump,
		MarkCompacted:       true,
	})
	if err != nil {
		return fmt.Errorf("restore etcd snapshot %s into %s: %w", snap, dataDir, err)
	}
	return nil
}
