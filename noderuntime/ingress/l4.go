package ingress

// tcp and udp endpoints. Every connection and session is admitted against
// the listener's caps (in total and per source address), ends when idle,
// and waits for its next bytes without holding a buffer: a buffer is taken
// from a shared pool only once data is there to read, so ten thousand quiet
// sessions cost ten thousand sockets and goroutines, not ten thousand
// 64 KiB buffers.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// l4Bufs are the buffers of tcp and udp forwarding; 64 KiB holds any
// datagram.
var l4Bufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// readPooled waits until rc is readable (honouring its read deadline),
// reads once into a pooled buffer and hands the bytes to use; the buffer
// goes back to the pool when use returns. For a stream, 0 bytes is io.EOF.
func readPooled(rc syscall.RawConn, stream bool, use func([]byte) error) error {
	var bp *[]byte
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		bp = l4Bufs.Get().(*[]byte)
		for {
			n, rerr = syscall.Read(int(fd), *bp)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			l4Bufs.Put(bp)
			bp = nil
			return false // wait for readability without the buffer
		}
		return true
	})
	if err != nil {
		return err // deadline or closed; the buffer went back already
	}
	defer l4Bufs.Put(bp)
	if rerr != nil {
		return os.NewSyscallError("read", rerr)
	}
	if n == 0 && stream {
		return io.EOF
	}
	return use((*bp)[:n])
}

// serveTCP forwards each accepted connection to a replica, trying the
// others when one refuses.
func (g *Ingress) serveTCP(l *listener, addr string) error {
	ln, err := l.listenTCP(addr, 0, false)
	if err != nil {
		return err
	}
	adm := g.connAdmission(l, "tcp connection")
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	done := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				select {
				case <-done:
					return
				default:
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Out of descriptors and the like: back off, keep serving.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			src := peerAddr(c.RemoteAddr())
			if !adm.admit(src) {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.forwardTCP(l, c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				adm.leave(src)
			}()
		}
	}()
	l.close = func(ctx context.Context) error {
		close(done)
		err := ln.Close()
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-ctx.Done():
			mu.Lock()
			for c := range conns {
				_ = c.Close()
			}
			mu.Unlock()
		}
		return err
	}
	return nil
}

func (g *Ingress) forwardTCP(l *listener, c net.Conn) {
	defer c.Close()
	rs := *l.routes.Load()
	if len(rs) == 0 {
		return
	}
	rt := rs[0]
	var up net.Conn
	var b *backend
	d := net.Dialer{Timeout: g.o.DialTimeout}
	var tried = map[*backend]bool{}
	for len(tried) < len(rt.backends) {
		cand := rt.pick(nil)
		if cand == nil || tried[cand] {
			// pick may repeat under concurrency; walk the rest in order.
			cand = nil
			for _, x := range rt.backends {
				if !tried[x] && !x.draining.Load() {
					cand = x
					break
				}
			}
			if cand == nil {
				break
			}
		}
		tried[cand] = true
		conn, err := d.Dial("tcp", cand.Addr)
		if err != nil {
			cand.failed(g.o.FailTimeout)
			g.o.Log.Debug("ingress tcp backend failed", "replica", cand.ID, "err", err)
			continue
		}
		cand.succeeded()
		up, b = conn, cand
		break
	}
	if up == nil {
		return
	}
	b.acquire()
	defer b.release()
	defer up.Close()
	s := &tcpSession{idle: g.o.Limits.TCPIdle, a: c, b: up}
	s.last.Store(time.Now().UnixNano())
	errc := make(chan error, 2)
	go func() { errc <- s.pipe(up, c) }()
	go func() { errc <- s.pipe(c, up) }()
	// Either direction ending (EOF, reset, idle) ends the session: there is
	// no error to report, only both copies to wait for.
	<-errc //nolint:errcheck // see above
	<-errc //nolint:errcheck // see above
}

// tcpSession is one forwarded tcp connection: client a, replica b.
type tcpSession struct {
	idle time.Duration
	a, b net.Conn
	last atomic.Int64 // unix nanoseconds of the last bytes either way
}

// pipe copies src to dst, then half-closes dst so the other side sees EOF
// while the reverse direction may still be sending. When neither direction
// has moved a byte for idle, both connections close.
func (s *tcpSession) pipe(dst, src net.Conn) error {
	sc, ok := src.(syscall.Conn)
	if !ok {
		return errors.New("tcp forwarding needs a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	write := func(p []byte) error {
		now := time.Now()
		s.last.Store(now.UnixNano())
		_ = dst.SetWriteDeadline(now.Add(s.idle))
		_, err := dst.Write(p)
		if err != nil && isTimeout(err) {
			discardUnsent(dst)
		}
		return err
	}
	for {
		_ = src.SetReadDeadline(time.Now().Add(s.idle))
		err := readPooled(rc, true, write)
		if err == nil {
			continue
		}
		if isTimeout(err) {
			if time.Since(time.Unix(0, s.last.Load())) < s.idle {
				continue // the other direction is busy
			}
			_ = s.a.Close()
			_ = s.b.Close()
			return err
		}
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && errors.Is(err, io.EOF) {
			_ = cw.CloseWrite()
		} else {
			// A reset or a failed write: nothing more goes either way.
			_ = s.a.Close()
			_ = s.b.Close()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
}

// udpSession is one client address's flow: its own socket to one replica,
// so replies find their way back.
type udpSession struct {
	from netip.AddrPort
	up   *net.UDPConn
	b    *backend
	last atomic.Int64 // unix nanoseconds of the last datagram either way
}

// serveUDP forwards datagrams: each client address gets its own socket to
// one replica; idle sessions end; past the caps, datagrams that would open
// a session are dropped.
func (g *Ingress) serveUDP(l *listener, addr string) error {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return err
	}
	l.addr = pc.LocalAddr()
	lim := g.o.Limits
	adm := g.udpAdmission(l)
	var mu sync.Mutex
	sessions := map[netip.AddrPort]*udpSession{}
	done := make(chan struct{})
	closeSession := func(s *udpSession) {
		if sessions[s.from] == s {
			delete(sessions, s.from)
			_ = s.up.Close()
			s.b.release()
			adm.leave(s.from.Addr().Unmap())
		}
	}
	go func() {
		t := time.NewTicker(max(lim.UDPIdle/4, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			cutoff := time.Now().Add(-lim.UDPIdle).UnixNano()
			mu.Lock()
			for _, s := range sessions {
				if s.last.Load() < cutoff {
					closeSession(s)
				}
			}
			mu.Unlock()
		}
	}()
	// open starts a session for from, or returns nil (no replica, or over
	// a cap). Called with mu held.
	open := func(from netip.AddrPort) *udpSession {
		rs := *l.routes.Load()
		var b *backend
		if len(rs) > 0 {
			b = rs[0].pick(nil)
		}
		if b == nil {
			return nil
		}
		src := from.Addr().Unmap()
		if !adm.admit(src) {
			return nil
		}
		ra, err := net.ResolveUDPAddr("udp", b.Addr)
		var up *net.UDPConn
		if err == nil {
			up, err = net.DialUDP("udp", nil, ra)
		}
		if err != nil {
			adm.leave(src)
			b.failed(g.o.FailTimeout)
			return nil
		}
		rc, err := up.SyscallConn()
		if err != nil {
			adm.leave(src)
			_ = up.Close()
			return nil
		}
		b.acquire()
		s := &udpSession{from: from, up: up, b: b}
		s.last.Store(time.Now().UnixNano())
		sessions[from] = s
		reply := func(p []byte) error {
			s.last.Store(time.Now().UnixNano())
			_, _ = pc.WriteToUDPAddrPort(p, from)
			return nil
		}
		go func() {
			for {
				err := readPooled(rc, false, reply)
				if err == nil {
					continue
				}
				if errors.Is(err, syscall.ECONNREFUSED) {
					// ICMP refused from a dead replica: end the session so
					// the next datagram picks another.
					s.b.failed(g.o.FailTimeout)
					mu.Lock()
					closeSession(s)
					mu.Unlock()
				}
				return
			}
		}()
		return s
	}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			mu.Lock()
			s := sessions[from]
			if s == nil {
				s = open(from)
			}
			mu.Unlock()
			if s == nil {
				continue
			}
			s.last.Store(time.Now().UnixNano())
			_, _ = s.up.Write(buf[:n])
		}
	}()
	l.close = func(context.Context) error {
		close(done)
		err := pc.Close()
		mu.Lock()
		for _, s := range sessions {
			closeSession(s)
		}
		mu.Unlock()
		return err
	}
	return nil
}
