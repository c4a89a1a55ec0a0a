package reconcile

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Init steps wait for what they name: a service's ready replica by its
// name, a URL's status; a step that never succeeds fails the replica,
// unless it says warn or continue.
func TestInitStepsWaitAndFail(t *testing.T) {
	c := New(Options{Log: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	d := &spec.Deployment{Deployment: "shop", Services: map[string]*spec.Service{"db": {}, "api": {}}}
	step := func(uses string, with map[string]string, onFailure string) spec.InitStep {
		return spec.InitStep{ID: "s", Uses: uses, With: with, Timeout: spec.Duration(300 * time.Millisecond), OnFailure: onFailure}
	}
	r := &Replica{ID: "shop-api-0", Deployment: "shop", Service: "api"}
	run := func(steps ...spec.InitStep) error {
		return c.runInit(context.Background(), d, r, &spec.Service{ContainerOptions: spec.ContainerOptions{Init: spec.Init{Steps: steps}}})
	}
	tcpDB := step(spec.InitWaitTCP, map[string]string{"host": "db.shop", "port": port}, spec.OnTimeoutFail)
	// No replica of db yet: the wait times out, and fail fails.
	if err := run(tcpDB); err == nil || !strings.Contains(err.Error(), "no ready replica of db") {
		t.Errorf("db not ready: %v", err)
	}
	c.mu.Lock()
	c.replicas["shop-db-0"] = &Replica{ID: "shop-db-0", Deployment: "shop", Service: "db", State: StateReady, Addr: "127.0.0.1"}
	c.mu.Unlock()
	http204 := step(spec.InitWaitHTTP, map[string]string{"url": srv.URL + "/ready", "expect_status": "204"}, spec.OnTimeoutFail)
	if err := run(tcpDB, http204); err != nil {
		t.Errorf("db ready and the URL answering 204: %v", err)
	}
	if r.Message != "" {
		t.Errorf("message after init: %q", r.Message)
	}
	http200 := step(spec.InitWaitHTTP, map[string]string{"url": srv.URL, "expect_status": "200"}, spec.OnTimeoutFail)
	if err := run(http200); err == nil || !strings.Contains(err.Error(), "answered 204") {
		t.Errorf("want 200, got 204: %v", err)
	}
	http200.OnFailure = spec.OnTimeoutWarn
	if err := run(http200, tcpDB); err != nil {
		t.Errorf("on_failure warn: %v", err)
	}
}
