package apiclient

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api/apitest"
	"github.com/zlayer/zlayer/noderuntime/changes"
)

func TestWatchFollowsVersions(t *testing.T) {
	feed := &changes.Feed{}
	srv := httptest.NewServer(apitest.Server(t, feed).Handler(true))
	defer srv.Close()
	cl, err := New(srv.URL, apitest.Token)
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
