package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// The handlers that only touch the store run without containerd: the
// controller is never started here.
func newServer(t *testing.T) (*Server, *httptest.Server) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &Server{Store: st, Controller: reconcile.New(reconcile.Options{Store: st, Log: log}), Token: "sekrit", Log: log}
	srv := httptest.NewServer(s.Handler(true))
	t.Cleanup(srv.Close)
	return s, srv
}

func do(t *testing.T, method, url, token, ctype, body string) (int, map[string]any) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

const appSpec = "version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n"

func TestErrorsAndAuth(t *testing.T) {
	_, srv := newServer(t)
	if code, m := do(t, "GET", srv.URL+"/v1/deployments", "", "", ""); code != 401 || m["code"] != "unauthorized" {
		t.Errorf("no token: %d %v", code, m)
	}
	if code, _ := do(t, "GET", srv.URL+"/v1/deployments", "nope", "", ""); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := do(t, "GET", srv.URL+"/health/live", "", "", ""); code != 200 {
		t.Errorf("live: %d", code)
	}
	if code, m := do(t, "GET", srv.URL+"/v1/deployments/nope", "sekrit", "", ""); code != 404 || m["code"] != "not_found" || m["message"] == nil {
		t.Errorf("unknown: %d %v", code, m)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/json", "{bad"); code != 400 || m["code"] != "bad_request" {
		t.Errorf("bad JSON: %d %v", code, m)
	}
	code, m := do(t, "POST", srv.URL+"/v1/deployments?file=x.yaml", "sekrit", "application/yaml", "version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n    scale: {replicas: -2}\n    oops: 1\n")
	errs, _ := m["errors"].([]any)
	if code != 422 || m["code"] != "invalid_spec" || len(errs) != 2 || !strings.Contains(fmt.Sprint(m["message"]), "x.yaml:6:23") {
		t.Errorf("invalid spec: %d %v", code, m)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", strings.Replace(appSpec, "image: busybox", "image: busybox\n    network_mode: bridge", 1)); code != 422 || m["code"] != "unsupported" {
		t.Errorf("bridge: %d %v", code, m)
	}
	if code, _ := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", appSpec); code != 201 {
		t.Errorf("create: %d", code)
	}
	if code, _ := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", appSpec); code != 200 {
		t.Errorf("update: %d", code)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments/app/services/nope/scale", "sekrit", "application/json", `{"replicas": 2}`); code != 404 {
		t.Errorf("scale unknown service: %d %v", code, m)
	}
	if code, _ := do(t, "POST", srv.URL+"/v1/deployments/app/services/web/scale", "sekrit", "application/json", `{"replicas": -1}`); code != 400 {
		t.Errorf("scale -1: %d", code)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments/app/services/web/scale", "sekrit", "application/json", `{"replicas": 4}`); code != 200 || m["services"].([]any)[0].(map[string]any)["desired"].(float64) != 4 {
		t.Errorf("scale: %d %v", code, m)
	}
}

func TestConcurrentAppliesAreSerialized(t *testing.T) {
	s, srv := newServer(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Replace(appSpec, "image: busybox", fmt.Sprintf("image: busybox\n    env: {N: \"%d\"}", i), 1)
			if code, m := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", body); code != 200 && code != 201 {
				t.Errorf("apply: %d %v", code, m)
			}
		}()
	}
	wg.Wait()
	rec, err := s.Store.Get("app")
	if err != nil || rec.Generation != 20 {
		t.Fatalf("generation %v, want 20 (%v)", rec, err)
	}
}
