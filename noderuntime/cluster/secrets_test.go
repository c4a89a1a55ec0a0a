package cluster

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/clusterstate"
	"github.com/zlayer/zlayer/noderuntime/secrets"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// TestSecretsKeyAndDelivery runs a first server made from a node that
// kept a secret, a server and an agent joining it, for real (etcd members,
// the join handshake, the node endpoints over mutual TLS): the node's
// secret and key move into the cluster, the joining server is given the
// key and the agent is not, and the agent is told the value of a secret
// only while a service placed on it uses it.
func TestSecretsKeyAndDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd members")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := testLog()

	// The node it was kept a secret.
	dir := t.TempDir()
	if _, err := secrets.Open(dir).Put("old-secret", []byte("value-from-the-single-node")); err != nil {
		t.Fatal(err)
	}
	nodeKey, err := secrets.ReadKey(secrets.Open(dir).KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	srv := firstServer(ctx, t, dir, log)
	keyPath := filepath.Join(dir, "cluster", secretsKeyFile)
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the cluster's secrets key: %v %v, want mode 0600", st, err)
	}
	if k, err := secrets.ReadKey(keyPath); err != nil || !bytes.Equal(k, nodeKey) {
		t.Fatalf("the cluster's key is not the node's: %v", err)
	}
	if err := srv.adoptLocalSecrets(ctx); err != nil {
		t.Fatal(err)
	}
	if v, ver, err := srv.Secrets().Value("old-secret"); err != nil || string(v) != "value-from-the-single-node" || ver != 1 {
		t.Fatalf("the node's secret in the cluster: %q v%d %v", v, ver, err)
	}
	url := serveRoutes(t, srv)
	go func() { _ = srv.registerAndKeepAlive(ctx) }()

	// A server joiner is given the key; the agent is not.
	stok, err := srv.createToken("server", 0)
	if err != nil {
		t.Fatal(err)
	}
	s2dir := t.TempDir()
	s2, err := Prepare(ctx, Config{
		DataDir: s2dir, JoinAPI: url, JoinToken: stok.Token, Server: true, NodeName: "s2", Advertise: "127.0.0.3",
		APIPort: freePort(t), EtcdClientPort: freePort(t), EtcdPeerPort: freePort(t), Log: log,
		WriteTokens: func(admin, read string) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Close)
	if k, err := secrets.ReadKey(filepath.Join(s2dir, "cluster", secretsKeyFile)); err != nil || !bytes.Equal(k, nodeKey) {
		t.Fatalf("the joined server's key: %v (equal %v)", err, bytes.Equal(k, nodeKey))
	}
	if v, _, err := s2.Secrets().Value("old-secret"); err != nil || string(v) != "value-from-the-single-node" {
		t.Fatalf("the secret through the joined server: %q %v", v, err)
	}

	atok, err := srv.createToken("agent", 0)
	if err != nil {
		t.Fatal(err)
	}
	adir := t.TempDir()
	agent, err := Prepare(ctx, Config{DataDir: adir, JoinAPI: url, JoinToken: atok.Token, NodeName: "a1", Advertise: "127.0.0.2",
		APIPort: freePort(t), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(adir, "cluster", secretsKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the agent has a secrets key: %v", err)
	}
	if agent.Secrets() != nil {
		t.Fatal("the agent opens secrets itself")
	}

	// web (on the agent) uses db-password; admin (on s1 only) uses
	// admin-key.
	for name, v := range map[string]string{"db-password": "db-value-91c2", "admin-key": "admin-value-07ee"} {
		if _, err := srv.Secrets().Put(name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := spec.Parse("shop.yaml", []byte(`version: v1
deployment: shop
services:
  web:
    image: busybox
    env: {DB: "$S:db-password"}
  admin:
    image: busybox
    secrets: [{name: admin-key}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.state.Put(d, "src"); err != nil {
		t.Fatal(err)
	}
	web := clusterstate.ReplicaKey{Deployment: "shop", Service: "web", Index: 1}
	admin := clusterstate.ReplicaKey{Deployment: "shop", Service: "admin", Index: 1}
	if err := srv.state.WriteAssignments(ctx, nil, map[clusterstate.ReplicaKey]clusterstate.Assignment{
		web: {Node: "a1"}, admin: {Node: "s1"},
	}, nil); err != nil {
		t.Fatal(err)
	}

	src := agent.SecretSource()
	if v, ver, err := src.Value("db-password"); err != nil || string(v) != "db-value-91c2" || ver != 1 {
		t.Fatalf("the agent's secret: %q v%d %v", v, ver, err)
	}
	for _, name := range []string{"admin-key", "old-secret", "no-such"} {
		v, _, err := src.Value(name)
		if err == nil || v != nil || !strings.Contains(err.Error(), "no service placed on node a1 uses secret") {
			t.Errorf("the agent was answered %s: %q %v", name, v, err)
		}
	}
	// The agent's certificate does not ask for another node.
	err = agent.callServer(ctx, http.MethodGet, "/v1/cluster/agent/secrets/admin-key?node=s1", nil, 5*time.Second, nil)
	if err == nil || !strings.Contains(err.Error(), `may not act for node "s1"`) {
		t.Errorf("the agent asking as s1: %v", err)
	}
	// Moving away from the agent, a replica still gets its values there;
	// once gone, none.
	if err := srv.state.WriteAssignments(ctx, nil, map[clusterstate.ReplicaKey]clusterstate.Assignment{web: {Node: "s1", From: "a1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Value("db-password"); err != nil {
		t.Errorf("a replica moving away: %v", err)
	}
	if err := srv.state.WriteAssignments(ctx, nil, map[clusterstate.ReplicaKey]clusterstate.Assignment{web: {Node: "s1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Value("db-password"); err == nil {
		t.Error("the agent was told a secret of a service no longer placed on it")
	}
	// A server reads its own, for its own replicas.
	if v, _, err := srv.SecretSource().Value("admin-key"); err != nil || string(v) != "admin-value-07ee" {
		t.Errorf("the server's own source: %q %v", v, err)
	}
}
