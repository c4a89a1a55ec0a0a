package ingress

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoBackend answers with what it saw, so the tests can check what the
// ingress sent on.
func echoBackend(t *testing.T) (*httptest.Server, Backend) {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "3")
			return
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		case "/blob", "/blob-chunked":
			if r.URL.Path == "/blob" {
				w.Header().Set("Content-Length", fmt.Sprint(len(blob)))
			}
			for off := 0; off < len(blob); off += 100 << 10 {
				w.Write(blob[off:min(off+100<<10, len(blob))])
				w.(http.Flusher).Flush()
			}
			return
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprintf(w, "%s %s len=%d body=%s xff=%s", r.Method, r.URL.RequestURI(), len(body), trunc(body), r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(s.Close)
	return s, Backend{ID: "echo", Addr: s.Listener.Addr().String()}
}

// blob is a body large enough to leave the buffers for the bulk copy, with
// content that shows any byte out of place.
var blob = func() []byte {
	b := make([]byte, 5<<20+7)
	x := uint32(1)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}()

func trunc(b []byte) string {
	if len(b) > 16 {
		return string(b[:16]) + "..."
	}
	return string(b)
}

func oneRoute(t testing.TB, g *Ingress, proto string, b ...Backend) int {
	t.Helper()
	port := freePort(t)
	if err := g.Update([]Route{{Deployment: "d", Service: "s", Endpoint: "e", Protocol: proto, Port: port, Backends: b}}); err != nil {
		t.Fatal(err)
	}
	return port
}

// rawServer serves each connection with handle (then closes it), for
// replicas that misbehave in ways net/http would not.
func rawServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// answerServer is a replica of raw bytes: answer writes the response to
// each request a connection brings, in turn, until it fails.
func answerServer(t testing.TB, answer func(w io.Writer, req *http.Request) error) string {
	t.Helper()
	return rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil || answer(c, req) != nil {
				return
			}
		}
	})
}

func dialPort(t *testing.T, port int) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readResp(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestFastPathOnOneConnection(t *testing.T) {
	g := newIngress(t, Options{})
	_, b := echoBackend(t)
	port := oneRoute(t, g, HTTP, b)
	c, br := dialPort(t, port)
	// Three requests pipelined in one write, one with a body, then a
	// chunked upload (handed to net/http with the bytes already read),
	// then another plain request on the same connection.
	io.WriteString(c, "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"+
		"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"+
		"HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, want := range []struct{ method, body string }{
		{"GET", "GET /a?x=1 len=0 body= xff=127.0.0.1"},
		{"POST", "POST /b len=5 body=hello xff=127.0.0.1"},
		{"HEAD", ""},
	} {
		resp, body := readResp(t, br, want.method)
		if resp.StatusCode != http.StatusOK || body != want.body {
			t.Fatalf("%s: %d %q, want %q", want.method, resp.StatusCode, body, want.body)
		}
		if want.method == "HEAD" && resp.ContentLength <= 0 {
			t.Fatalf("HEAD lost its Content-Length: %d", resp.ContentLength)
		}
	}
	if n := g.handoffs.Load(); n != 0 {
		t.Fatalf("%d connections handed to net/http, want none yet", n)
	}
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	if resp, body := readResp(t, br, "POST"); resp.StatusCode != http.StatusOK || body != "POST /up len=5 body=abcde xff=127.0.0.1" {
		t.Fatalf("chunked upload: %d %q", resp.StatusCode, body)
	}
	io.WriteString(c, "GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "GET /after") {
		t.Fatalf("after hand-off: %d %q", resp.StatusCode, body)
	}
	if n := g.handoffs.Load(); n != 1 {
		t.Fatalf("%d hand-offs, want 1 (the chunked upload)", n)
	}
}

func TestFastPathResponseFraming(t *testing.T) {
	g := newIngress(t, Options{})
	_, b := echoBackend(t)
	port := oneRoute(t, g, HTTP, b)
	c, br := dialPort(t, port)
	io.WriteString(c, "GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := readResp(t, br, "GET")
	if body != "part0;part1;part2;" || resp.Trailer.Get("X-Sum") != "3" || len(resp.TransferEncoding) == 0 {
		t.Fatalf("chunked: %q trailer %v te %v", body, resp.Trailer, resp.TransferEncoding)
	}
	io.WriteString(c, "GET /empty HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusNoContent || body != "" {
		t.Fatalf("204: %d %q", resp.StatusCode, body)
	}
	// 103 Early Hints reach the client before the final response.
	io.WriteString(c, "GET /hints HTTP/1.1\r\nHost: h\r\n\r\n")
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 103") {
		t.Fatalf("first line %q, want the 103", line)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "GET /hints") {
		t.Fatalf("after 103: %d %q", resp.StatusCode, body)
	}
	// Large responses, by length and chunked, arrive intact, and the
	// connection stays usable after them.
	for _, path := range []string{"/blob", "/blob-chunked"} {
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || !bytes.Equal([]byte(body), blob) {
			t.Fatalf("%s: %d, %d bytes, intact=%v", path, resp.StatusCode, len(body), bytes.Equal([]byte(body), blob))
		}
	}
	io.WriteString(c, "GET /empty HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := readResp(t, br, "GET"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("after large bodies: %d", resp.StatusCode)
	}
	// A large upload, and one bigger than the fast path buffers (net/http
	// streams it).
	for _, n := range []int{60 << 10, 3 << 20} {
		payload := bytes.Repeat([]byte("z"), n)
		resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/big", port), "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("POST /big len=%d", n); !strings.HasPrefix(string(got), want) {
			t.Fatalf("%d byte upload: %q", n, got)
		}
	}
}

func TestFastPathHTTP10Replica(t *testing.T) {
	// A replica that answers HTTP/1.0 without a length and closes: the
	// client gets the whole body and is told the connection closes.
	addr := rawServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold school")
		}
	})
	g := newIngress(t, Options{})
	port := oneRoute(t, g, HTTP, Backend{ID: "old", Addr: addr})
	c, br := dialPort(t, port)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := readResp(t, br, "GET")
	if body != "old school" || !resp.Close {
		t.Fatalf("%q close=%v", body, resp.Close)
	}
}

func TestFastPathStreamsAsProduced(t *testing.T) {
	next := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		<-next
		io.WriteString(w, "second")
	}))
	defer s.Close()
	g := newIngress(t, Options{})
	port := oneRoute(t, g, HTTP, Backend{ID: "s", Addr: s.Listener.Addr().String()})
	c, br := dialPort(t, port)
	io.WriteString(c, "GET /events HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first;" {
		t.Fatalf("first part %q %v (held back by the ingress?)", buf, err)
	}
	close(next)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" {
		t.Fatalf("rest %q", rest)
	}
}

func TestFastPathStalePooledConnection(t *testing.T) {
	// The replica closes keep-alive connections after each response
	// without saying so; GETs must not see it.
	addr := rawServer(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			time.Sleep(20 * time.Millisecond)
		}
	})
	g := newIngress(t, Options{})
	port := oneRoute(t, g, HTTP, Backend{ID: "rude", Addr: addr})
	c, br := dialPort(t, port)
	for i := range 5 {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHTTPSFastPathAndH2(t *testing.T) {
	g := newIngress(t, Options{DataDir: t.TempDir()})
	_, b := echoBackend(t)
	port := oneRoute(t, g, HTTPS, b)
	url := fmt.Sprintf("https://127.0.0.1:%d/x", port)
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		c := &http.Client{Transport: tr}
		for range 3 {
			resp, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "GET /x") || (resp.ProtoMajor == 2) != h2 {
				t.Fatalf("h2=%v: %s %d %q", h2, resp.Proto, resp.StatusCode, body)
			}
		}
		if n := g.handoffs.Load(); (n > 0) != h2 {
			t.Fatalf("h2=%v: %d hand-offs (https/1.1 stays on the fast path, h2 goes to net/http)", h2, n)
		}
		tr.CloseIdleConnections()
	}
}

func TestShutdownClosesIdleKeepAlive(t *testing.T) {
	g, err := New(Options{ListenHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	_, b := echoBackend(t)
	port := oneRoute(t, g, HTTP, b)
	c, br := dialPort(t, port)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	readResp(t, br, "GET")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Close waited %v for an idle keep-alive connection", time.Since(start))
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("idle connection still open after Close")
	}
}

func TestFastPathCancelsWhenClientLeaves(t *testing.T) {
	// A long poll whose client hangs up: the replica sees its request
	// cancelled, as it would behind net/http's ReverseProxy.
	cancelled := make(chan struct{}, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/poll" {
			select {
			case <-r.Context().Done():
				cancelled <- struct{}{}
			case <-time.After(20 * time.Second):
			}
			return
		}
		time.Sleep(1500 * time.Millisecond) // slow, but the client waits
		io.WriteString(w, "slow answer")
	}))
	defer s.Close()
	g := newIngress(t, Options{})
	port := oneRoute(t, g, HTTP, Backend{ID: "s", Addr: s.Listener.Addr().String()})
	// A slow answer to a client that stays, with a pipelined request
	// arriving while it waits: both answered, in order.
	c, br := dialPort(t, port)
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(1200 * time.Millisecond)
	io.WriteString(c, "GET /slow2 HTTP/1.1\r\nHost: h\r\n\r\n")
	for i := range 2 {
		if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || body != "slow answer" {
			t.Fatalf("slow answer %d: %d %q", i, resp.StatusCode, body)
		}
	}
	c2, _ := dialPort(t, port)
	io.WriteString(c2, "GET /poll HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(1500 * time.Millisecond)
	c2.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the replica's request was not cancelled after the client left")
	}
}

func TestWebsocketOverTLSAfterFastRequests(t *testing.T) {
	// A TLS connection serves a plain request on the fast path, then
	// upgrades: it moves to net/http mid-stream, and the replica still
	// learns the client spoke https.
	ws := wsEcho(t,
		func(r *http.Request) string { return "proto " + r.Header.Get("X-Forwarded-Proto") + "\n" },
		func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "plain "+r.Header.Get("X-Forwarded-Proto"))
		})
	g := newIngress(t, Options{DataDir: t.TempDir()})
	port := oneRoute(t, g, HTTPS, Backend{ID: "ws", Addr: ws.Listener.Addr().String()})
	c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK || body != "plain https" {
		t.Fatalf("fast path over TLS: %d %q", resp.StatusCode, body)
	}
	io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "proto https\n" {
		t.Fatalf("replica saw %q after the hand-off, want https", line)
	}
	io.WriteString(c, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo hello\n" {
		t.Fatalf("echo %q", line)
	}
	if n := g.handoffs.Load(); n != 1 {
		t.Fatalf("%d hand-offs, want 1", n)
	}
}

func TestReplicaConnectionsEnd(t *testing.T) {
	// Pooled keep-alive connections to replicas end when idle too long,
	// and with the ingress.
	var open atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	s.Start()
	defer s.Close()
	use := func(g *Ingress) {
		t.Helper()
		port := oneRoute(t, g, HTTP, Backend{ID: "s", Addr: s.Listener.Addr().String()})
		if code, _ := get(t, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/", port), ""); code != 200 {
			t.Fatal(code)
		}
		if open.Load() == 0 {
			t.Fatal("no replica connection was kept for reuse")
		}
	}
	waitClosed := func(why string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for open.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := open.Load(); n != 0 {
			t.Fatalf("%d replica connections still open %s", n, why)
		}
	}
	use(newIngress(t, Options{UpstreamIdle: 300 * time.Millisecond}))
	waitClosed("after being idle")

	g, err := New(Options{ListenHost: "127.0.0.1"}) // idle for 90s by default
	if err != nil {
		t.Fatal(err)
	}
	use(g)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed("after Close")
}
