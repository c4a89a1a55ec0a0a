package api

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The socket is reachable only once it has its mode: it appears at its
// path by a rename, already 0660, and nothing is left beside it.
func TestUnixSocketFinalMode(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "zlapi")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "run", "api.sock")
	l, err := listenUnix(sock, 0o660)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Lstat(sock)
	if err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o660 {
		t.Fatalf("socket %v %v", st.Mode(), err)
	}
	ents, _ := os.ReadDir(filepath.Dir(sock))
	if len(ents) != 1 {
		t.Errorf("left beside the socket: %v", ents)
	}
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial the renamed socket: %v", err)
	}
	c.Close()
	if _, err := listenUnix(sock, 0o660); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Errorf("second listener: %v", err)
	}
}

func TestLimitListenerCaps(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A second, idle listener on the same cap takes no slot.
	tl2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sm := newSem(2)
	l, l2 := limitListener(tl, sm), limitListener(tl2, sm)
	defer l.Close()
	defer l2.Close()
	go func() {
		if c, err := l2.Accept(); err == nil {
			c.Close()
		}
	}()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", tl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	next := func() net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(30 * time.Second):
			t.Fatal("a connection under the cap was not accepted")
		}
		return nil
	}
	a, b := next(), next()
	// The third waits in the backlog until one of the two is closed
	// (without the cap it is accepted at once).
	select {
	case c := <-accepted:
		t.Fatalf("a third connection was accepted over the cap of 2: %v", c.RemoteAddr())
	case <-time.After(300 * time.Millisecond):
	}
	a.Close()
	third := next()
	if third == nil {
		t.Fatal("listener closed")
	}
	b.Close()
	third.Close()
}
