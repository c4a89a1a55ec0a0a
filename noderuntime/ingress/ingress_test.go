package ingress

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newIngress(t testing.TB, o Options) *Ingress {
	t.Helper()
	o.ListenHost = "127.0.0.1"
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Close(ctx)
	})
	return g
}

// named starts a backend answering its name.
func named(t *testing.T, name string) (*httptest.Server, Backend) {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", name, r.Host, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s, Backend{ID: name, Addr: s.Listener.Addr().String()}
}

func get(t *testing.T, c *http.Client, url, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRoundRobinAcrossReadyReplicas(t *testing.T) {
	g := newIngress(t, Options{})
	var bs []Backend
	for _, n := range []string{"r1", "r2", "r3"} {
		_, b := named(t, n)
		bs = append(bs, b)
	}
	port := freePort(t)
	if err := g.Update([]Route{{Deployment: "d", Service: "web", Endpoint: "http", Protocol: HTTP, Port: port, Backends: bs}}); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/x", port)
	counts := map[string]int{}
	for range 30 {
		// The node re-applies routes several times a second; that must not
		// restart the rotation.
		if err := g.Update([]Route{{Deployment: "d", Service: "web", Endpoint: "http", Protocol: HTTP, Port: port, Backends: bs}}); err != nil {
			t.Fatal(err)
		}
		code, body := get(t, http.DefaultClient, url, "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, body)
		}
		counts[strings.Fields(body)[0]]++
	}
	for _, n := range []string{"r1", "r2", "r3"} {
		if counts[n] != 10 {
			t.Fatalf("round robin uneven: %v", counts)
		}
	}
	// Readiness: a replica dropped from the route gets no more traffic.
	if err := g.Update([]Route{{Deployment: "d", Service: "web", Endpoint: "http", Protocol: HTTP, Port: port, Backends: bs[:2]}}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, body := get(t, http.DefaultClient, url, ""); strings.HasPrefix(body, "r3") {
			t.Fatal("removed replica still routed")
		}
	}
	// No ready replica: 503, not a hang or a 404.
	if err := g.Update([]Route{{Deployment: "d", Service: "web", Endpoint: "http", Protocol: HTTP, Port: port}}); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, http.DefaultClient, url, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("no replicas: status %d, want 503", code)
	}
	// No route on the port any more: the listener closes.
	if err := g.Update(nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open after its last route went away")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHostAndPathRouting(t *testing.T) {
	g := newIngress(t, Options{})
	_, api := named(t, "api")
	_, web := named(t, "web")
	_, wild := named(t, "wild")
	_, any := named(t, "any")
	_, apiv2 := named(t, "apiv2")
	port := freePort(t)
	routes := []Route{
		{Deployment: "d", Service: "any", Endpoint: "e", Protocol: HTTP, Port: port, Backends: []Backend{any}},
		{Deployment: "d", Service: "web", Endpoint: "e", Protocol: HTTP, Port: port, Host: "example.com", Backends: []Backend{web}},
		{Deployment: "d", Service: "api", Endpoint: "e", Protocol: HTTP, Port: port, Host: "example.com", Path: "/api", Backends: []Backend{api}},
		{Deployment: "d", Service: "apiv2", Endpoint: "e", Protocol: HTTP, Port: port, Host: "example.com", Path: "/api/v2", Backends: []Backend{apiv2}},
		{Deployment: "d", Service: "wild", Endpoint: "e", Protocol: HTTP, Port: port, Host: "*.example.com", Backends: []Backend{wild}},
	}
	if err := g.Update(routes); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cases := []struct{ host, path, want string }{
		{"example.com", "/", "web"},
		{"EXAMPLE.com:80", "/index.html", "web"},
		{"example.com", "/api", "api"},
		{"example.com", "/api/users", "api"},
		{"example.com", "/apix", "web"},
		{"example.com", "/api/v2/x", "apiv2"},
		{"a.example.com", "/api", "wild"},
		{"a.b.example.com", "/", "wild"},
		{"other.org", "/api", "any"},
	}
	for _, c := range cases {
		code, body := get(t, http.DefaultClient, base+c.path, c.host)
		if code != 200 || strings.Fields(body)[0] != c.want {
			t.Errorf("host %s path %s: %d %q, want %s", c.host, c.path, code, body, c.want)
		}
		// The replica sees the original Host and path.
		if f := strings.Fields(body); len(f) == 3 && (f[1] != c.host || f[2] != c.path) {
			t.Errorf("replica saw host %s path %s, sent %s %s", f[1], f[2], c.host, c.path)
		}
	}
	// Without a catch-all, unknown hosts get 404.
	if err := g.Update(routes[1:]); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, http.DefaultClient, base+"/", "other.org"); code != 404 {
		t.Fatalf("unrouted host: %d, want 404", code)
	}
}

func TestRetryAndPassiveFailure(t *testing.T) {
	g := newIngress(t, Options{FailTimeout: 5 * time.Second})
	_, ok1 := named(t, "ok1")
	_, ok2 := named(t, "ok2")
	dead := Backend{ID: "dead", Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	port := freePort(t)
	if err := g.Update([]Route{{Deployment: "d", Service: "s", Endpoint: "e", Protocol: HTTP, Port: port, Backends: []Backend{dead, ok1, ok2}}}); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	for i := range 30 {
		if code, body := get(t, http.DefaultClient, url, ""); code != 200 {
			t.Fatalf("request %d: %d %s (a dead replica must be retried elsewhere)", i, code, body)
		}
	}
	// A refused connection means nothing was sent: a POST goes elsewhere too.
	for range 4 {
		resp, err := http.Post(url, "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST with a dead replica in the route: %d, want 200", resp.StatusCode)
		}
	}
	// A replica that takes the request and drops the connection may have
	// acted on it: a POST is not replayed (one 502, then that replica is
	// avoided), a GET is retried on another replica.
	dropAddr := rawServer(t, func(c net.Conn) { _, _ = http.ReadRequest(bufio.NewReader(c)) })
	dropper := Backend{ID: "dropper", Addr: dropAddr}
	if err := g.Update([]Route{{Deployment: "d", Service: "s", Endpoint: "e", Protocol: HTTP, Port: port, Backends: []Backend{dropper, ok1}}}); err != nil {
		t.Fatal(err)
	}
	codes := map[int]int{}
	for range 6 {
		resp, err := http.Post(url, "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusBadGateway] != 1 || codes[200] != 5 {
		t.Fatalf("POST statuses %v, want one 502 then all 200 (failed replica skipped)", codes)
	}
	dropper2 := Backend{ID: "dropper2", Addr: dropAddr}
	if err := g.Update([]Route{{Deployment: "d", Service: "s", Endpoint: "e", Protocol: HTTP, Port: port, Backends: []Backend{dropper2, ok2}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if code, body := get(t, http.DefaultClient, url, ""); code != 200 || !strings.HasPrefix(body, "ok2") {
			t.Fatalf("GET %d with a replica dropping requests: %d %q, want ok2's answer", i, code, body)
		}
	}
}

func TestDrainWaitsForInFlight(t *testing.T) {
	g := newIngress(t, Options{})
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "slow")
	}))
	defer slow.Close()
	_, fast := named(t, "fast")
	port := freePort(t)
	sb := Backend{ID: "slow", Addr: slow.Listener.Addr().String()}
	if err := g.Update([]Route{{Deployment: "d", Service: "s", Endpoint: "e", Protocol: HTTP, Port: port, Backends: []Backend{sb, fast}}}); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	result := make(chan string, 1)
	go func() {
		// Round robin starts at the first backend: this one lands on slow.
		resp, err := http.Get(url + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-started
	drained := make(chan error, 1)
	go func() { drained <- g.Drain(context.Background(), "slow") }()
	select {
	case err := <-drained:
		t.Fatalf("drain returned with a request in flight: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	// While draining, new requests go elsewhere.
	for range 5 {
		if _, body := get(t, http.DefaultClient, url+"/", ""); !strings.HasPrefix(body, "fast") {
			t.Fatalf("draining replica got a new request: %q", body)
		}
	}
	close(release)
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if r := <-result; r != "200 slow" {
		t.Fatalf("in-flight request: %q, want it to finish", r)
	}
	// Drain with a deadline reports what is still running.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := g.Drain(ctx, "nobody"); err != nil {
		t.Fatal(err)
	}
}

// wsEcho is a minimal upgrade server: after 101 it writes greet(r) (when
// greet is set), then echoes lines back. Requests without an upgrade go to
// plain.
func wsEcho(t *testing.T, greet func(*http.Request) string, plain http.HandlerFunc) *httptest.Server {
	t.Helper()
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			plain(w, r)
			return
		}
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		if greet != nil {
			rw.WriteString(greet(r))
		}
		rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString("echo " + line)
			rw.Flush()
		}
	}))
	t.Cleanup(ws.Close)
	return ws
}

func TestWebsocketUpgrade(t *testing.T) {
	g := newIngress(t, Options{})
	ws := wsEcho(t, nil, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
	})
	port := freePort(t)
	if err := g.Update([]Route{{Deployment: "d", Service: "ws", Endpoint: "e", Protocol: HTTP, Port: port, Backends: []Backend{{ID: "ws", Addr: ws.Listener.Addr().String()}}}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	for _, msg := range []string{"hello", "again"} {
		fmt.Fprintf(c, "%s\n", msg)
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+msg+"\n" {
			t.Fatalf("echo %q: %q %v", msg, line, err)
		}
	}
}

func writeCert(t *testing.T, dir, name string) Cert {
	t.Helper()
	cp, kp, err := generate(name)
	if err != nil {
		t.Fatal(err)
	}
	c := Cert{CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+"-key.pem")}
	if err := os.WriteFile(c.CertFile, cp, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, kp, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTLSWithSNIAndSelfSigned(t *testing.T) {
	dir := t.TempDir()
	given := writeCert(t, t.TempDir(), "a.example.com")
	g := newIngress(t, Options{DataDir: dir, Certs: []Cert{given}})
	_, a := named(t, "a")
	_, b := named(t, "b")
	port := freePort(t)
	if err := g.Update([]Route{
		{Deployment: "d", Service: "a", Endpoint: "https", Protocol: HTTPS, Port: port, Host: "a.example.com", Backends: []Backend{a}},
		{Deployment: "d", Service: "b", Endpoint: "https", Protocol: HTTPS, Port: port, Host: "b.example.com", Backends: []Backend{b}},
	}); err != nil {
		t.Fatal(err)
	}
	fetch := func(name string) (string, *x509.Certificate) {
		var peer *x509.Certificate
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: name, InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error { peer = cs.PeerCertificates[0]; return nil }}}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr}
		code, body := get(t, c, fmt.Sprintf("https://127.0.0.1:%d/", port), name)
		if code != 200 {
			t.Fatalf("%s: %d %s", name, code, body)
		}
		return strings.Fields(body)[0], peer
	}
	who, cert := fetch("a.example.com")
	if who != "a" || cert.Subject.CommonName != "a.example.com" {
		t.Fatalf("a.example.com: routed to %s, cert %v", who, cert.Subject)
	}
	// The configured certificate is the one served, byte for byte.
	kp, _ := tls.LoadX509KeyPair(given.CertFile, given.KeyFile)
	if string(kp.Certificate[0]) != string(cert.Raw) {
		t.Fatal("a.example.com: not the configured certificate")
	}
	who, cert = fetch("b.example.com")
	if who != "b" || cert.Subject.CommonName != "b.example.com" {
		t.Fatalf("b.example.com: routed to %s, cert %v", who, cert.Subject)
	}
	// b's certificate is self-signed and valid for its name.
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "b.example.com", Roots: pool}); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, "ingress", "tls", "b.example.com.crt")
	if _, err := os.Stat(saved); err != nil {
		t.Fatalf("self-signed certificate not kept in the data dir: %v", err)
	}
	// A new ingress on the same data dir serves the same certificate.
	g2, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	again, err := g2.certs.get(&tls.ClientHelloInfo{ServerName: "b.example.com"})
	if err != nil || string(again.Certificate[0]) != string(cert.Raw) {
		t.Fatalf("self-signed certificate regenerated instead of reused (%v)", err)
	}
	// Hostile SNI names never become file names.
	if _, err := g2.certs.get(&tls.ClientHelloInfo{ServerName: "../../etc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ingress", "tls", DefaultName+".crt")); err != nil {
		t.Fatalf("bad SNI name should fall back to the default certificate: %v", err)
	}
}

func TestTCPForwarding(t *testing.T) {
	g := newIngress(t, Options{})
	var backends []Backend
	for i := range 2 {
		addr := rawServer(t, func(c net.Conn) {
			b, _ := io.ReadAll(c)
			fmt.Fprintf(c, "tcp%d:%s", i, b)
		})
		backends = append(backends, Backend{ID: fmt.Sprint("t", i), Addr: addr})
	}
	dead := Backend{ID: "dead", Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	port := freePort(t)
	if err := g.Update([]Route{{Deployment: "d", Service: "t", Endpoint: "e", Protocol: TCP, Port: port, Backends: append([]Backend{dead}, backends...)}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range 6 {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "msg%d", i)
		c.(*net.TCPConn).CloseWrite() // half-close must reach the replica
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || !strings.HasSuffix(string(b), fmt.Sprintf(":msg%d", i)) {
			t.Fatalf("tcp round trip %d: %q %v", i, b, err)
		}
		seen[strings.Split(string(b), ":")[0]] = true
	}
	if !seen["tcp0"] || !seen["tcp1"] {
		t.Fatalf("tcp connections not spread: %v", seen)
	}
}

func TestUDPForwarding(t *testing.T) {
	g := newIngress(t, Options{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
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
	l, _ := net.ListenPacket("udp", "127.0.0.1:0")
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	if err := g.Update([]Route{{Deployment: "d", Service: "u", Endpoint: "e", Protocol: UDP, Port: port, Backends: []Backend{{ID: "u", Addr: pc.LocalAddr().String()}}}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var okCount atomic.Int32
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				return
			}
			defer c.Close()
			for j := range 3 {
				msg := fmt.Sprintf("c%d-%d", i, j)
				c.Write([]byte(msg))
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 100)
				n, err := c.Read(buf)
				if err != nil || string(buf[:n]) != "udp:"+msg {
					return
				}
			}
			okCount.Add(1)
		}()
	}
	wg.Wait()
	if okCount.Load() != 3 {
		t.Fatalf("%d of 3 udp clients got all their replies", okCount.Load())
	}
}

func TestUpdateReportsConflicts(t *testing.T) {
	g := newIngress(t, Options{})
	port := freePort(t)
	err := g.Update([]Route{
		{Deployment: "d", Service: "a", Endpoint: "e", Protocol: HTTP, Port: port},
		{Deployment: "d", Service: "b", Endpoint: "e", Protocol: TCP, Port: port},
		{Deployment: "d", Service: "c", Endpoint: "e", Protocol: "gopher", Port: port + 1},
	})
	if err == nil || !strings.Contains(err.Error(), "already serves http") || !strings.Contains(err.Error(), `unknown protocol "gopher"`) {
		t.Fatalf("err = %v", err)
	}
	if g.Addr(port) == nil {
		t.Fatal("the valid route was not applied")
	}
}

func TestForwardedHeadersAndEncodings(t *testing.T) {
	g := newIngress(t, Options{DataDir: t.TempDir()})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s for=%s ae=%q", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-For"), r.Header.Get("Accept-Encoding"))
	}))
	defer s.Close()
	b := Backend{ID: "b", Addr: s.Listener.Addr().String()}
	hp, sp := freePort(t), freePort(t)
	if err := g.Update([]Route{
		{Deployment: "d", Service: "s", Endpoint: "http", Protocol: HTTP, Port: hp, Backends: []Backend{b}},
		{Deployment: "d", Service: "s", Endpoint: "https", Protocol: HTTPS, Port: sp, Backends: []Backend{b}},
	}); err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	if _, body := get(t, plain, fmt.Sprintf("http://127.0.0.1:%d/", hp), ""); body != `proto=http for=127.0.0.1 ae=""` {
		t.Fatalf("http: %s (the ingress must not ask replicas for gzip on the client's behalf)", body)
	}
	tlsc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if _, body := get(t, tlsc, fmt.Sprintf("https://127.0.0.1:%d/", sp), ""); !strings.HasPrefix(body, "proto=https for=127.0.0.1") {
		t.Fatalf("https: %s", body)
	}
}

// TestPreferLocal: with PreferLocal the node's own replicas take every
// request, in turn, while one of them is healthy; when both are gone the
// remote one takes them (the failed local ones are skipped as any failed
// backend is). Without it requests spread over all.
func TestPreferLocal(t *testing.T) {
	counts := func(t *testing.T, url string, n int) map[string]int {
		t.Helper()
		c := map[string]int{}
		for i := range n {
			code, body := get(t, http.DefaultClient, url, "")
			if code != 200 {
				t.Fatalf("request %d: %d %s", i, code, body)
			}
			c[strings.Fields(body)[0]]++
		}
		return c
	}
	s1, l1 := named(t, "l1")
	s2, l2 := named(t, "l2")
	_, r1 := named(t, "r1")
	r1.Remote = true
	routes := func(port int) []Route {
		return []Route{{Deployment: "d", Service: "web", Endpoint: "http", Protocol: HTTP, Port: port, Backends: []Backend{r1, l1, l2}}}
	}

	spread := newIngress(t, Options{FailTimeout: 5 * time.Second})
	port := freePort(t)
	if err := spread.Update(routes(port)); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 30); c["l1"] != 10 || c["l2"] != 10 || c["r1"] != 10 {
		t.Fatalf("without prefer_local: %v, want 10 each", c)
	}

	g := newIngress(t, Options{PreferLocal: true, FailTimeout: 5 * time.Second})
	port = freePort(t)
	if err := g.Update(routes(port)); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if c := counts(t, url, 20); c["l1"] != 10 || c["l2"] != 10 {
		t.Fatalf("prefer_local: %v, want 10 each on l1 and l2, none on r1", c)
	}
	s1.Close()
	if c := counts(t, url, 10); c["l2"] != 10 {
		t.Fatalf("one local replica down: %v, want all on l2", c)
	}
	s2.Close()
	if c := counts(t, url, 10); c["r1"] != 10 {
		t.Fatalf("both local replicas down: %v, want all on r1", c)
	}

	// A remote backend that cannot be reached is retried elsewhere and
	// then skipped, as a local one is.
	_, l3 := named(t, "l3")
	dead := Backend{ID: "dead", Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Remote: true}
	port = freePort(t)
	if err := spread.Update([]Route{{Deployment: "d", Service: "web", Endpoint: "http", Protocol: HTTP, Port: port, Backends: []Backend{dead, l3}}}); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 10); c["l3"] != 10 {
		t.Fatalf("a dead remote replica in the route: %v, want all on l3", c)
	}
	spread.mu.Lock()
	failed := !spread.backends["dead|"+dead.Addr].healthy(time.Now())
	spread.mu.Unlock()
	if !failed {
		t.Fatal("the dead remote replica is not marked failed")
	}
}
