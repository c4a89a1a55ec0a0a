package ingress

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
			if resp.StatusCode/100 != 2 || (m == "GET" && resp.StatusCode == http.StatusOK && body != "GET /p len=0 body= xff=127.0.0.1") {
				t.Fatalf("request %d %s: %d %q", i, m, resp.StatusCode, body)
			}
		}
	}
	if n := g.loopHandovers.Load(); n != 0 {
		t.Fatalf("%d connections left the event loop for plain requests", n)
	}
	// A chunked response: the loop hands it over with the head it read.
	io.WriteString(c, "GET /chunked HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || body != "part0;part1;part2;" || resp.Trailer.Get("X-Sum") != "3" {
		t.Fatalf("chunked: %d %q %v", resp.StatusCode, body, resp.Trailer)
	}
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "GET /after") {
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

// A client that half-closes after its request still gets the answer, and
// one that does not read a response the kernel cannot hold at once gets
// all of it when it does (the loop keeps the rest and holds the replica).
func TestEventLoopHalfCloseAndSlowReader(t *testing.T) {
	g := newIngress(t, Options{})
	body := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB: stays in the loop
	addr := answerServer(t, func(w io.Writer, req *http.Request) error {
		if req.URL.Path == "/big" {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
			_, err := w.Write(body)
			return err
		}
		_, err := io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err
	})
	port := oneRoute(t, g, HTTP, Backend{ID: "raw", Addr: addr})

	c, br := dialPort(t, port)
	io.WriteString(c, "GET /small HTTP/1.1\r\nHost: h\r\n\r\n")
	c.(*net.TCPConn).CloseWrite()
	if resp, got := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || got != "ok" {
		t.Fatalf("after a half-close: %d %q", resp.StatusCode, got)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after answering a half-closed client: %v", err)
	}

	c2, br2 := dialPort(t, port)
	// More than the sockets between the loop and the client hold.
	const n = 96
	var reqs strings.Builder
	for range n {
		reqs.WriteString("GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	}
	io.WriteString(c2, reqs.String())
	time.Sleep(200 * time.Millisecond) // the loop fills the socket and waits
	for i := range n {
		if resp, got := readResp(t, br2, "GET"); resp.StatusCode != http.StatusOK || got != string(body) {
			t.Fatalf("response %d to a slow reader: %d, %d bytes", i, resp.StatusCode, len(got))
		}
	}
	if n := g.loopHandovers.Load(); n != 0 {
		t.Fatalf("%d hand-overs, want none", n)
	}
	if g.loopPartialWrites.Load() == 0 {
		t.Fatal("the client's socket never filled: the test did not test waiting for a slow reader")
	}
}

// Closing the ingress frees its ports at once: the loops' descriptors of
// the listening socket are closed before Close returns.
func TestEventLoopCloseFreesPort(t *testing.T) {
	g := newIngress(t, Options{})
	_, b := echoBackend(t)
	port := oneRoute(t, g, HTTP, b)
	c, br := dialPort(t, port)
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK {
		t.Fatalf("before close: %d", resp.StatusCode)
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	ln.Close()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("idle keep-alive connection still open after Close")
	}
}
