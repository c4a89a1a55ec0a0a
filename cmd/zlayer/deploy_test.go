package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/api/apitest"
	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// TestDeployWaitFollowsChanges: the deploy wait asks once, then long-polls
// from each answer's version: one request per change, none on a timer, and
// the last poll lasts until the deadline.
func TestDeployWaitFollowsChanges(t *testing.T) {
	feed := &changes.Feed{}
	feed.Publish()
	// The controller never runs: the deployment never gets ready.
	h := apitest.Server(t, feed).Handler(true)
	var mu sync.Mutex
	var gets []string // each GET's since, "-" when it did not wait
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			q := r.URL.Query()
			since := "-"
			if q.Get("wait") != "" {
				since = q.Get("since")
			}
			mu.Lock()
			gets = append(gets, since)
			n := len(gets)
			mu.Unlock()
			// The first two polls find the state already moved on.
			if since != "-" && n <= 3 {
				feed.Publish()
			}
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	spec := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(spec, []byte("version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &DeployCmd{NodeFlags: NodeFlags{Host: srv.URL, Token: apitest.Token, KnownNodes: filepath.Join(t.TempDir(), "known")}, SpecArg: spec, Timeout: time.Second}
	err := c.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "not ready after") {
		t.Fatalf("deploy: %v, want not ready after the timeout", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(gets, " "), "- 1 2 3"; got != want {
		t.Fatalf("GETs since %q, want %q (one ask, then a long poll from each answer's version)", got, want)
	}
}

// A dry run has no node to ask, so a service without network_mode shows
// that the node decides, not a mode some node might not give it.
func TestDryRunPlanLeavesNetworkToTheNode(t *testing.T) {
	src := "version: v1\ndeployment: shop\nservices:\n" +
		"  web:\n    image: nginx\n    depends:\n      - service: db\n        condition: started\n" +
		"  db:\n    image: postgres\n    network_mode: bridge\n    scale: {replicas: 2}\n"
	d, err := spec.ParseWith("shop.yaml", []byte(src), spec.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printPlan(&out, "shop.yaml", d)
	want := "shop.yaml: valid; deployment shop:\n" +
		"  db: postgres, 2 replica(s), network bridge\n" +
		"  web: nginx, 1 replica(s), network default (node decides), after db (started)\n"
	if out.String() != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", out.String(), want)
	}
}
