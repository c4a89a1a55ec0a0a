package clusterstate

import (
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"

	"github.com/zlayer/zlayer/noderuntime/etcdmember"
	"github.com/zlayer/zlayer/noderuntime/pki"
)

// The tests run against real embedded etcd members on 127.0.0.1. One
// member serves the whole package; each test sees it through clients
// under a namespace of its own, so that tests run in parallel without
// seeing each other's keys. -short skips them.

var shared struct {
	once sync.Once
	ca   *pki.CA
	m    *etcdmember.Member
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if shared.m != nil {
		shared.m.Stop()
	}
	os.Exit(code)
}

func needEtcd(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("embedded etcd test skipped with -short")
	}
}

// quietLog drops etcd's log: the shared member outlives every test's log.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 8}))

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func memberConfig(t *testing.T, dir, name string, ca *pki.CA) etcdmember.Config {
	return etcdmember.Config{
		Dir:         dir,
		Name:        name,
		AdvertiseIP: net.IPv4(127, 0, 0, 1),
		ClientPort:  freePort(t),
		PeerPort:    freePort(t),
		CA:          ca,
		Logger:      quietLog,
	}
}

// member is the package's shared member, started by the first test that
// needs it.
func member(t *testing.T) (*etcdmember.Member, *pki.CA) {
	t.Helper()
	needEtcd(t)
	shared.once.Do(func() {
		shared.ca, shared.err = pki.NewCA("clusterstate test cluster")
		if shared.err != nil {
			return
		}
		// Not t.TempDir: the member outlives the test that started it.
		dir, err := os.MkdirTemp("", "clusterstate-etcd-")
		if err != nil {
			shared.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shared.m, shared.err = etcdmember.Start(ctx, memberConfig(t, dir, "shared", shared.ca), nil)
	})
	if shared.err != nil {
		t.Fatalf("shared etcd member: %v", shared.err)
	}
	return shared.m, shared.ca
}

// testClient is a client of the shared member that sees only the test's
// namespace.
func testClient(t *testing.T) *clientv3.Client {
	t.Helper()
	m, _ := member(t)
	return clientOf(t, m, "/test/"+strings.ReplaceAll(t.Name(), "/", "_")+"/")
}

func clientOf(t *testing.T, m *etcdmember.Member, ns string) *clientv3.Client {
	t.Helper()
	cli, err := m.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if ns != "" {
		cli.KV = namespace.NewKV(cli.KV, ns)
		cli.Watcher = namespace.NewWatcher(cli.Watcher, ns)
		cli.Lease = namespace.NewLease(cli.Lease, ns)
	}
	return cli
}

// newState is a State on a new client of the test's namespace: two of
// them in one test are two servers.
func newState(t *testing.T) *State {
	return NewWith(testClient(t), Options{Log: quietLog})
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 100 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// raw reads key (under Prefix) directly.
func raw(t *testing.T, ctx context.Context, s *State, key string) (value string, lease clientv3.LeaseID, found bool) {
	t.Helper()
	resp, err := s.Client().Get(ctx, Prefix+key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, false
	}
	return string(resp.Kvs[0].Value), clientv3.LeaseID(resp.Kvs[0].Lease), true
}

func count(t *testing.T, ctx context.Context, s *State, prefix string) int64 {
	t.Helper()
	resp, err := s.Client().Get(ctx, Prefix+prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// lastWrite is the newest modification among the test's own keys: the
// member's revision is shared with the tests running beside this one, so
// "nothing was written" is asked of the keys, not of the revision.
func lastWrite(t *testing.T, ctx context.Context, s *State) (rev, keys int64) {
	t.Helper()
	resp, err := s.Client().Get(ctx, Prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		rev = max(rev, kv.ModRevision)
	}
	return rev, resp.Count
}
