package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

func TestIsExecUpgrade(t *testing.T) {
	cases := []struct {
		conn, upgrade string
		want          bool
	}{
		{"Upgrade", "zlayer-exec", true},
		{"keep-alive, upgrade", "ZLayer-Exec", true},
		{"keep-alive", "zlayer-exec", false},
		{"Upgrade", "websocket", false},
		{"", "", false},
	}
	for _, c := range cases {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Connection", c.conn)
		r.Header.Set("Upgrade", c.upgrade)
		if got := isExecUpgrade(r); got != c.want {
			t.Errorf("Connection %q Upgrade %q: %v, want %v", c.conn, c.upgrade, got, c.want)
		}
	}
}

// Requests that cannot become a session are answered in plain HTTP, before
// any upgrade: a tty without the upgraded stream, an upgrade without its
// request header, and an upgrade into a replica that does not exist.
func TestInteractiveExecRefusals(t *testing.T) {
	_, srv := newServer(t)
	req := func(upgrade bool, header string) (int, string) {
		r, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/deployments/app/services/web/exec", strings.NewReader(`{"command":["sh"],"tty":true}`))
		r.Header.Set("Authorization", "Bearer sekrit")
		if upgrade {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", apitypes.ExecUpgrade)
		}
		if header != "" {
			r.Header.Set(apitypes.ExecHeader, header)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e apitypes.Error
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, e.Message
	}
	if code, msg := req(false, ""); code != 400 || !strings.Contains(msg, "tty needs the interactive exec") {
		t.Errorf("tty without upgrade: %d %q", code, msg)
	}
	if code, msg := req(true, ""); code != 400 || !strings.Contains(msg, apitypes.ExecHeader) {
		t.Errorf("upgrade without the request header: %d %q", code, msg)
	}
	if code, msg := req(true, "{"); code != 400 || !strings.Contains(msg, "invalid") {
		t.Errorf("upgrade with a broken request header: %d %q", code, msg)
	}
	if code, _ := req(true, `{"command":["sh"],"tty":true}`); code != 404 {
		t.Errorf("upgrade into an unknown deployment: %d, want 404", code)
	}
}
