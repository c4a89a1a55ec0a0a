package network

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// fakePlugins makes a folder with executables named like the CNI plugins:
// Setup only checks they are there.
func fakePlugins(t *testing.T) string {
	dir := t.TempDir()
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSetupModes(t *testing.T) {
	plugins := fakePlugins(t)
	t.Setenv(EnvCNIPath, "")
	for _, c := range []struct {
		name   string
		config NetworkSection
		bridge bool
		mode   spec.NetworkMode
		err    string
	}{
		{"plugins found: bridge by default", NetworkSection{Config: Config{PluginDirs: []string{plugins}}}, true, ModeBridge, ""},
		{"config makes host the default", NetworkSection{DefaultMode: ModeHost, Config: Config{PluginDirs: []string{plugins}}}, true, ModeHost, ""},
		{"disabled", NetworkSection{Disabled: true}, false, ModeHost, ""},
		{"no plugins anywhere: host only", NetworkSection{}, false, ModeHost, ""},
		{"asked for bridge without plugins", NetworkSection{DefaultMode: ModeBridge}, false, "", "CNI plugins"},
		{"bad subnet", NetworkSection{Config: Config{PluginDirs: []string{plugins}, Subnet: "nope"}}, false, "", "subnet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := Setup(t.TempDir(), c.config, IngressSection{}, nil)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close(t.Context())
			if (n.Bridge != nil) != c.bridge || n.DefaultMode != c.mode {
				t.Fatalf("bridge %v mode %q, want %v %q", n.Bridge != nil, n.DefaultMode, c.bridge, c.mode)
			}
			if _, err := n.Networks().For(ModeBridge); (err == nil) != c.bridge {
				t.Fatalf("networks table: bridge available = %v", err == nil)
			}
			if _, err := n.Networks().For(ModeHost); err != nil {
				t.Fatal(err)
			}
		})
	}
	// CNI_PATH is searched.
	t.Setenv(EnvCNIPath, plugins)
	n, err := Setup(t.TempDir(), NetworkSection{}, IngressSection{}, nil)
	if err != nil || n.Bridge == nil {
		t.Fatalf("plugins on CNI_PATH not used: %v", err)
	}
}

func TestViewsFrom(t *testing.T) {
	d, err := spec.Parse("s.yaml", []byte("version: v1\ndeployment: shop\nservices:\n  web:\n    image: busybox\n"))
	if err != nil {
		t.Fatal(err)
	}
	views := ViewsFrom([]*store.Record{{Name: "shop", Spec: d}}, []reconcile.ReplicaStatus{
		{ID: "a", Deployment: "shop", Service: "web", Replica: 1, State: reconcile.StateReady, Address: "10.210.0.2"},
		{ID: "b", Deployment: "shop", Service: "web", Replica: 2, State: reconcile.StateUnhealthy, Address: "10.210.0.3"},
		{ID: "c", Deployment: "gone", Service: "web", Replica: 1, State: reconcile.StateReady, Address: "10.210.0.4"},
	}, nil)
	if len(views) != 1 || len(views[0].Replicas) != 2 || !views[0].Replicas[0].Ready || views[0].Replicas[1].Ready || views[0].Replicas[1].Index != 2 {
		t.Fatalf("views %+v", views)
	}
}

// TestViewsFromMergesRemote: a deployment's view holds the other nodes'
// replicas after its own, as given; those of a deployment this node does
// not know (yet) are left out.
func TestViewsFromMergesRemote(t *testing.T) {
	d, err := spec.Parse("s.yaml", []byte("version: v1\ndeployment: shop\nservices:\n  web:\n    image: busybox\n"))
	if err != nil {
		t.Fatal(err)
	}
	remote := []ingress.Replica{
		{ID: "r2", Deployment: "shop", Service: "web", Index: 2, Addr: "10.244.2.5", Ready: true, Node: "n2"},
		{ID: "r3", Deployment: "shop", Service: "web", Index: 3, Addr: "10.244.3.5", Ready: false, Node: "n3"},
		{ID: "rx", Deployment: "other", Service: "web", Index: 1, Addr: "10.244.3.6", Ready: true, Node: "n3"},
	}
	views := ViewsFrom([]*store.Record{{Name: "shop", Spec: d}}, []reconcile.ReplicaStatus{
		{ID: "l1", Deployment: "shop", Service: "web", Replica: 1, State: reconcile.StateReady, Address: "10.244.1.2"},
	}, remote)
	if len(views) != 1 {
		t.Fatalf("views %+v", views)
	}
	want := []ingress.Replica{
		{ID: "l1", Deployment: "shop", Service: "web", Index: 1, Addr: "10.244.1.2", Ready: true},
		remote[0], remote[1],
	}
	if !slices.Equal(views[0].Replicas, want) {
		t.Fatalf("replicas\n%+v\nwant\n%+v", views[0].Replicas, want)
	}
	// The ingress routes to the ready ones of both nodes.
	d.Services["web"].Endpoints = []spec.Endpoint{{Name: "http", Protocol: "http", Port: 8080, TargetPort: 80, Expose: "public"}}
	rs := ingress.Routes(d, views[0].Replicas)
	if len(rs) != 1 || len(rs[0].Backends) != 2 || rs[0].Backends[0].Addr != "10.244.1.2:80" || rs[0].Backends[1].Addr != "10.244.2.5:80" ||
		rs[0].Backends[0].Remote || !rs[0].Backends[1].Remote {
		t.Fatalf("routes %+v", rs)
	}
}

// TestSyncWritesDiscovery: bridge replicas find ready peers by name, and
// host-network services at the bridge gateway.
func TestSyncWritesDiscovery(t *testing.T) {
	b, err := NewBridge(Config{DataDir: t.TempDir(), PluginDirs: []string{fakePlugins(t)}, Subnet: "10.77.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := spec.Parse("s.yaml", []byte("version: v1\ndeployment: shop\nservices:\n  web:\n    image: busybox\n    network_mode: bridge\n  db:\n    image: busybox\n    network_mode: host\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Hosts().Prepare("web-1", "web-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Hosts().Attach("web-1", "shop", "web-1", "10.77.0.2"); err != nil {
		t.Fatal(err)
	}
	n := &Node{Bridge: b}
	if err := n.Sync([]View{{Spec: d, Replicas: []ingress.Replica{
		{ID: "web-1", Deployment: "shop", Service: "web", Index: 1, Addr: "10.77.0.2", Ready: true},
		{ID: "db-1", Deployment: "shop", Service: "db", Index: 1, Addr: "127.0.0.1", Ready: true},
		// Another node's: reached at that node's address, not the gateway.
		{ID: "db-2", Deployment: "shop", Service: "db", Index: 2, Addr: "192.0.2.7", Ready: true, Node: "n2"},
		{ID: "web-3", Deployment: "shop", Service: "web", Index: 3, Addr: "10.78.0.9", Ready: true, Node: "n2"},
	}}}); err != nil {
		t.Fatal(err)
	}
	hosts, err := os.ReadFile(b.Hosts().Path("web-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10.77.0.2\tweb web.shop\n", "10.77.0.1\tdb db.shop\n", "10.77.0.2\tweb-1\n", "192.0.2.7\tdb db.shop\n", "10.78.0.9\tweb web.shop\n"} {
		if !strings.Contains(string(hosts), want) {
			t.Errorf("hosts lacks %q:\n%s", want, hosts)
		}
	}
}

// TestClusterChangesMerge: the node's views move on with the reconciler's
// changes and with the other nodes' replicas alike.
func TestClusterChangesMerge(t *testing.T) {
	var local, remote changes.Feed
	cn := &ClusterNet{ReplicaChanges: &remote}
	src := cn.changes(t.Context(), &local)
	for name, f := range map[string]*changes.Feed{"local": &local, "remote": &remote} {
		v := src.Version()
		f.Publish()
		select {
		case <-src.After(v):
		case <-time.After(10 * time.Second):
			t.Fatalf("a %s change did not move the merged source", name)
		}
	}
	var none *ClusterNet
	if none.changes(t.Context(), &local) != changes.Source(&local) || none.remote() != nil {
		t.Fatal("outside a cluster the reconciler's changes are the source, with no remote replicas")
	}
}

func TestRequestSamples(t *testing.T) {
	m := metrics.New()
	m.CounterFunc(func() []metrics.Sample {
		return requestSamples([]ingress.RouteRequests{
			{Deployment: "shop", Service: "web", Endpoint: "http", Class: ingress.Class2xx, Count: 5},
			{Deployment: "shop", Service: "web", Endpoint: "http", Class: ingress.ClassError, Count: 1},
		})
	})
	var b strings.Builder
	m.Write(&b)
	want := "# TYPE zlayer_ingress_requests_total counter\n" +
		`zlayer_ingress_requests_total{code="2xx",deployment="shop",endpoint="http",service="web"} 5` + "\n" +
		`zlayer_ingress_requests_total{code="error",deployment="shop",endpoint="http",service="web"} 1` + "\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("metrics:\n%s\nwant\n%s", b.String(), want)
	}
}
