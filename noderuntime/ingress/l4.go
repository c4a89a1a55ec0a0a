package ingress

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// serveTCP forwards each accepted connection to a replica, trying the
// others when one refuses.
func (g *Ingress) serveTCP(l *listener, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	l.addr = ln.Addr()
	var wg sync.WaitGroup
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
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.forwardTCP(l, c)
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
	errc := make(chan error, 2)
	go func() { errc <- pipe(up, c) }()
	go func() { errc <- pipe(c, up) }()
	<-errc
	<-errc
}

// pipe copies src to dst, then half-closes dst so the other side sees EOF
// while the reverse direction may still be sending.
func pipe(dst, src net.Conn) error {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = dst.Close()
	}
	return err
}

// serveUDP forwards datagrams: each client address gets its own socket to
// one replica, so replies find their way back; idle sessions end.
func (g *Ingress) serveUDP(l *listener, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	l.addr = pc.LocalAddr()
	type session struct {
		up   *net.UDPConn
		b    *backend
		last time.Time
	}
	var mu sync.Mutex
	sessions := map[string]*session{}
	done := make(chan struct{})
	closeSession := func(k string, s *session) {
		if sessions[k] == s {
			delete(sessions, k)
			_ = s.up.Close()
			s.b.release()
		}
	}
	go func() {
		t := time.NewTicker(g.o.UDPIdle / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			mu.Lock()
			for k, s := range sessions {
				if time.Since(s.last) > g.o.UDPIdle {
					closeSession(k, s)
				}
			}
			mu.Unlock()
		}
	}()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			k := from.String()
			mu.Lock()
			s := sessions[k]
			if s == nil {
				rs := *l.routes.Load()
				var b *backend
				if len(rs) > 0 {
					b = rs[0].pick(nil)
				}
				if b == nil {
					mu.Unlock()
					continue
				}
				ua, err := net.ResolveUDPAddr("udp", b.Addr)
				var up *net.UDPConn
				if err == nil {
					up, err = net.DialUDP("udp", nil, ua)
				}
				if err != nil {
					b.failed(g.o.FailTimeout)
					mu.Unlock()
					continue
				}
				b.acquire()
				s = &session{up: up, b: b}
				sessions[k] = s
				go func() {
					rb := make([]byte, 65535)
					for {
						m, err := up.Read(rb)
						if err != nil {
							var oe *net.OpError
							if errors.As(err, &oe) && !errors.Is(err, net.ErrClosed) {
								// ICMP refused from a dead replica: end the
								// session so the next datagram picks another.
								s.b.failed(g.o.FailTimeout)
								mu.Lock()
								closeSession(k, s)
								mu.Unlock()
							}
							return
						}
						mu.Lock()
						s.last = time.Now()
						mu.Unlock()
						_, _ = pc.WriteTo(rb[:m], from)
					}
				}()
			}
			s.last = time.Now()
			up := s.up
			mu.Unlock()
			_, _ = up.Write(buf[:n])
		}
	}()
	l.close = func(context.Context) error {
		close(done)
		err := pc.Close()
		mu.Lock()
		for k, s := range sessions {
			closeSession(k, s)
		}
		mu.Unlock()
		return err
	}
	return nil
}
