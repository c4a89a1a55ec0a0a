package ingress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: still not so after 10s", what)
}

// closedByPeer reports whether the ingress closed c within 5s: reads end
// in end of stream or a reset, not a timeout (whatever the ingress said
// first, such as a 408, is skipped).
func closedByPeer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	return !isTimeout(err)
}

// dialFrom connects to port on 127.0.0.1 from the loopback address src.
func dialFrom(t *testing.T, src string, port int) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func askOK(t *testing.T, c net.Conn, br *bufio.Reader, path string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path)
	if resp, body := readResp(t, br, "GET"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
}

func TestHTTPConnectionCaps(t *testing.T) {
	bothPaths(t, Options{Limits: Limits{MaxConns: 4, MaxConnsPerSource: 3}}, func(t *testing.T, g *Ingress) {
		port := oneRoute(t, g, HTTP, seeBackend(t, "b"))
		type conn struct {
			c  net.Conn
			br *bufio.Reader
		}
		var held []conn
		for i := range 3 {
			c, br := dialFrom(t, "127.0.0.1", port)
			askOK(t, c, br, fmt.Sprint("/", i))
			held = append(held, conn{c, br})
		}
		// A fourth from the same source is over the per-source cap.
		over, _ := dialFrom(t, "127.0.0.1", port)
		if !closedByPeer(over) {
			t.Fatal("a connection over the per-source cap was not refused")
		}
		// Another source still gets the last place, then the listener is full.
		c4, br4 := dialFrom(t, "127.0.0.2", port)
		askOK(t, c4, br4, "/other-source")
		full, _ := dialFrom(t, "127.0.0.3", port)
		if !closedByPeer(full) {
			t.Fatal("a connection over the listener's cap was not refused")
		}
		// Those admitted keep working.
		for i, h := range held {
			askOK(t, h.c, h.br, fmt.Sprint("/again", i))
		}
		if st := g.Stats(); st.RefusedConns < 2 || st.Conns != 4 {
			t.Fatalf("stats %+v, want 2 refused and 4 open", st)
		}
		// A closed connection gives its place back.
		held[0].c.Close()
		eventually(t, "place given back", func() bool { return g.Stats().Conns == 3 })
		c5, br5 := dialFrom(t, "127.0.0.1", port)
		askOK(t, c5, br5, "/after")
	})
}

func TestHTTPSlowClientsCutOff(t *testing.T) {
	lim := Limits{HeaderTimeout: 300 * time.Millisecond, IdleTimeout: 400 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}
	bothPaths(t, Options{Limits: lim, DataDir: t.TempDir()}, func(t *testing.T, g *Ingress) {
		_, echo := echoBackend(t)
		port, sport := freePort(t), freePort(t)
		if err := g.Update([]Route{
			{Deployment: "d", Service: "s", Endpoint: "http", Protocol: HTTP, Port: port, Backends: []Backend{echo}},
			{Deployment: "d", Service: "s", Endpoint: "https", Protocol: HTTPS, Port: sport, Backends: []Backend{echo}},
		}); err != nil {
			t.Fatal(err)
		}

		// Connects and says nothing: gone after the header timeout, not
		// the idle one.
		for _, p := range []int{port, sport} {
			silent, _ := dialPort(t, p)
			start := time.Now()
			if !closedByPeer(silent) {
				t.Fatalf("port %d: a silent connection was kept", p)
			}
			t.Logf("silent connection closed after %v", time.Since(start))
		}

		// Slowloris: a head trickled a byte at a time never completes.
		slow, _ := dialPort(t, port)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			head := "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + strings.Repeat("a", 1000)
			for i := range len(head) {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := slow.Write([]byte{head[i]}); err != nil {
					return
				}
			}
		}()
		if !closedByPeer(slow) {
			t.Fatal("a slowloris client was kept")
		}

		// Idle keep-alive: closed after the idle timeout.
		idle, br := dialPort(t, port)
		askOK(t, idle, br, "/x")
		if !closedByPeer(idle) {
			t.Fatal("an idle keep-alive connection was kept")
		}

		// A client that stops reading a large response is cut off: its
		// place comes back although it never closes its side.
		eventually(t, "earlier connections gone", func() bool { return g.Stats().Conns == 0 })
		stuck, _ := dialPort(t, port)
		stuck.(*net.TCPConn).SetReadBuffer(4 << 10)
		fmt.Fprint(stuck, "GET /blob HTTP/1.1\r\nHost: a\r\n\r\n")
		eventually(t, "admitted", func() bool { return g.Stats().Conns == 1 })
		eventually(t, "non-reading client cut off", func() bool { return g.Stats().Conns == 0 })
		// Cut off, not finished: the response never arrived whole, and
		// the connection was reset (the kernel keeps no unsent megabytes
		// for it).
		_ = stuck.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.Copy(io.Discard, stuck)
		if n >= int64(len(blob)) || err == nil || isTimeout(err) {
			t.Fatalf("stuck client read %d of %d bytes, then %v; want a reset before the end", n, len(blob), err)
		}
	})
}

func TestTCPCapsAndIdle(t *testing.T) {
	g := newIngress(t, Options{Limits: Limits{MaxConns: 3, MaxConnsPerSource: 2, TCPIdle: 300 * time.Millisecond}})
	addr := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 100)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			c.Write(buf[:n])
		}
	})
	port := oneRoute(t, g, TCP, Backend{ID: "t", Addr: addr})
	echo := func(c net.Conn, msg string) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		b := make([]byte, len(msg))
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		if string(b) != msg {
			return fmt.Errorf("echo %q, want %q", b, msg)
		}
		return nil
	}
	a1, _ := dialFrom(t, "127.0.0.1", port)
	a2, _ := dialFrom(t, "127.0.0.1", port)
	for _, c := range []net.Conn{a1, a2} {
		if err := echo(c, "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if over, _ := dialFrom(t, "127.0.0.1", port); !closedByPeer(over) {
		t.Fatal("tcp connection over the per-source cap was not refused")
	}
	b1, _ := dialFrom(t, "127.0.0.2", port)
	if err := echo(b1, "other"); err != nil {
		t.Fatal(err)
	}
	if full, _ := dialFrom(t, "127.0.0.3", port); !closedByPeer(full) {
		t.Fatal("tcp connection over the listener's cap was not refused")
	}
	if g.Stats().RefusedConns < 2 {
		t.Fatalf("stats %+v", g.Stats())
	}
	// a1 keeps talking past the idle timeout and stays; a2 and b1 fall
	// silent and are closed.
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		if err := echo(a1, "ping"); err != nil {
			t.Fatalf("active connection cut: %v", err)
		}
	}
	if !closedByPeer(a2) || !closedByPeer(b1) {
		t.Fatal("idle tcp connections were kept")
	}
	eventually(t, "idle places given back", func() bool { return g.Stats().Conns == 1 })
	c, _ := dialFrom(t, "127.0.0.1", port)
	if err := echo(c, "new"); err != nil {
		t.Fatal(err)
	}
}

// udpEcho starts a replica that answers every datagram with "udp:" + it.
func udpEcho(t *testing.T) Backend {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("udp:"), buf[:n]...), from)
		}
	}()
	return Backend{ID: "u", Addr: pc.LocalAddr().String()}
}

func udpPort(t *testing.T) int {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.LocalAddr().(*net.UDPAddr).Port
}

// udpAsk sends msg from c and reports whether the echo came back.
func udpAsk(c net.Conn, msg string) bool {
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte(msg)); err != nil {
		return false
	}
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	return err == nil && string(buf[:n]) == "udp:"+msg
}

func udpFrom(t *testing.T, src string, port int) net.Conn {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPCapsAndIdle(t *testing.T) {
	g := newIngress(t, Options{Limits: Limits{MaxUDPSessions: 4, MaxUDPSessionsPerSource: 3, UDPIdle: 2 * time.Second}})
	port := udpPort(t)
	if err := g.Update([]Route{{Deployment: "d", Service: "u", Endpoint: "e", Protocol: UDP, Port: port, Backends: []Backend{udpEcho(t)}}}); err != nil {
		t.Fatal(err)
	}
	var mine []net.Conn
	for i := range 3 {
		c := udpFrom(t, "127.0.0.1", port)
		if !udpAsk(c, fmt.Sprint("s", i)) {
			t.Fatalf("session %d got no answer", i)
		}
		mine = append(mine, c)
	}
	if udpAsk(udpFrom(t, "127.0.0.1", port), "over") {
		t.Fatal("a session over the per-source cap was served")
	}
	other := udpFrom(t, "127.0.0.2", port)
	if !udpAsk(other, "other") {
		t.Fatal("another source was refused under the listener's cap")
	}
	if udpAsk(udpFrom(t, "127.0.0.3", port), "full") {
		t.Fatal("a session over the listener's cap was served")
	}
	for i, c := range mine {
		if !udpAsk(c, fmt.Sprint("again", i)) {
			t.Fatalf("existing session %d stopped working", i)
		}
	}
	if st := g.Stats(); st.DroppedUDPSessions < 2 || st.UDPSessions != 4 {
		t.Fatalf("stats %+v, want 2 dropped and 4 open", st)
	}
	// Silence ends sessions; the same client then gets a new one.
	eventually(t, "idle udp sessions ended", func() bool { return g.Stats().UDPSessions == 0 })
	if !udpAsk(mine[0], "back") {
		t.Fatal("a client whose session timed out got no new one")
	}
}

func TestUDPSessionsShareBuffers(t *testing.T) {
	// Quiet sessions hold a socket and a goroutine each, no buffer: five
	// hundred of them stay far below 500 x 64 KiB of heap.
	const n = 500
	g := newIngress(t, Options{Limits: Limits{MaxUDPSessions: n, MaxUDPSessionsPerSource: n}})
	port := udpPort(t)
	if err := g.Update([]Route{{Deployment: "d", Service: "u", Endpoint: "e", Protocol: UDP, Port: port, Backends: []Backend{udpEcho(t)}}}); err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	for i := range n {
		c := udpFrom(t, "127.0.0.1", port)
		if !udpAsk(c, fmt.Sprint(i)) {
			t.Fatalf("session %d got no answer", i)
		}
	}
	if got := g.Stats().UDPSessions; got != n {
		t.Fatalf("%d sessions open, want %d", got, n)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grew := int64(ms.HeapAlloc) - int64(before)
	t.Logf("heap grew %d KiB for %d sessions", grew>>10, n)
	if grew > 8<<20 {
		t.Fatalf("heap grew %d KiB for %d quiet sessions: buffers are held per session", grew>>10, n)
	}
}

// A client that connects and says nothing is held by the kernel, not by a
// goroutine of the ingress: it is not admitted (counted, given a header
// timeout) until its first bytes arrive, and then served as any other.
func TestHTTPSilentConnectionsHeldByKernel(t *testing.T) {
	g := newIngress(t, Options{})
	port := oneRoute(t, g, HTTP, seeBackend(t, "b"))
	c, br := dialFrom(t, "127.0.0.1", port)
	time.Sleep(300 * time.Millisecond) // well inside the kernel's one second
	if n := g.Stats().Conns; n != 0 {
		t.Fatalf("%d connections admitted before any byte was sent, want 0", n)
	}
	askOK(t, c, br, "/")
	if n := g.Stats().Conns; n != 1 {
		t.Fatalf("%d connections admitted after a request, want 1", n)
	}
}
