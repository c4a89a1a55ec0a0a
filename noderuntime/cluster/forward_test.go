package cluster

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/noderuntime/console"
)

func TestForwardAuth(t *testing.T) {
	withSession := func(r *http.Request) *http.Request {
		return r.WithContext(console.WithToken(r.Context(), "session-token"))
	}
	bearer := func(r *http.Request) *http.Request {
		r.Header.Set("Authorization", "Bearer user-token")
		return r
	}
	plain := func(r *http.Request) *http.Request { return r }
	for _, c := range []struct {
		name, method string
		public       bool
		prep         func(*http.Request) *http.Request
		auth         string
		ok           bool
	}{
		{"a change with a bearer token", http.MethodPost, false, bearer, "Bearer user-token", true},
		{"a console session's change", http.MethodPost, false, withSession, "Bearer session-token", true},
		{"a bearer token wins over a session", http.MethodDelete, false, func(r *http.Request) *http.Request { return bearer(withSession(r)) }, "Bearer user-token", true},
		{"a change with neither", http.MethodPost, false, plain, "", false},
		{"a public path", http.MethodPost, true, plain, "", true},
		{"a read", http.MethodGet, false, plain, "", true},
		// Reads stay on the agent's certificate: the session's token is
		// the agent's own, which the servers may not know.
		{"a console session's read", http.MethodGet, false, withSession, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.prep(httptest.NewRequest(c.method, "/v1/deployments", nil))
			auth, ok := forwardAuth(r, c.public)
			if auth != c.auth || ok != c.ok {
				t.Errorf("forwardAuth: %q %v, want %q %v", auth, ok, c.auth, c.ok)
			}
		})
	}
}

// TestAgentForwardsSessionChange has an agent forward a console session's
// change to a server: the server sees the session's token as the bearer
// token and not the agent's session cookie; other cookies pass.
func TestAgentForwardsSessionChange(t *testing.T) {
	type seen struct{ auth, cookies string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get("Authorization"), r.Header.Get("Cookie")}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	rt := &Runtime{servers: []string{srv.URL}, peers: &peerClient{tr: srv.Client().Transport.(*http.Transport)}}
	r := httptest.NewRequest(http.MethodPost, "/v1/deployments/demo/services/web/scale", strings.NewReader(`{"replicas":3}`))
	r.AddCookie(&http.Cookie{Name: console.CookieName, Value: "agent-session-id"})
	r.AddCookie(&http.Cookie{Name: "other", Value: "kept"})
	r = r.WithContext(console.WithToken(r.Context(), "session-token"))
	w := httptest.NewRecorder()
	rt.forwardToServer(w, r)
	if w.Code != http.StatusAccepted {
		t.Fatalf("forwarded change: %d %s", w.Code, w.Body)
	}
	s := <-got
	if s.auth != "Bearer session-token" || s.cookies != "other=kept" {
		t.Errorf("the server saw Authorization %q, Cookie %q", s.auth, s.cookies)
	}
	// Without a session or a token the agent refuses the change itself.
	w = httptest.NewRecorder()
	rt.forwardToServer(w, httptest.NewRequest(http.MethodPost, "/v1/deployments", strings.NewReader("{}")))
	if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "this node is an agent") {
		t.Errorf("a change without a token: %d %s", w.Code, w.Body)
	}
	select {
	case s := <-got:
		t.Errorf("a refused change reached the server: %+v", s)
	default:
	}
}
