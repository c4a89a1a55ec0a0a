package api

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/runs"
	"github.com/zlayer/zlayer/noderuntime/store"
)

const runsSpec = `version: v1
deployment: app
services:
  web:
    image: busybox
  report:
    rtype: cron
    image: busybox
    schedule: "@hourly"
  migrate:
    rtype: job
    image: busybox
`

// TestRunsEndpoints: the runs of a job or cron service are listed (none
// yet: the controller is not started here); a service that is not one,
// or that is not there, is refused; a job is not scaled past one.
func TestRunsEndpoints(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	book, err := runs.OpenBook(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &Server{Store: st, Controller: reconcile.New(reconcile.Options{Store: st, Log: log, Runs: book}), Token: "sekrit", Log: log}
	srv := httptest.NewServer(s.Handler(true))
	t.Cleanup(srv.Close)
	tok := "sekrit"
	if code, m := do(t, "POST", srv.URL+"/v1/deployments", tok, "application/yaml", runsSpec); code != 201 {
		t.Fatalf("deploy: %d %v", code, m)
	}
	base := srv.URL + "/v1/deployments/app/services/"
	code, m := do(t, "GET", base+"report/runs", tok, "", "")
	if code != 200 || m["rtype"] != "cron" || m["schedule"] != "@hourly" || m["service"] != "report" {
		t.Fatalf("runs of a cron: %d %v", code, m)
	}
	if l, ok := m["runs"].([]any); !ok || len(l) != 0 {
		t.Fatalf("runs before any: %v", m["runs"])
	}
	for path, want := range map[string][2]any{
		"web/runs":  {400, "not_runnable"},
		"nope/runs": {404, "not_found"},
	} {
		for _, method := range []string{"GET", "POST"} {
			if code, m := do(t, method, base+path, tok, "", ""); code != want[0] || m["code"] != want[1] {
				t.Errorf("%s %s: %d %v, want %v", method, path, code, m, want)
			}
		}
	}
	if code, m := do(t, "POST", base+"migrate/scale", tok, "application/json", `{"replicas": 2}`); code != 400 || m["code"] != "bad_request" {
		t.Errorf("scale a job to 2: %d %v", code, m)
	}
	if code, m := do(t, "POST", base+"migrate/scale", tok, "application/json", `{"replicas": 0}`); code != 200 {
		t.Errorf("scale a job to 0: %d %v", code, m)
	}
}
