package clusterstate

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zlayer/zlayer/noderuntime/secrets"
)

// The values are odd enough that finding one in etcd is no accident.
const (
	secretA = "cluster-secret-value-3f9c1e"
	secretB = "cluster-secret-other-7d02ab"
)

func testKey(t *testing.T) secrets.Key {
	t.Helper()
	k, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// noValueIn fails when any key of the test's namespace holds one of the
// values in the clear.
func noValueIn(t *testing.T, s *State, values ...string) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	resp, err := s.Client().Get(ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		t.Fatal("the namespace is empty: nothing was looked at")
	}
	for _, kv := range resp.Kvs {
		for _, v := range values {
			if bytes.Contains(kv.Value, []byte(v)) || bytes.Contains(kv.Key, []byte(v)) {
				t.Errorf("%s holds a value in the clear", kv.Key)
			}
		}
	}
}

func TestSecretsThroughEtcd(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s := newState(t).Secrets(key, func() time.Time { return now })
	// Another server, holding the same key.
	other := newState(t).Secrets(key, nil)

	i, err := s.Put("db-password", []byte(secretA))
	if err != nil {
		t.Fatal(err)
	}
	if i.Version != 1 || i.Size != len(secretA) || !i.Created.Equal(now) {
		t.Fatalf("first put: %+v", i)
	}
	v, ver, err := other.Value("db-password")
	if err != nil || string(v) != secretA || ver != 1 {
		t.Fatalf("value through the other server: %q v%d %v", v, ver, err)
	}
	if i, err := other.Put("db-password", []byte(secretA)); err != nil || i.Version != 1 {
		t.Fatalf("the same value again: %+v %v (want version 1 kept)", i, err)
	}
	if i, err := other.Put("db-password", []byte(secretB)); err != nil || i.Version != 2 || !i.Created.Equal(now) {
		t.Fatalf("a new value: %+v %v", i, err)
	}
	if _, err := s.Put("tls-key", []byte(secretA)); err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions()
	if err != nil || len(vs) != 2 || vs["db-password"] != 2 || vs["tls-key"] != 1 {
		t.Fatalf("versions: %v %v", vs, err)
	}
	noValueIn(t, s.s, secretA, secretB)

	// A server whose key is not the cluster's opens nothing and
	// overwrites nothing.
	wrong := newState(t).Secrets(testKey(t), nil)
	if _, _, err := wrong.Value("db-password"); !errors.Is(err, secrets.ErrWrongKey) {
		t.Fatalf("value under another key: %v", err)
	}
	if _, err := wrong.Put("db-password", []byte("x")); !errors.Is(err, secrets.ErrWrongKey) {
		t.Fatalf("put under another key: %v", err)
	}

	for _, bad := range []struct {
		name  string
		value []byte
		want  error
	}{
		{"empty", nil, secrets.ErrEmpty},
		{"big", make([]byte, secrets.MaxValueBytes+1), secrets.ErrTooLarge},
	} {
		if _, err := s.Put(bad.name, bad.value); !errors.Is(err, bad.want) {
			t.Errorf("put %s: %v, want %v", bad.name, err, bad.want)
		}
	}
	if _, err := s.Put("../x", []byte("v")); err == nil {
		t.Error("a bad name was stored")
	}

	if err := other.Delete("tls-key"); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete("tls-key"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, _, err := s.Value("tls-key"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("value after delete: %v", err)
	}
	l, err := s.List()
	if err != nil || len(l) != 1 || l[0].Name != "db-password" || l[0].Version != 2 {
		t.Fatalf("list: %+v %v", l, err)
	}
}

// Two servers setting one secret at once: both make a version, the last
// one's value is the secret's.
func TestSecretsConcurrentPuts(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	a, b := newState(t).Secrets(key, nil), newState(t).Secrets(key, nil)
	var wg sync.WaitGroup
	infos := make([]secrets.Info, 2)
	errs := make([]error, 2)
	for i, x := range []*Secrets{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = x.Put("shared", []byte{'v', byte('0' + i)})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if infos[0].Version == infos[1].Version {
		t.Fatalf("both puts got version %d", infos[0].Version)
	}
	v, ver, err := a.Value("shared")
	if err != nil || ver != 2 {
		t.Fatalf("after both: %q v%d %v", v, ver, err)
	}
	last := 0
	if infos[1].Version == 2 {
		last = 1
	}
	if want := string([]byte{'v', byte('0' + last)}); string(v) != want {
		t.Errorf("value %q, want the later put's %q", v, want)
	}
}

// A single node's store moves in sealed as it is, under its own key.
func TestSecretsImportFromANode(t *testing.T) {
	t.Parallel()
	node := secrets.Open(t.TempDir())
	if _, err := node.Put("db-password", []byte(secretA)); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Put("taken", []byte(secretB)); err != nil {
		t.Fatal(err)
	}
	key, err := secrets.ReadKey(node.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	st := newState(t)
	x := st.Secrets(key, nil)
	if _, err := x.Put("taken", []byte("the cluster's")); err != nil {
		t.Fatal(err)
	}
	recs, err := node.Sealed()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 10*time.Second)
	done, err := st.ImportSecrets(ctx, recs)
	if err != nil || len(done) != 1 || done[0] != "db-password" {
		t.Fatalf("import: %v %v (a name the cluster has is the cluster's)", done, err)
	}
	if v, ver, err := x.Value("db-password"); err != nil || string(v) != secretA || ver != 1 {
		t.Fatalf("imported value: %q v%d %v", v, ver, err)
	}
	if v, _, _ := x.Value("taken"); string(v) != "the cluster's" {
		t.Errorf("import replaced the cluster's secret: %q", v)
	}
	noValueIn(t, st, secretA, secretB)
}
