package apiclient

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
)

func TestWatchFollowsVersions(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	feed := &changes.Feed{}
	s := &api.Server{Store: st, Controller: reconcile.New(reconcile.Options{Store: st, Log: log}), Token: "t", Log: log, Changes: feed}
	srv := httptest.NewServer(s.Handler(true))
	defer srv.Close()
	cl, err := New(srv.URL, "t")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := cl.Apply(ctx, "a.yaml", "version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n"); err != nil {
		t.Fatal(err)
	}
	feed.Publish()
	ds, v, err := cl.Watch(ctx, "app", 0, 0)
	if err != nil || v != 1 || ds.Name != "app" {
		t.Fatalf("immediate: %+v %d %v", ds, v, err)
	}
	type res struct {
		v   uint64
		err error
	}
	done := make(chan res, 1)
	go func() {
		_, v, err := cl.Watch(ctx, "app", 1, 5*time.Minute)
		done <- res{v, err}
	}()
	// Published before or while the poll waits, the change answers it.
	feed.Publish()
	if r := <-done; r.err != nil || r.v != 2 {
		t.Fatalf("long poll: %+v, want version 2", r)
	}
	if _, _, err := cl.Watch(ctx, "nope", 2, 5*time.Minute); !IsNotFound(err) {
		t.Fatalf("unknown deployment: %v", err)
	}
}
