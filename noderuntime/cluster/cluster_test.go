package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/clusterjoin"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serveRoutes serves the cluster's endpoints of rt on its API port, as
// the node's API would, with its TLS.
func serveRoutes(t *testing.T, rt *Runtime) string {
	t.Helper()
	mux := http.NewServeMux()
	rt.Routes(mux)
	l, err := net.Listen("tcp", net.JoinHostPort(rt.cfg.Advertise, strconv.Itoa(rt.cfg.APIPort)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(l, rt.ServingTLS(api.TLSConfig(tls.Certificate{})))) }()
	t.Cleanup(func() { _ = srv.Close() })
	return apiURL(rt.cfg.Advertise, rt.cfg.APIPort)
}

// testLog is the cluster's log in a test: shown with -v.
func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

// firstServer prepares s1, the first server of a new cluster on
// 127.0.0.1, in dir.
func firstServer(ctx context.Context, t *testing.T, dir string, log *slog.Logger) *Runtime {
	t.Helper()
	srv, err := Prepare(ctx, Config{
		DataDir: dir, Init: true, NodeName: "s1", Advertise: "127.0.0.1", APIPort: freePort(t),
		EtcdClientPort: freePort(t), EtcdPeerPort: freePort(t), Log: log, AdminToken: "admin", ReadToken: "read",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestFirstServerAgentJoinAndPlacement runs the server side of a cluster
// for real (an embedded etcd member, the join endpoint over TLS) with an
// agent joining it: a token with another CA's hash and a revoked token
// are refused and write nothing; the agent joins with a good one,
// heartbeats through the server, and a three-replica service is placed
// over both nodes; the agent's long poll returns that placement, which its
// controller filter reads back.
func TestFirstServerAgentJoinAndPlacement(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := testLog()
	srv := firstServer(ctx, t, t.TempDir(), log)
	url := serveRoutes(t, srv)
	go func() { _ = srv.registerAndKeepAlive(ctx) }()

	good, err := srv.createToken("agent", 0)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := srv.createToken("agent", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.tokens().Revoke(revoked.ID); err != nil {
		t.Fatal(err)
	}
	agentCfg := func(dir, token string) Config {
		return Config{DataDir: dir, JoinAPI: url, JoinToken: token, NodeName: "a1", Advertise: "127.0.0.2",
			APIPort: freePort(t), Labels: map[string]string{"disk": "ssd"}, Log: log}
	}
	for name, tok := range map[string]string{
		"another CA": "ZL10" + strings.Repeat("0", 64) + good.Token[4+64:],
		"revoked":    revoked.Token,
	} {
		dir := t.TempDir()
		if _, err := Prepare(ctx, agentCfg(dir, tok)); err == nil {
			t.Fatalf("a join with a %s token was let in", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "cluster", "identity.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused join (%s) left an identity: %v", name, err)
		}
	}

	agent, err := Prepare(ctx, agentCfg(t.TempDir(), good.Token))
	if err != nil {
		t.Fatal(err)
	}
	if agent.Role() != "agent" || agent.state != nil {
		t.Fatalf("the agent is a %s with state %v", agent.Role(), agent.state)
	}
	if err := agent.agentReport(ctx, nil); err != nil {
		t.Fatal(err)
	}
	list, err := srv.nodeList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ready := map[string]string{}
	for _, n := range list.Nodes {
		ready[n.Name] = string(n.State)
	}
	if ready["a1"] != "ready" || list.Servers != 1 || list.Warning == "" {
		t.Fatalf("nodes after the join: %+v", list)
	}

	d, err := spec.Parse("shop.yaml", []byte("version: v1\ndeployment: shop\nservices:\n  web:\n    image: busybox\n    scale: {replicas: 3}\n"+
		"  db:\n    image: busybox\n    node_selector: {disk: ssd}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.state.Put(d, "src"); err != nil {
		t.Fatal(err)
	}
	// s1 is alive once its own lease is up.
	deadline := time.Now().Add(30 * time.Second)
	for {
		alive, _ := srv.state.Alive(ctx)
		if alive["s1"] && alive["a1"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes alive: %v", alive)
		}
		time.Sleep(50 * time.Millisecond)
	}
	lead, err := srv.state.Campaign(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.scheduleOnce(ctx, lead); err != nil {
		t.Fatal(err)
	}
	asg, _, err := srv.state.Assignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for k, a := range asg {
		per[k.Service+"@"+a.Node]++
	}
	if len(asg) != 4 || per["db@a1"] != 1 || per["web@s1"]+per["web@a1"] != 3 || per["web@s1"] == 0 || per["web@a1"] == 0 {
		t.Fatalf("placement: %v", per)
	}

	w, err := agent.agentWork(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Deployments) != 1 || len(w.Assignments) != 4 || len(w.Servers) != 1 {
		t.Fatalf("the agent's work: %+v", w)
	}
	// Each node has its own /24 of the default cluster CIDR; the work
	// lists both (the agent's claimed at its join, put into its record at
	// its first report), and the agent's peers are the server alone.
	if srv.subnet.String() != "10.244.0.0/24" || agent.subnet.String() != "10.244.1.0/24" {
		t.Fatalf("subnets: server %s, agent %s", srv.subnet, agent.subnet)
	}
	subs := map[string]string{}
	for _, s := range w.Subnets {
		subs[s.Node] = s.Subnet + " via " + s.Address
	}
	if subs["s1"] != "10.244.0.0/24 via 127.0.0.1" || subs["a1"] != "10.244.1.0/24 via 127.0.0.2" || len(subs) != 2 {
		t.Fatalf("the work's subnets: %v", subs)
	}
	if _, known := agent.Peers(); known {
		t.Error("peers known before any work was read")
	}
	v := agent.peerFeed.Version()
	agent.notePeers(w.Subnets)
	if p, known := agent.Peers(); !known || len(p) != 1 || p[0].Node != "s1" || p[0].Subnet.String() != "10.244.0.0/24" || p[0].Via.String() != "127.0.0.1" {
		t.Fatalf("the agent's peers: %+v", p)
	}
	if agent.peerFeed.Version() == v {
		t.Error("new peers published no change")
	}
	v = agent.peerFeed.Version()
	agent.notePeers(w.Subnets)
	if agent.peerFeed.Version() != v {
		t.Error("the same peers published a change")
	}
	if cn := agent.Network(); cn == nil || cn.Subnet != agent.subnet || cn.CIDR.String() != DefaultClusterCIDR {
		t.Fatalf("the agent's cluster network: %+v", cn)
	}
	if _, err := agent.place.update(w.Assignments, w.ReadyElsewhere); err != nil {
		t.Fatal(err)
	}
	if agent.place.Owner("shop", "db", 1) != reconcile.OwnerHere {
		t.Error("the agent does not run the db placed on it")
	}
	here := 0
	for i := 1; i <= 3; i++ {
		if agent.place.Owner("shop", "web", i) == reconcile.OwnerHere {
			here++
		}
	}
	if here != per["web@a1"] {
		t.Errorf("the agent runs %d web replicas, placed %d", here, per["web@a1"])
	}

	// The agent restarts from its identity alone.
	again, err := Prepare(ctx, Config{DataDir: agent.cfg.DataDir, Advertise: "127.0.0.2", APIPort: agent.cfg.APIPort, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if again.Name() != "a1" || again.cfg.Labels["disk"] != "ssd" || again.subnet != agent.subnet {
		t.Errorf("restarted agent: name %s labels %v subnet %s", again.Name(), again.cfg.Labels, again.subnet)
	}
	var id *clusterjoin.Identity
	if id, err = clusterjoin.LoadIdentity(filepath.Join(agent.cfg.DataDir, "cluster")); err != nil || id.CAKey != nil {
		t.Errorf("the agent's identity: %v (an agent holds no CA key: %v)", err, id != nil && id.CAKey != nil)
	}
}
