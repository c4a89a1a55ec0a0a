package ingress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// statusBackend answers every request with the status its path names
// (/404 -> 404), for counting responses by class.
func statusBackend(t *testing.T) Backend {
	t.Helper()
	addr := answerServer(t, func(w io.Writer, req *http.Request) error {
		code := 200
		_, _ = fmt.Sscanf(req.URL.Path, "/%d", &code)
		_, err := fmt.Fprintf(w, "HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nok", code)
		return err
	})
	return Backend{ID: "status", Addr: addr}
}

// requestsOf is g's counts of endpoint e by class.
func requestsOf(g *Ingress, e string) map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range g.Requests() {
		if r.Endpoint == e {
			out[r.Class] += r.Count
		}
	}
	return out
}

func TestRequestsCountedByClass(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) {
			g := newIngress(t, Options{NoFastPath: !fast})
			dead := Backend{ID: "dead", Addr: rawServer(t, func(c net.Conn) {})}
			port := freePort(t)
			routes := []Route{
				{Deployment: "d", Service: "s", Endpoint: "api", Protocol: HTTP, Port: port, Path: "/", Backends: []Backend{statusBackend(t)}},
				{Deployment: "d", Service: "s", Endpoint: "none", Protocol: HTTP, Port: port, Path: "/none"},
				{Deployment: "d", Service: "t", Endpoint: "broken", Protocol: HTTP, Port: port, Path: "/broken", Backends: []Backend{dead}},
			}
			if err := g.Update(routes); err != nil {
				t.Fatal(err)
			}
			c := &http.Client{}
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			// One connection: each request is counted before the next is read.
			for _, p := range []string{"/200", "/201", "/302", "/404", "/404", "/500", "/none", "/broken"} {
				code, _ := get(t, c, base+p, "")
				if p == "/none" && code != 503 || p == "/broken" && code != 502 {
					t.Errorf("GET %s: %d", p, code)
				}
			}
			if got, want := fmt.Sprint(requestsOf(g, "api")), fmt.Sprint(map[string]uint64{"2xx": 2, "3xx": 1, "4xx": 2, "5xx": 1}); got != want {
				t.Errorf("api's requests: %s, want %s", got, want)
			}
			if got := requestsOf(g, "none"); got["error"] != 1 || len(got) != 1 {
				t.Errorf("a route without replicas: %v, want 1 error", got)
			}
			if got := requestsOf(g, "broken"); got["error"] != 1 || len(got) != 1 {
				t.Errorf("a route whose replica hangs up: %v, want 1 error", got)
			}
			// A new route table keeps the counts of the routes it keeps.
			if err := g.Update(routes[:1]); err != nil {
				t.Fatal(err)
			}
			get(t, c, base+"/200", "")
			// The fast path counts once the client has its answer.
			deadline := time.Now().Add(5 * time.Second)
			for requestsOf(g, "api")["2xx"] != 3 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := requestsOf(g, "api")["2xx"]; got != 3 {
				t.Errorf("api's 2xx after an update: %d, want 3", got)
			}
			if got := requestsOf(g, "none"); len(got) != 0 {
				t.Errorf("a removed route still reported: %v", got)
			}
		})
	}
}

// BenchmarkFastPathRequest is one keep-alive request through the fast
// path to a replica that answers at once: the allocations per request are
// the ingress's (the client and the replica here allocate none per
// request once warm).
func BenchmarkFastPathRequest(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	replica := rawServer(b, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			// Every request of the benchmark arrives in one write and
			// fits in buf.
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
	port := oneRoute(b, newIngress(b, Options{}), HTTP, Backend{ID: "r", Addr: replica})
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /x HTTP/1.1\r\nHost: a.example\r\nUser-Agent: bench\r\n\r\n")
	got := make([]byte, len(resp))
	br := bufio.NewReader(c)
	do := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		// The ingress sends the replica's head as it is plus nothing: a
		// response of fixed length read whole.
		if _, err := io.ReadFull(br, got); err != nil {
			b.Fatal(err)
		}
		if string(got) != string(resp) {
			b.Fatalf("response %q, want %q", got, resp)
		}
	}
	do()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		do()
	}
}
