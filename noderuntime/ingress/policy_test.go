package ingress

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// seeBackend answers with what a replica is told: its name, the path as
// sent (escaped) and the X-Forwarded-* and Forwarded headers.
func seeBackend(t *testing.T, name string) Backend {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s for=%q host=%q proto=%q fwd=%q", name, r.URL.EscapedPath(),
			strings.Join(r.Header.Values("X-Forwarded-For"), "|"), strings.Join(r.Header.Values("X-Forwarded-Host"), "|"),
			strings.Join(r.Header.Values("X-Forwarded-Proto"), "|"), r.Header.Get("Forwarded"))
	}))
	t.Cleanup(s.Close)
	return Backend{ID: name, Addr: s.Listener.Addr().String()}
}

// rawGet sends head as is (no client library cleans it) and returns the
// status and body.
func rawGet(t *testing.T, port int, head string) (int, string) {
	t.Helper()
	c, br := dialPort(t, port)
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	resp, body := readResp(t, br, "GET")
	return resp.StatusCode, body
}

// bothPaths runs test against the fast path and against net/http (the
// fast path switched off): the rules must hold on both.
func bothPaths(t *testing.T, o Options, test func(t *testing.T, g *Ingress)) {
	for _, slow := range []bool{false, true} {
		name := "fast"
		if slow {
			name = "nethttp"
		}
		t.Run(name, func(t *testing.T) {
			o := o
			o.NoFastPath = slow
			g := newIngress(t, o)
			test(t, g)
			if slow && g.handoffs.Load() == 0 {
				t.Fatal("with the fast path off, net/http served nothing")
			}
			if !slow && g.handoffs.Load() != 0 && !t.Failed() {
				t.Logf("%d connections handed to net/http", g.handoffs.Load())
			}
		})
	}
}

func TestClientForwardedHeadersReplaced(t *testing.T) {
	spoof := "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\nX-Forwarded-Host: evil.example\r\n" +
		"X-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n"
	bothPaths(t, Options{}, func(t *testing.T, g *Ingress) {
		port := oneRoute(t, g, HTTP, seeBackend(t, "b"))
		_, body := rawGet(t, port, "GET /x HTTP/1.1\r\nHost: a.example\r\n"+spoof+"\r\n")
		want := `b /x for="127.0.0.1" host="a.example" proto="http" fwd=""`
		if body != want {
			t.Fatalf("replica was told\n%s\nwant\n%s", body, want)
		}
	})
}

func TestTrustedProxyForwardedHeadersAppended(t *testing.T) {
	o := Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}}
	bothPaths(t, o, func(t *testing.T, g *Ingress) {
		port := oneRoute(t, g, HTTP, seeBackend(t, "b"))
		_, body := rawGet(t, port, "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-For: 10.1.1.1\r\n"+
			"X-Forwarded-Host: shop.example\r\nX-Forwarded-Proto: https\r\nForwarded: for=192.0.2.1\r\n\r\n")
		want := `b /x for="192.0.2.1, 10.1.1.1, 127.0.0.1" host="shop.example" proto="https" fwd=""`
		if body != want {
			t.Fatalf("replica was told\n%s\nwant\n%s", body, want)
		}
		// A trusted proxy still cannot claim a made-up scheme.
		_, body = rawGet(t, port, "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Proto: gopher\r\n\r\n")
		if want := `b /x for="127.0.0.1" host="a.example" proto="http" fwd=""`; body != want {
			t.Fatalf("replica was told\n%s\nwant\n%s", body, want)
		}
	})
}

func TestForwardedHeadersFromUntrustedPeer(t *testing.T) {
	// Trusting some other network is not trusting this peer.
	o := Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	bothPaths(t, o, func(t *testing.T, g *Ingress) {
		port := oneRoute(t, g, HTTP, seeBackend(t, "b"))
		_, body := rawGet(t, port, "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 10.1.1.1\r\nX-Forwarded-Host: evil\r\n\r\n")
		if want := `b /x for="127.0.0.1" host="a.example" proto="http" fwd=""`; body != want {
			t.Fatalf("replica was told\n%s\nwant\n%s", body, want)
		}
	})
}

func TestPathsCleanedBeforeRouting(t *testing.T) {
	bothPaths(t, Options{}, func(t *testing.T, g *Ingress) {
		port := freePort(t)
		api, root := seeBackend(t, "api"), seeBackend(t, "root")
		if err := g.Update([]Route{
			{Deployment: "d", Service: "api", Endpoint: "e", Protocol: HTTP, Port: port, Path: "/api", Backends: []Backend{api}},
			{Deployment: "d", Service: "root", Endpoint: "e", Protocol: HTTP, Port: port, Backends: []Backend{root}},
		}); err != nil {
			t.Fatal(err)
		}
		for target, want := range map[string]string{
			"/api":                    "api /api",
			"/api/":                   "api /api/",
			"/api/x":                  "api /api/x",
			"/api/./x":                "api /api/x",
			"//api":                   "api /api",
			"/api//x":                 "api /api/x",
			"/api/x/..":               "api /api",
			"/apix":                   "root /apix",
			"/api/../admin":           "root /admin",
			"/api/x/../../admin":      "root /admin",
			"/api/..":                 "root /",
			"/api%2f..%2fadmin":       "root /admin",
			"/api/%2e%2e/admin":       "root /admin",
			"/api/%2E%2E%2Fadmin":     "root /admin",
			"/api/a%2Fb":              "api /api/a%2Fb", // clean as decoded: the escaping is passed on
			"/api/x?next=/../admin":   "api /api/x",
			"/./api/../../../etc/pwd": "root /etc/pwd",
		} {
			code, body := rawGet(t, port, "GET "+target+" HTTP/1.1\r\nHost: a\r\n\r\n")
			if code != 200 || !strings.HasPrefix(body, want+" ") {
				t.Errorf("%s: %d %q, want %q", target, code, body, want)
			}
		}
	})
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/": "/", "/a": "/a", "/a/": "/a/", "a/b": "/a/b", "/a/./b": "/a/b", "/a/../b": "/b",
		"/..": "/", "/a/..": "/", "//": "/", "/a//b/": "/a/b/", "/.a/..b/...": "/.a/..b/...", "/a/.": "/a",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
		if isCleanPath(in) != (in == want) || isCleanPath([]byte(in)) != (in == want) {
			t.Errorf("isCleanPath(%q) = %v", in, isCleanPath(in))
		}
	}
}

func TestPrefixOnSegmentBoundary(t *testing.T) {
	for _, c := range []struct {
		prefix, path string
		ok           bool
	}{
		{"/api", "/api", true}, {"/api", "/api/x", true}, {"/api", "/apix", false}, {"/api/", "/api/x", true},
		{"/api/", "/api", false}, {"", "/x", true}, {"/", "/x", true}, {"/a/b", "/a/bc", false},
	} {
		if pathMatch(c.prefix, c.path) != c.ok {
			t.Errorf("pathMatch(%q, %q) = %v", c.prefix, c.path, !c.ok)
		}
	}
}

func TestFastPathOff(t *testing.T) {
	g := newIngress(t, Options{NoFastPath: true})
	port := oneRoute(t, g, HTTP, seeBackend(t, "b"))
	c, br := dialPort(t, port)
	for i := range 3 {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, fmt.Sprintf("b /%d ", i)) {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// One connection, all of it served by net/http.
	if n := g.handoffs.Load(); n != 1 {
		t.Fatalf("%d connections handed to net/http, want 1", n)
	}
	g2 := newIngress(t, Options{})
	port2 := oneRoute(t, g2, HTTP, seeBackend(t, "b"))
	rawGet(t, port2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if n := g2.handoffs.Load(); n != 0 {
		t.Fatalf("fast path on: %d handoffs for a plain GET", n)
	}
}

func TestOneRetryPolicy(t *testing.T) {
	// A dead replica first in line: a GET and a small POST both reach the
	// live one on both paths (nothing was sent to the dead one); the dead
	// one is then skipped.
	bothPaths(t, Options{}, func(t *testing.T, g *Ingress) {
		dead := Backend{ID: "dead", Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		port := oneRoute(t, g, HTTP, dead, seeBackend(t, "live"))
		for i := range 4 {
			code, body := rawGet(t, port, fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
			if code != 200 || !strings.HasPrefix(body, "live ") {
				t.Fatalf("GET %d: %d %s", i, code, body)
			}
		}
		code, body := rawGet(t, port, "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n")
		if code != 200 || !strings.HasPrefix(body, "live ") {
			t.Fatalf("DELETE: %d %s", code, body)
		}
	})
}

// The rules cost the fast path no allocation: parsing a head (with a
// client's X-Forwarded-* to replace), checking its path and writing the
// head sent on reuse the connection's buffers.
func TestFastPathHeadAllocationFree(t *testing.T) {
	head := []byte("GET /api/x?q=1 HTTP/1.1\r\nHost: a.example\r\nUser-Agent: t\r\nX-Forwarded-For: 6.6.6.6\r\n" +
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n")
	trusted := trustedSet{netip.MustParsePrefix("10.0.0.0/8")}
	var r reqHead
	out := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		if parseRequestHead(head, &r) != nil {
			t.Fatal("declined")
		}
		out = appendOutHead(out[:0], head, &r, "192.0.2.7", trusted.trusts("192.0.2.7"), false)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request head", allocs)
	}
}

func BenchmarkFastPathHead(b *testing.B) {
	head := []byte("GET /api/x?q=1 HTTP/1.1\r\nHost: a.example\r\nUser-Agent: bench\r\nAccept: */*\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
	var r reqHead
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	for range b.N {
		_ = parseRequestHead(head, &r)
		out = appendOutHead(out[:0], head, &r, "192.0.2.7", false, false)
	}
}
