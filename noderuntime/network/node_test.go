package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestNewBridgeChecksConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{DataDir: t.TempDir(), Subnet: "10.1.0.0"}, "must be an IPv4 CIDR"},
		{Config{DataDir: t.TempDir(), Subnet: "10.1.0.0/30"}, "too small"},
		{Config{DataDir: t.TempDir(), Bridge: "a-very-long-bridge-name"}, "not a valid interface name"},
		{Config{DataDir: t.TempDir(), PluginDirs: []string{t.TempDir()}}, "CNI plugins bridge, host-local, loopback, portmap not found"},
		{Config{}, "data dir"},
	} {
		if _, err := NewBridge(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.cfg, err, c.want)
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// webSpec is deployment shop's bridge service web with endpoints (YAML
// flow mappings).
func webSpec(t *testing.T, endpoints ...string) *spec.Deployment {
	t.Helper()
	y := "version: v1\ndeployment: shop\nservices:\n  web:\n    image: busybox\n    network_mode: bridge\n    endpoints:\n"
	for _, e := range endpoints {
		y += "      - " + e + "\n"
	}
	d, err := spec.Parse("s.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSyncFeedsIngressReadyReplicas: public endpoints get routes with the
// ready replicas only; internal endpoints get none.
func TestSyncFeedsIngressReadyReplicas(t *testing.T) {
	target := freePort(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "web") })}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", target))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	public, internal := freePort(t), freePort(t)
	d := webSpec(t, fmt.Sprintf("{name: http, port: %d, target_port: %d, expose: public}", public, target),
		fmt.Sprintf("{name: admin, port: %d, target_port: %d}", internal, target))
	g, err := ingress.New(ingress.Options{ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(t.Context())
	n := &Node{Ingress: g}
	reps := []ingress.Replica{
		{ID: "web-1", Deployment: "shop", Service: "web", Index: 1, Addr: "127.0.0.1", Ready: false},
	}
	if err := n.Sync([]View{{Spec: d, Replicas: reps}}); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", public)
	status := func() int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(); s != 503 {
		t.Fatalf("not-ready replica: %d, want 503", s)
	}
	reps[0].Ready = true
	if err := n.Sync([]View{{Spec: d, Replicas: reps}}); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != 200 {
		t.Fatalf("ready replica: %d, want 200", s)
	}
	if g.Addr(internal) != nil {
		t.Fatal("internal endpoint published by the ingress")
	}
}

// TestRunSyncsOnChange: Run reads the views again once per published change,
// not on a timer (the fallback is out of reach here), and stops with ctx.
func TestRunSyncsOnChange(t *testing.T) {
	var feed changes.Feed
	calls := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	n := &Node{}
	go func() {
		defer close(done)
		n.Run(ctx, &feed, time.Hour, func() []View {
			calls <- struct{}{}
			return nil
		})
	}()
	<-calls // the first sync, at start
	for range 3 {
		feed.Publish()
		<-calls
	}
	cancel()
	<-done
}

// TestRunFallsBackToResync: without any change, Run still re-syncs every
// fallback, for state that changes behind the reconciler's back.
func TestRunFallsBackToResync(t *testing.T) {
	var feed changes.Feed
	calls := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go (&Node{}).Run(ctx, &feed, time.Millisecond, func() []View {
		select {
		case calls <- struct{}{}:
		case <-ctx.Done():
		}
		return nil
	})
	for range 3 {
		<-calls
	}
	if feed.Version() != 0 {
		t.Fatal("something published")
	}
}

// TestSyncPrefersOwnNodesReplicas: in a cluster a replica named with the
// node's own name is local to the ingress (which prefers it), another
// node's is remote, reached at its own address.
func TestSyncPrefersOwnNodesReplicas(t *testing.T) {
	target := freePort(t)
	serve := func(ip, name string) {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(target)))
		if err != nil {
			t.Skipf("listening on %s: %v", ip, err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	serve("127.0.0.1", "remote")
	serve("127.0.0.2", "local")
	public := freePort(t)
	d := webSpec(t, fmt.Sprintf("{name: http, port: %d, target_port: %d, expose: public}", public, target))
	g, err := ingress.New(ingress.Options{ListenHost: "127.0.0.1", PreferLocal: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(t.Context())
	n := &Node{Ingress: g, cluster: &ClusterNet{Node: "n1"}}
	reps := []ingress.Replica{
		{ID: "web-2", Deployment: "shop", Service: "web", Index: 2, Addr: "127.0.0.1", Ready: true, Node: "n2"},
		{ID: "web-1", Deployment: "shop", Service: "web", Index: 1, Addr: "127.0.0.2", Ready: true, Node: "n1"},
	}
	if err := n.Sync([]View{{Spec: d, Replicas: reps}}); err != nil {
		t.Fatal(err)
	}
	if reps[1].Node != "n1" {
		t.Fatal("Sync changed the caller's replicas")
	}
	for i := range 6 {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", public))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "local" {
			t.Fatalf("request %d answered by %q, want the local replica", i, b)
		}
	}
}
