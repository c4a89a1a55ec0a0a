package etcdmember

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zlayer/zlayer/noderuntime/pki"
)

// These tests run real embedded etcd members on 127.0.0.1; they take a few
// seconds each (raft timing is the production one), so -short skips them.
func needEtcd(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("embedded etcd test skipped with -short")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testLog writes etcd's errors to the test log, and nothing
// once the test is over (etcd goroutines may outlive a member by a moment;
// t.Log then would panic).
type testLog struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func newLogger(t *testing.T) *slog.Logger {
	w := &testLog{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("etcd test cluster")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func memberConfig(t *testing.T, ca *pki.CA, lg *slog.Logger, name string) Config {
	return Config{
		Dir:         t.TempDir(),
		Name:        name,
		AdvertiseIP: net.IPv4(127, 0, 0, 1),
		ClientPort:  freePort(t),
		PeerPort:    freePort(t),
		CA:          ca,
		Logger:      lg,
	}
}

func start(t *testing.T, ctx context.Context, cfg Config, join *Join) *Member {
	t.Helper()
	m, err := Start(ctx, cfg, join)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

func client(t *testing.T, m *Member) *clientv3.Client {
	t.Helper()
	cli, err := m.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func get(t *testing.T, ctx context.Context, cli *clientv3.Client, key string) string {
	t.Helper()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// rssKiB is the process's resident set from /proc (0 where there is none).
func rssKiB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"))
			return n
		}
	}
	return 0
}

func TestSingleMemberRestartKeepsData(t *testing.T) {
	needEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ca, lg := newCA(t), newLogger(t)
	cfg := memberConfig(t, ca, lg, "one")

	before := rssKiB()
	m := start(t, ctx, cfg, nil)
	cli := client(t, m)
	for i := range 100 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/bulk/%03d", i), strings.Repeat("x", 1024)); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	if _, err := cli.Put(ctx, "/kept", "across restarts"); err != nil {
		t.Fatalf("put: %v", err)
	}
	if got := get(t, ctx, cli, "/kept"); got != "across restarts" {
		t.Fatalf("get /kept = %q", got)
	}
	if !m.IsLeader() {
		t.Fatal("the only member does not lead its cluster")
	}
	// For the goal of at most 80 MiB extra RSS on a server; a log
	// line, not an assertion (the race detector inflates it).
	t.Logf("RSS added by one embedded etcd member with 100 KiB written: %d KiB (%d -> %d)", rssKiB()-before, before, rssKiB())
	id := m.ID()
	cli.Close()
	m.Stop()

	// The restart reads the cluster from the data dir; no Join needed,
	// and the member keeps its id.
	r := start(t, ctx, cfg, nil)
	if r.ID() != id {
		t.Fatalf("restarted member has id %x, was %x", r.ID(), id)
	}
	if got := get(t, ctx, client(t, r), "/kept"); got != "across restarts" {
		t.Fatalf("after restart, get /kept = %q", got)
	}
}

func TestThreeMembersJoinAsLearnersAndSurviveLeaderStop(t *testing.T) {
	needEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ca, lg := newCA(t), newLogger(t)

	members := []*Member{start(t, ctx, memberConfig(t, ca, lg, "s1"), nil)}
	first := client(t, members[0])
	for _, name := range []string{"s2", "s3"} {
		cfg := memberConfig(t, ca, lg, name)
		join, err := AddLearner(ctx, first, cfg.Name, cfg.PeerURL())
		if err != nil {
			t.Fatal(err)
		}
		m := start(t, ctx, cfg, join)
		if !m.etcd.Server.IsLearner() {
			t.Fatalf("%s joined as a voter, want a learner", name)
		}
		if err := m.PromoteWhenCaughtUp(ctx); err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}

	list, err := first.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Members) != 3 {
		t.Fatalf("cluster has %d members, want 3", len(list.Members))
	}
	for _, m := range list.Members {
		if m.IsLearner {
			t.Fatalf("member %s is still a learner", m.Name)
		}
	}

	if _, err := client(t, members[1]).Put(ctx, "/written/on", "s2"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Member{members[0], members[2]} {
		// A linearizable read: it sees every write committed before it.
		if got := get(t, ctx, client(t, m), "/written/on"); got != "s2" {
			t.Fatalf("%s reads %q, want s2", m.cfg.Name, got)
		}
	}

	var leader *Member
	var rest []*Member
	for _, m := range members {
		if m.IsLeader() && leader == nil {
			leader = m
		} else {
			rest = append(rest, m)
		}
	}
	if leader == nil {
		t.Fatal("no member leads the cluster")
	}
	leader.Stop()

	// The two left elect a leader and take writes again; wait for that
	// with a bounded deadline rather than assume how long it takes.
	cli := client(t, rest[0])
	deadline := time.Now().Add(45 * time.Second)
	for {
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.Put(wctx, "/after/leader/stop", "ok")
		wcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write succeeded after the leader %s stopped: %v", leader.cfg.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := get(t, ctx, client(t, rest[1]), "/after/leader/stop"); got != "ok" {
		t.Fatalf("%s reads %q after the failover, want ok", rest[1].cfg.Name, got)
	}

	// The old leader restarts from its data dir alone and catches up on
	// the write it missed.
	back := start(t, ctx, leader.cfg, nil)
	if back.ID() != leader.ID() {
		t.Fatalf("restarted %s has id %x, was %x", leader.cfg.Name, back.ID(), leader.ID())
	}
	if got := get(t, ctx, client(t, back), "/after/leader/stop"); got != "ok" {
		t.Fatalf("restarted %s reads %q, want ok", leader.cfg.Name, got)
	}
}

func TestClientWithoutClusterCertRefused(t *testing.T) {
	needEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ca, lg := newCA(t), newLogger(t)
	m := start(t, ctx, memberConfig(t, ca, lg, "guarded"), nil)
	if _, err := client(t, m).Put(ctx, "/k", "v"); err != nil {
		t.Fatalf("client with a cluster certificate: %v", err)
	}

	good, err := ClientTLS(ca, "good")
	if err != nil {
		t.Fatal(err)
	}
	noCert := good.Clone()
	noCert.Certificates = nil
	foreign, err := ClientTLS(newCA(t), "intruder")
	if err != nil {
		t.Fatal(err)
	}
	// Trusts the member's CA but presents another CA's certificate.
	foreign.RootCAs = good.RootCAs

	for name, conf := range map[string]*tls.Config{"no certificate": noCert, "another CA's certificate": foreign} {
		cli, err := Dial(conf, lg, m.cfg.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = cli.Get(rctx, "/k")
		rcancel()
		cli.Close()
		if err == nil {
			t.Fatalf("client with %s read the member's data", name)
		}
		if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("client with %s: %v, want a TLS refusal", name, err)
		}
	}
}
