package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

func port(t *testing.T, addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func TestChecks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	p := port(t, srv.Listener.Addr().String())
	ctx := context.Background()
	if err := Check(ctx, spec.Check{Type: "http", Port: p, Path: "/"}, "", nil); err != nil {
		t.Error(err)
	}
	if err := Check(ctx, spec.Check{Type: "http", Port: p, Path: "/bad"}, "", nil); err == nil {
		t.Error("503 passed")
	}
	if err := Check(ctx, spec.Check{Type: "http", Port: p, Path: "/", ExpectStatus: 204}, "", nil); err == nil {
		t.Error("expect_status ignored")
	}
	if err := Check(ctx, spec.Check{Type: "tcp", Port: p}, "", nil); err != nil {
		t.Error(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := port(t, l.Addr().String())
	l.Close()
	if err := Check(ctx, spec.Check{Type: "tcp", Port: closed}, "", nil); err == nil {
		t.Error("closed port passed")
	}
	var got []string
	exec := func(_ context.Context, cmd []string) (int, error) { got = cmd; return 1, nil }
	if err := Check(ctx, spec.Check{Type: "command", Command: spec.StringList{"test -f /x"}}, "", exec); err == nil || len(got) != 3 || got[0] != "/bin/sh" {
		t.Errorf("command check %v %v", err, got)
	}
}

func TestRunReportsTransitions(t *testing.T) {
	var ok atomic.Bool
	exec := func(context.Context, []string) (int, error) {
		if ok.Load() {
			return 0, nil
		}
		return 1, nil
	}
	h := &spec.Health{Interval: spec.Duration(20 * time.Millisecond), Timeout: spec.Duration(time.Second), Retries: 2,
		Check: spec.Check{Type: "command", Command: spec.StringList{"true"}}}
	ch := make(chan Status, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, h, "", exec, func(s Status) { ch <- s })
	if s := <-ch; s.Healthy {
		t.Fatal("healthy before success")
	}
	ok.Store(true)
	if s := <-ch; !s.Healthy {
		t.Fatal("not healthy after success")
	}
}
