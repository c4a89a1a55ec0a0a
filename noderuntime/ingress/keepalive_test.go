package ingress

import (
	"bufio"
	"crypto/tls"
	"net"
	"syscall"
	"testing"
	"time"
)

// soKeepAlive reads SO_KEEPALIVE of the socket under c.
func soKeepAlive(t *testing.T, c *net.TCPConn) bool {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v != 0
}

// acceptOne listens with keepAlive (listenTCP's) and returns the server
// side of one connection.
func acceptOne(t *testing.T, keepAlive time.Duration) *net.TCPConn {
	t.Helper()
	l := &listener{}
	ln, err := l.listenTCP("127.0.0.1:0", keepAlive, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func TestHTTPListenerSkipsKeepAliveUntilAConnectionMayIdle(t *testing.T) {
	// tcp endpoints keep the kernel's probes on every connection.
	if !soKeepAlive(t, acceptOne(t, 0)) {
		t.Fatal("tcp endpoint connection without keep-alive")
	}
	for name, wrap := range map[string]func(c net.Conn) net.Conn{
		"plain":       func(c net.Conn) net.Conn { return &guardConn{Conn: c} },
		"handoff":     func(c net.Conn) net.Conn { return &bufferedConn{Conn: &guardConn{Conn: c}, r: bufio.NewReader(c)} },
		"tls":         func(c net.Conn) net.Conn { return tls.Server(&guardConn{Conn: c}, &tls.Config{}) },
		"tls-handoff": func(c net.Conn) net.Conn { return &bufferedConn{Conn: tls.Server(&guardConn{Conn: c}, &tls.Config{})} },
	} {
		c := acceptOne(t, -1)
		if soKeepAlive(t, c) {
			t.Fatalf("%s: http connection accepted with keep-alive", name)
		}
		probeIdle(wrap(c))
		if !soKeepAlive(t, c) {
			t.Fatalf("%s: keep-alive still off after probeIdle", name)
		}
	}
}
