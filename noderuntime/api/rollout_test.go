package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

func getHistory(t *testing.T, url string) []apitypes.Generation {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/deployments/app/history", nil)
	req.Header.Set("Authorization", "Bearer sekrit")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var gens []apitypes.Generation
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &gens) != nil {
		t.Fatalf("history: %d %s", resp.StatusCode, b)
	}
	return gens
}

func TestHistoryRollbackRestart(t *testing.T) {
	_, srv := newServer(t)
	tok := "sekrit"
	if code, m := do(t, "POST", srv.URL+"/v1/deployments", tok, "application/yaml", appSpec); code != 201 {
		t.Fatalf("apply: %d %v", code, m)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments/app/services/web/scale", tok, "application/json", `{"replicas": 3}`); code != 200 {
		t.Fatalf("scale: %d %v", code, m)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments", tok, "application/yaml", strings.Replace(appSpec, "busybox", "busybox:1.36", 1)); code != 200 {
		t.Fatalf("apply: %d %v", code, m)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments/app/services/web/restart", tok, "", ""); code != 200 || m["generation"] != 4.0 {
		t.Fatalf("restart: %d %v", code, m)
	}
	code, m := do(t, "POST", srv.URL+"/v1/deployments/app/rollback", tok, "application/json", `{"to": 2}`)
	if code != 200 || m["generation"] != 5.0 {
		t.Fatalf("rollback: %d %v", code, m)
	}
	ro, _ := m["rollout"].(map[string]any)
	if ro["state"] != "rolled_back" || ro["from"] != 4.0 || ro["to"] != 2.0 {
		t.Errorf("rollback status: %v", m["rollout"])
	}
	gens := getHistory(t, srv.URL)
	var causes []string
	for _, g := range gens {
		causes = append(causes, string(g.Cause)+"/"+g.By)
	}
	want := "deploy/token:admin scale/token:admin deploy/token:admin restart/token:admin rollback/token:admin"
	if strings.Join(causes, " ") != want {
		t.Errorf("causes %q, want %q", strings.Join(causes, " "), want)
	}
	last := gens[len(gens)-1]
	if !last.Current || gens[0].Current || last.RolledBack == nil || last.RolledBack.To != 2 || last.SpecHash != gens[1].SpecHash {
		t.Errorf("last generation %+v (first hash %s)", last, gens[1].SpecHash)
	}
	for path, want := range map[string]int{
		"/v1/deployments/app/services/nope/restart": 404,
		"/v1/deployments/nope/services/web/restart": 404,
	} {
		if code, m := do(t, "POST", srv.URL+path, tok, "", ""); code != want {
			t.Errorf("%s: %d %v", path, code, m)
		}
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments/app/rollback", tok, "application/json", `{"to": 99}`); code != 409 || m["code"] != "no_generation" {
		t.Errorf("rollback to a future generation: %d %v", code, m)
	}
	if code, m := do(t, "POST", srv.URL+"/v1/deployments/app/rollback", tok, "application/json", `{"to": -1}`); code != 400 {
		t.Errorf("rollback to -1: %d %v", code, m)
	}
	if code, _ := do(t, "GET", srv.URL+"/v1/deployments/nope/history", tok, "", ""); code != 404 {
		t.Errorf("history of an unknown deployment: %d", code)
	}
}
