package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/metrics"
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

// A body one byte over its limit is refused with 413 and a JSON error, and
// the store is unchanged: never cut at the limit and applied.
func TestBodyOverLimitRefused(t *testing.T) {
	s, srv := newServer(t)
	s.Limits = Limits{MaxSpecBytes: 1000, MaxJSONBytes: 200}
	// A valid spec padded with a comment: cut anywhere, it still parses.
	pad := func(n int) string {
		return appSpec + "#" + strings.Repeat("x", n-len(appSpec)-2) + "\n"
	}
	if len(pad(1001)) != 1001 {
		t.Fatal(len(pad(1001)))
	}
	code, m := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", pad(1001))
	if code != 413 || m["code"] != "too_large" || m["message"] == nil {
		t.Errorf("YAML 1 byte over: %d %v", code, m)
	}
	js, _ := json.Marshal(apitypes.ApplyRequest{Spec: pad(1001)})
	if code, m := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/json", string(js)); code != 413 || m["code"] != "too_large" {
		t.Errorf("JSON spec 1 byte over: %d %v", code, m)
	}
	if _, err := s.Store.Get("app"); err == nil {
		t.Fatal("a spec over the limit was stored")
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", pad(1000)); code != 201 {
		t.Fatalf("spec at the limit: %d %v", code, m)
	}
	before, _ := s.Store.Get("app")
	// JSON with whitespace after the value: a decoder that stops at the
	// value would never see the limit.
	body := `{"replicas": 3}`
	body += strings.Repeat(" ", 201-len(body))
	if code, m := do(t, "POST", srv.URL+"/v1/deployments/app/services/web/scale", "sekrit", "application/json", body); code != 413 || m["code"] != "too_large" {
		t.Errorf("scale 1 byte over: %d %v", code, m)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments/app/services/web/scale", "sekrit", "application/json", `{"replicas": 3} {"replicas": 4}`); code != 400 {
		t.Errorf("two JSON values: %d %v", code, m)
	}
	if after, _ := s.Store.Get("app"); after.Generation != before.Generation {
		t.Errorf("refused scale changed the store: generation %d -> %d", before.Generation, after.Generation)
	}
	s.Limits.MaxImportBytes = 10
	if code, m := do(t, "POST", srv.URL+"/v1/images/import", "sekrit", "application/x-tar", strings.Repeat("x", 11)); code != 413 || m["code"] != "too_large" {
		t.Errorf("import 1 byte over: %d %v", code, m)
	}
}

func TestReadTokenOnlyReads(t *testing.T) {
	s, srv := newServer(t)
	s.ReadToken = "reader"
	s.Metrics = metrics.New()
	if code, _ := do(t, "POST", srv.URL+"/v1/deployments", "sekrit", "application/yaml", appSpec); code != 201 {
		t.Fatalf("admin apply: %d", code)
	}
	for _, p := range []string{"/v1/deployments", "/v1/deployments/app", "/v1/replicas", "/metrics"} {
		if code, _ := do(t, "GET", srv.URL+p, "reader", "", ""); code != 200 {
			t.Errorf("read token GET %s: %d", p, code)
		}
	}
	for _, c := range [][3]string{
		{"POST", "/v1/deployments", appSpec},
		{"DELETE", "/v1/deployments/app", ""},
		{"POST", "/v1/deployments/app/services/web/scale", `{"replicas": 2}`},
		{"POST", "/v1/deployments/app/services/web/exec", `{"command": ["id"]}`},
		{"POST", "/v1/images/import", "x"},
	} {
		if code, m := do(t, c[0], srv.URL+c[1], "reader", "application/json", c[2]); code != 403 || m["code"] != "forbidden" {
			t.Errorf("read token %s %s: %d %v", c[0], c[1], code, m)
		}
	}
	if rec, _ := s.Store.Get("app"); rec == nil || rec.Generation != 1 {
		t.Errorf("the read token changed the store: %+v", rec)
	}
	if code, _ := do(t, "GET", srv.URL+"/v1/deployments", "readerx", "", ""); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
}

func TestLooseTokenFileRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	tok, err := LoadOrCreateToken(p)
	if err != nil || len(tok) != 64 {
		t.Fatalf("create: %q %v", tok, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("new token file mode %v", st.Mode())
	}
	if again, err := LoadOrCreateToken(p); err != nil || again != tok {
		t.Errorf("reload: %v", err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadOrCreateToken(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("token file 0644: %v", err)
	}
}
