package api

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/console"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/store"
)

// browser is a TLS client with a cookie jar, as a browser on the console
// page is: it sends the node's origin on writes.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string
}

func newConsoleServer(t *testing.T) (*Server, *changes.Feed, *browser) {
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	feed := &changes.Feed{}
	s := &Server{Store: st, Controller: reconcile.New(reconcile.Options{Store: st, Log: log}), Token: "sekrit", ReadToken: "peek",
		Log: log, Metrics: metrics.New(), Changes: feed}
	srv := httptest.NewTLSServer(s.Handler(true))
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.Jar, _ = cookiejar.New(nil)
	return s, feed, &browser{t: t, c: c, base: srv.URL}
}

func (b *browser) do(method, path, body string, hdr map[string]string) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if method != "GET" {
		req.Header.Set("Origin", b.base)
		req.Header.Set("Content-Type", "application/json")
	}
	if b.csrf != "" {
		req.Header.Set(console.CSRFHeader, b.csrf)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

func (b *browser) login(token string) (int, console.SessionInfo) {
	b.t.Helper()
	code, _, body := b.do("POST", "/ui/login", `{"token":"`+token+`"}`, nil)
	var si console.SessionInfo
	_ = json.Unmarshal([]byte(body), &si)
	b.csrf = si.CSRF
	return code, si
}

func TestConsoleLoginCookieAndCSRF(t *testing.T) {
	s, _, b := newConsoleServer(t)
	if code, _, body := b.do("GET", "/ui/", "", nil); code != 200 || !strings.Contains(body, "<") {
		t.Fatalf("page without login: %d %q", code, body)
	}
	if code, _ := b.login("wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _, _ := b.do("GET", "/v1/deployments", "", nil); code != 401 {
		t.Fatalf("API without a session: %d", code)
	}
	if code, _, _ := b.do("POST", "/ui/login", `{"token":"sekrit"}`, map[string]string{"Origin": "https://evil.example"}); code != 403 {
		t.Fatalf("login from another origin: %d", code)
	}
	code, _, _ := b.do("POST", "/ui/login", `{"token":"sekrit"}`, nil)
	if code != 200 {
		t.Fatalf("login: %d", code)
	}
	var cookie *http.Cookie
	for _, ck := range b.c.Jar.Cookies(mustURL(t, b.base)) {
		if ck.Name == console.CookieName {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie after login")
	}
	// The jar hides the attributes: read them off a fresh login's header.
	_, hdr, body := b.do("POST", "/ui/login", `{"token":"sekrit"}`, nil)
	sc := hdr.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	var si console.SessionInfo
	if err := json.Unmarshal([]byte(body), &si); err != nil || si.Scope != console.ScopeAdmin || si.CSRF == "" {
		t.Fatalf("login answer %q: %v", body, err)
	}
	b.csrf = si.CSRF
	if code, _, body := b.do("GET", "/ui/session", "", nil); code != 200 || !strings.Contains(body, si.CSRF) {
		t.Fatalf("session: %d %s", code, body)
	}
	if code, _, body := b.do("GET", "/v1/deployments", "", nil); code != 200 {
		t.Fatalf("API with the cookie: %d %s", code, body)
	}
	spec := `{"spec":"version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n"}`
	if code, _, body := b.do("POST", "/v1/deployments", spec, map[string]string{console.CSRFHeader: ""}); code != 403 || !strings.Contains(body, "CSRF") {
		t.Fatalf("write without the CSRF token: %d %s", code, body)
	}
	if code, _, body := b.do("POST", "/v1/deployments", spec, map[string]string{console.CSRFHeader: otherFirst(si.CSRF)}); code != 403 {
		t.Fatalf("write with a wrong CSRF token: %d %s", code, body)
	}
	if code, _, body := b.do("POST", "/v1/deployments", spec, map[string]string{"Origin": "https://evil.example"}); code != 403 || !strings.Contains(body, "origin") {
		t.Fatalf("write from another origin: %d %s", code, body)
	}
	if code, _, body := b.do("POST", "/v1/deployments", spec, map[string]string{"Origin": ""}); code != 403 {
		t.Fatalf("write without an Origin: %d %s", code, body)
	}
	if code, _, body := b.do("POST", "/v1/deployments", spec, nil); code != 201 {
		t.Fatalf("write with the CSRF token: %d %s", code, body)
	}
	if code, _, body := b.do("GET", "/v1/deployments/app/history", "", nil); code != 200 || !strings.Contains(body, "console:admin") {
		t.Errorf("history names the console session: %d %s", code, body)
	}
	// A bearer token wins over the cookie, and needs no CSRF token.
	req, _ := http.NewRequest(http.MethodDelete, b.base+"/v1/deployments/nope", nil)
	req.Header.Set("Authorization", "Bearer peek")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("read token with an admin cookie: %d", resp.StatusCode)
	}
	if code, _, _ := b.do("POST", "/ui/logout", "", nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := b.do("GET", "/v1/deployments", "", nil); code != 401 {
		t.Fatalf("API after logout: %d", code)
	}
	if n := s.console().Sessions.Len(); n != 1 {
		t.Errorf("sessions after one of two logged out: %d", n)
	}
}

func TestConsoleReadSession(t *testing.T) {
	_, _, b := newConsoleServer(t)
	code, si := b.login("peek")
	if code != 200 || si.Scope != console.ScopeRead {
		t.Fatalf("read login: %d %+v", code, si)
	}
	if code, _, _ := b.do("GET", "/v1/deployments", "", nil); code != 200 {
		t.Fatalf("read: %d", code)
	}
	if code, _, body := b.do("POST", "/v1/deployments", `{"spec":"x"}`, nil); code != 403 || !strings.Contains(body, "read-only") {
		t.Fatalf("write with a read session: %d %s", code, body)
	}
}

func TestDryRunStoresNothing(t *testing.T) {
	_, _, b := newConsoleServer(t)
	b.login("sekrit")
	spec := `{"file":"app.yaml","spec":"version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n"}`
	if code, _, body := b.do("POST", "/v1/deployments?dry_run=1", spec, nil); code != 200 || !strings.Contains(body, `"valid": true`) {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if code, _, _ := b.do("GET", "/v1/deployments/app", "", nil); code != 404 {
		t.Fatalf("a dry run stored the deployment: %d", code)
	}
	bad := `{"file":"app.yaml","spec":"version: v1\ndeployment: app\nservices:\n  web:\n    image: busybox\n    scale: {replicas: -2}\n"}`
	code, _, body := b.do("POST", "/v1/deployments?dry_run=1", bad, nil)
	if code != 422 || !strings.Contains(body, `"Line": 6`) {
		t.Fatalf("dry run of a broken spec: %d %s", code, body)
	}
}

func TestEventsStreamChanges(t *testing.T) {
	_, feed, b := newConsoleServer(t)
	b.login("peek")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, b.base+"/v1/events", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	events := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
		close(events)
	}()
	next := func() string {
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
			return ""
		}
	}
	if e := next(); e != `{"version":0}` {
		t.Fatalf("first event %q", e)
	}
	feed.Publish()
	feed.Publish()
	if e := next(); e != `{"version":2}` {
		t.Fatalf("after two changes %q", e)
	}
}

func TestRequestsCountedByRoute(t *testing.T) {
	_, _, b := newConsoleServer(t)
	b.login("sekrit")
	b.do("GET", "/v1/deployments", "", nil)
	b.do("GET", "/v1/deployments", "", nil)
	_, _, body := b.do("GET", "/metrics", "", nil)
	if !strings.Contains(body, `zlayer_api_requests_total{route="GET /v1/deployments"} 2`) {
		t.Fatalf("metrics:\n%s", body)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSpecSourceForEditing(t *testing.T) {
	_, _, b := newConsoleServer(t)
	b.login("peek")
	if code, _, _ := b.do("GET", "/v1/deployments/app/spec", "", nil); code != 404 {
		t.Fatalf("spec of an unknown deployment: %d", code)
	}
	b.login("sekrit")
	src := "version: v1\ndeployment: app\n# kept as written\nservices:\n  web:\n    image: busybox\n"
	body, _ := json.Marshal(map[string]string{"spec": src})
	if code, _, out := b.do("POST", "/v1/deployments", string(body), nil); code != 201 {
		t.Fatalf("apply: %d %s", code, out)
	}
	code, hdr, out := b.do("GET", "/v1/deployments/app/spec", "", nil)
	if code != 200 || out != src || !strings.HasPrefix(hdr.Get("Content-Type"), "application/yaml") {
		t.Fatalf("spec: %d %q %q", code, hdr.Get("Content-Type"), out)
	}
}

func TestConsolePageHeaders(t *testing.T) {
	_, _, b := newConsoleServer(t)
	code, hdr, body := b.do("GET", "/ui/", "", nil)
	if code != 200 || !strings.Contains(body, `src="/ui/assets/`) {
		t.Fatalf("page: %d %s", code, body)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if hdr.Get("Cache-Control") != "no-cache" {
		t.Errorf("page Cache-Control %q", hdr.Get("Cache-Control"))
	}
	i := strings.Index(body, `src="/ui/assets/`) + len(`src="`)
	asset := body[i : i+strings.IndexByte(body[i:], '"')]
	code, hdr, _ = b.do("GET", asset, "", nil)
	if code != 200 || !strings.Contains(hdr.Get("Cache-Control"), "immutable") || !strings.Contains(hdr.Get("Content-Type"), "javascript") {
		t.Errorf("asset %s: %d %v", asset, code, hdr)
	}
	if code, _, _ := b.do("GET", "/ui/session", "", nil); code != 401 {
		t.Errorf("session without a cookie: %d", code)
	}
}

// otherFirst is s with its first character changed.
func otherFirst(s string) string {
	if s[0] == '0' {
		return "1" + s[1:]
	}
	return "0" + s[1:]
}

func TestConsoleHost(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:3669": "localhost:3669", ":3669": "localhost:3669", "[::]:3669": "localhost:3669",
		"10.0.0.1:3669": "10.0.0.1:3669", "[fd00::1]:3669": "[fd00::1]:3669", "node.example:443": "node.example:443",
	} {
		if got := consoleHost(in); got != want {
			t.Errorf("consoleHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// forwardingCluster is an agent's Cluster as far as the console needs: it
// answers every /v1/ request itself, recording the console session's token
// the request carries to forward.
type forwardingCluster struct {
	Cluster
	tokens chan string
}

func (c *forwardingCluster) Routes(*http.ServeMux)                {}
func (c *forwardingCluster) Public(string) bool                   { return false }
func (c *forwardingCluster) PeerScope(*http.Request) (bool, bool) { return false, false }
func (c *forwardingCluster) Wrap(local http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			local.ServeHTTP(w, r)
			return
		}
		tok, _ := console.TokenFrom(r.Context())
		c.tokens <- tok
		w.WriteHeader(http.StatusAccepted)
	})
}

// TestConsoleChangeCarriesSessionToken: a console write that passed the
// CSRF and origin checks reaches the cluster's forwarder with the token
// its session was opened with; a read, and a refused write, carry none.
func TestConsoleChangeCarriesSessionToken(t *testing.T) {
	s, _, b := newConsoleServer(t)
	fc := &forwardingCluster{tokens: make(chan string, 1)}
	s.Cluster = fc
	srv := httptest.NewTLSServer(s.Handler(true))
	t.Cleanup(srv.Close)
	b.c = srv.Client()
	b.c.Jar, _ = cookiejar.New(nil)
	b.base = srv.URL
	if code, _ := b.login("sekrit"); code != 200 {
		t.Fatalf("login: %d", code)
	}
	if code, _, body := b.do("POST", "/v1/deployments/app/services/web/scale", `{"replicas":3}`, nil); code != 202 {
		t.Fatalf("console write: %d %s", code, body)
	}
	if tok := <-fc.tokens; tok != "sekrit" {
		t.Errorf("the forwarder got token %q with a console write", tok)
	}
	if code, _, _ := b.do("GET", "/v1/deployments", "", nil); code != 202 {
		t.Fatalf("console read: %d", code)
	}
	if tok := <-fc.tokens; tok != "" {
		t.Errorf("a console read carries token %q to forward", tok)
	}
	if code, _, _ := b.do("POST", "/v1/deployments", "{}", map[string]string{console.CSRFHeader: ""}); code != 403 {
		t.Fatalf("write without the CSRF token: %d", code)
	}
	select {
	case tok := <-fc.tokens:
		t.Errorf("a write refused for CSRF reached the forwarder (token %q)", tok)
	default:
	}
}
