package ingress

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Plain requests stay in the event loop; the first one it does not
// handle moves the connection to the goroutine path, which keeps it.
func TestEventLoopKeepsPlainRequests(t *testing.T) {
	g := newIngress(t, Options{})
	_, b := echoBackend(t)
	port := oneRoute(t, g, HTTP, b)
	c, br := dialPort(t, port)
	for i := range 50 {
		io.WriteString(c, "GET /p HTTP/1.1\r\nHost: h\r\n\r\nHEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /empty HTTP/1.1\r\nHost: h\r\n\r\n")
		for _, m := range []string{"GET", "HEAD", "GET"} {
			resp, body := readResp(t, br, m)
			if resp.StatusCode/100 != 2 || (m == "GET" && resp.StatusCode == 200 && body != "GET /p len=0 body= xff=127.0.0.1") {
				t.Fatalf("request %d %s: %d %q", i, m, resp.StatusCode, body)
			}
		}
	}
	if n := g.loopHandovers.Load(); n != 0 {
		t.Fatalf("%d connections left the event loop for plain requests", n)
	}
	// A chunked response: the loop hands it over with the head it read.
	io.WriteString(c, "GET /chunked HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != 200 || body != "part0;part1;part2;" || resp.Trailer.Get("X-Sum") != "3" {
		t.Fatalf("chunked: %d %q %v", resp.StatusCode, body, resp.Trailer)
	}
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /after") {
		t.Fatalf("pipelined after the hand-over: %d %q", resp.StatusCode, body)
	}
	if n := g.loopHandovers.Load(); n != 1 {
		t.Fatalf("%d hand-overs, want 1", n)
	}
	if n := g.handoffs.Load(); n != 0 {
		t.Fatalf("%d connections handed to net/http", n)
	}
	// A POST leaves the loop before it is sent, buffered request and all.
	c2, br2 := dialPort(t, port)
	io.WriteString(c2, "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
	if resp, body := readResp(t, br2, "POST"); resp.StatusCode != http.StatusOK || body != "POST /b len=2 body=hi xff=127.0.0.1" {
		t.Fatalf("post: %d %q", resp.StatusCode, body)
	}
	if n := g.loopHandovers.Load(); n != 2 {
		t.Fatalf("%d hand-overs, want 2", n)
	}
}
