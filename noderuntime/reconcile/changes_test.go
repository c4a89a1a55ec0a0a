package reconcile

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/health"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
)

func quietController(t *testing.T) (*Controller, *store.Store) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(Options{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}), st
}

// awaitState re-reads after every published change until cond holds: it
// returns only if each change it waits for was published.
func awaitState(t *testing.T, c *Controller, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // hang guard only
	defer cancel()
	for {
		v := c.Changes().Version()
		if cond() {
			return
		}
		if _, err := changes.Wait(ctx, c.Changes(), v); err != nil {
			t.Fatalf("no change published before %s", what)
		}
	}
}

// A deployment stored, its replicas created and failing, and a service
// held by its dependency each publish; a pass that changes nothing does not.
func TestPassPublishesStoreAndReplicaChanges(t *testing.T) {
	c, st := quietController(t)
	ctx := c.ctx(t.Context())
	if err := c.pass(ctx); err != nil {
		t.Fatal(err)
	}
	v := c.Changes().Version()
	if err := c.pass(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Changes().Version(); got != v {
		t.Fatalf("a pass over an unchanged store published (%d -> %d)", v, got)
	}
	// network_mode bridge is missing from this controller's networks, so
	// creating db fails without containerd, and web waits for db.
	d, err := spec.Parse("s.yaml", []byte(`version: v1
deployment: app
services:
  db:
    image: busybox
    network_mode: bridge
  web:
    image: busybox
    depends:
      - {service: db, condition: healthy, timeout: 1h}
`))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Put(d, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pass(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Changes().Version() == v {
		t.Fatal("a new deployment was not published")
	}
	awaitState(t, c, "db failed and web waited", func() bool {
		ds := c.Status(rec)
		var db, web ServiceStatus
		for _, s := range ds.Services {
			switch s.Name {
			case "db":
				db = s
			case "web":
				web = s
			}
		}
		return db.State == "failed" && len(db.Replicas) == 1 && web.State == "waiting" && web.Message != ""
	})
	// A later pass that finds nothing new publishes nothing.
	v = c.Changes().Version()
	if err := c.pass(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Changes().Version(); got != v {
		t.Fatalf("a pass that changed nothing published (%d -> %d)", v, got)
	}
	// A deployment gone from the store is published too.
	if err := st.Delete("app"); err != nil {
		t.Fatal(err)
	}
	recs, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	c.noteGenerations(recs)
	if c.Changes().Version() == v {
		t.Fatal("a deleted deployment was not published")
	}
}

func TestExitPublishes(t *testing.T) {
	c, _ := quietController(t)
	r := &Replica{ID: "x", State: StateRunning, PID: 7, spec: &spec.Service{RestartPolicy: spec.RestartPolicy{Kind: "no"}}}
	v := c.Changes().Version()
	c.mu.Lock()
	c.recordExit(r, 3, time.Now())
	c.mu.Unlock()
	if c.Changes().Version() == v || r.State != StateExited {
		t.Fatalf("exit: state %s, version %d -> %d", r.State, v, c.Changes().Version())
	}
}

// Health verdicts publish when they change what the API shows, not on every
// probe.
func TestHealthPublishesChangesOnly(t *testing.T) {
	c, _ := quietController(t)
	r := &Replica{ID: "x", State: StateRunning}
	step := func(st health.Status, wantState ReplicaState, wantPublish bool) {
		t.Helper()
		v := c.Changes().Version()
		c.recordHealth(r, st)
		if published := c.Changes().Version() != v; published != wantPublish || r.State != wantState {
			t.Fatalf("%+v: state %s published %v, want %s %v", st, r.State, published, wantState, wantPublish)
		}
	}
	step(health.Status{Healthy: true}, StateReady, true)
	step(health.Status{Healthy: true}, StateReady, false)
	step(health.Status{Healthy: false, LastError: "refused"}, StateUnhealthy, true)
	step(health.Status{Healthy: false, LastError: "refused"}, StateUnhealthy, false)
	step(health.Status{Healthy: false, LastError: "timeout"}, StateUnhealthy, true)

	// Without a check a started replica is ready at once, and says so.
	r = &Replica{ID: "y", State: StateRunning, spec: &spec.Service{}}
	v := c.Changes().Version()
	c.startHealth(t.Context(), r)
	if c.Changes().Version() == v || r.State != StateReady {
		t.Fatalf("no check: state %s, version %d -> %d", r.State, v, c.Changes().Version())
	}
}
