package cluster

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/clusterjoin"
	"github.com/zlayer/zlayer/noderuntime/network"
)

// TestWireGuardModeKeysAndRefusal: a cluster made in wireguard mode
// refuses a joiner configured for host-gw (leaving nothing of it), admits
// one in wireguard mode, which keeps a key of its own; the work carries
// each node's public key and endpoint into the peers; a restart with
// another mode is refused, one with the same keeps the key.
func TestWireGuardModeKeysAndRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	srv, err := Prepare(ctx, Config{
		DataDir: t.TempDir(), Init: true, NodeName: "s1", Advertise: "127.0.0.1", APIPort: freePort(t),
		EtcdClientPort: freePort(t), EtcdPeerPort: freePort(t), Log: log, AdminToken: "admin", ReadToken: "read",
		NetworkMode: network.ModeWireGuard,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	url := serveRoutes(t, srv)
	go func() { _ = srv.registerAndKeepAlive(ctx) }()
	tok, err := srv.createToken("agent", 0)
	if err != nil {
		t.Fatal(err)
	}
	agentCfg := func(dir, mode string) Config {
		return Config{DataDir: dir, JoinAPI: url, JoinToken: tok.Token, NodeName: "a1", Advertise: "127.0.0.2",
			APIPort: freePort(t), Log: log, NetworkMode: mode, WireGuardPort: 51900}
	}

	dir := t.TempDir()
	_, err = Prepare(ctx, agentCfg(dir, network.ModeHostGW))
	if !errors.Is(err, clusterjoin.ErrNetworkMismatch) || !strings.Contains(err.Error(), "the cluster's network mode is wireguard, a1's node config says host-gw") {
		t.Fatalf("a host-gw joiner of a wireguard cluster: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cluster", "identity.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused joiner has an identity: %v", err)
	}
	if _, err := srv.state.Node(ctx, "a1"); err == nil {
		t.Error("the refused joiner has a node record")
	}

	agent, err := Prepare(ctx, agentCfg(dir, network.ModeWireGuard))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "cluster", "wg.key")
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the agent's key file: %v %v", st, err)
	}
	if err := agent.agentReport(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Both nodes are in the work once both are alive (s1 from its own
	// lease, a1 from its report).
	var w *apitypes.Work
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if w, err = agent.agentWork(ctx, 0); err == nil && len(w.Subnets) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's work after 30s: %+v %v", w, err)
		}
	}
	got := map[string]string{}
	for _, s := range w.Subnets {
		got[s.Node] = s.PublicKey + " " + s.Endpoint
	}
	want := map[string]string{
		"s1": srv.wgKey.PublicKey().String() + " 127.0.0.1:51871",
		"a1": agent.wgKey.PublicKey().String() + " 127.0.0.2:51900",
	}
	if len(got) != 2 || got["s1"] != want["s1"] || got["a1"] != want["a1"] {
		t.Fatalf("the work's subnets %v, want %v", got, want)
	}
	agent.notePeers(w.Subnets)
	if p, _ := agent.Peers(); len(p) != 1 || p[0].PublicKey != srv.wgKey.PublicKey().String() || p[0].Port != 51871 {
		t.Fatalf("the agent's peers: %+v", p)
	}
	if cn := agent.Network(); cn == nil || cn.Mode != network.ModeWireGuard || cn.Key != agent.wgKey || cn.Port != 51900 {
		t.Fatalf("the agent's cluster network: %+v", cn)
	}

	// Restarts: another mode is refused, the same keeps the key.
	restart := Config{DataDir: dir, Advertise: "127.0.0.2", APIPort: agent.cfg.APIPort, Log: log, NetworkMode: network.ModeHostGW}
	if _, err := Prepare(ctx, restart); !errors.Is(err, clusterjoin.ErrNetworkMismatch) {
		t.Fatalf("a restart in host-gw mode: %v", err)
	}
	restart.NetworkMode = network.ModeWireGuard
	again, err := Prepare(ctx, restart)
	if err != nil {
		t.Fatal(err)
	}
	if again.wgKey != agent.wgKey {
		t.Error("the restarted agent has another key")
	}
}
