package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPullWatchStallsOnSilentRegistry: a registry that accepts connections
// and never answers fails the pull with a PullStalledError after the
// progress timeout, not never.
func TestPullWatchStallsOnSilentRegistry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 64)
	defer func() {
		ln.Close()
		for c := range held {
			c.Close()
		}
	}()
	go func() {
		defer close(held)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // held open, never answered
		}
	}()
	hosts := docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchAllHosts))
	ctx, r, done := watchPull(context.Background(), "img", 300*time.Millisecond, docker.NewResolver(docker.ResolverOptions{Hosts: hosts}))
	defer done()
	errc := make(chan error, 1)
	go func() {
		_, _, err := r.Resolve(ctx, ln.Addr().String()+"/library/busybox:latest")
		errc <- err
	}()
	select {
	case err := <-errc:
		var stalled *PullStalledError
		if !errors.As(context.Cause(ctx), &stalled) || err == nil {
			t.Fatalf("resolve against a silent registry: err %v, cause %v", err, context.Cause(ctx))
		}
		if !strings.Contains(stalled.Error(), "pull progress timeout") {
			t.Errorf("message: %s", stalled)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("resolve against a silent registry never ended")
	}
}

// TestPullWatchLetsSlowProgressThrough: a blob that keeps arriving, each
// byte well within the progress timeout, is fetched to its end however
// long it takes in all.
func TestPullWatchLetsSlowProgressThrough(t *testing.T) {
	const n = 12
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(n))
		w.WriteHeader(http.StatusOK)
		for range n {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	p := &progress{}
	f := &watchedFetcher{p: p, f: fetchFunc(func(ctx context.Context) (io.ReadCloser, error) {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	})}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	limit := 250 * time.Millisecond
	go func() {
		for ctx.Err() == nil {
			if p.stalled(limit) {
				cancel(&PullStalledError{After: limit})
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	rc, err := f.Fetch(ctx, ocispec.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || len(b) != n || context.Cause(ctx) != nil {
		t.Fatalf("slow fetch: %d bytes, %v, cause %v", len(b), err, context.Cause(ctx))
	}
	// Nothing in flight (unpacking, say) is not a stall.
	time.Sleep(2 * limit)
	if p.stalled(limit) {
		t.Fatal("idle pull counted as stalled")
	}
}

type fetchFunc func(ctx context.Context) (io.ReadCloser, error)

func (f fetchFunc) Fetch(ctx context.Context, _ ocispec.Descriptor) (io.ReadCloser, error) {
	return f(ctx)
}
