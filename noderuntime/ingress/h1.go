package ingress

// The HTTP/1.1 fast path. net/http's server, ReverseProxy and Transport cost
// three goroutines, two header maps and dozens of allocations per request;
// on a small node that was most of the ingress's CPU, and the ingress
// shares the CPU with the replicas behind it. Plain HTTP/1.1 requests are
// instead forwarded on their connection's own goroutine: the head is
// scanned once, rewritten into a reused buffer and written to a pooled
// replica connection in one write; the response is framed (length, chunked
// or close) and copied back. Whatever this path does not handle (upgrades,
// chunked or large request bodies, Expect, HTTP/1.0, h2, escaped paths)
// hands the connection, unread, to the net/http server, which keeps it.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// freshFor: a request that must not be sent twice only goes out on a
	// pooled connection used this recently, so a replica that closed an
	// idle connection cannot make it fail after it was written.
	freshFor = time.Second
	// maxIdlePerBackend bounds the pool of one replica.
	maxIdlePerBackend = 256
	// staleRetries is how many pooled connections a request may find
	// closed by the replica before that counts as the replica failing.
	staleRetries = 2
)

// front serves one http(s) port.
type front struct {
	g       *Ingress
	l       *listener
	ln      net.Listener
	tlsConf *tls.Config // nil for plain http
	adm     *admission
	slow    *http.Server
	handoff *connQueue
	loops   *evLoops // plain http on the fast path: the event loops accept

	mu      sync.Mutex
	conns   map[*clientConn]struct{}
	closing atomic.Bool
	wg      sync.WaitGroup
}

func (g *Ingress) serveHTTP(l *listener, addr string) error {
	// No TCP keep-alive on accepted connections: setting it up costs four
	// setsockopt calls per connection, a quarter of the syscalls of a
	// request on a new connection. The fast path bounds quiet clients with
	// its idle and write timeouts; connections that may sit quiet for long
	// get the probes when they do (probeIdle).
	ln, err := l.listenTCP(addr, -1, true)
	if err != nil {
		return err
	}
	lim := g.o.Limits
	f := &front{g: g, l: l, ln: ln, conns: map[*clientConn]struct{}{}, adm: g.connAdmission(l, "connection")}
	f.handoff = &connQueue{ch: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	f.slow = &http.Server{
		Handler:           portHandler{l: l, p: g.proxy},
		ReadHeaderTimeout: lim.HeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		// Write stalls are cut by guardConn: WriteTimeout here would bound
		// whole responses (downloads, websockets) instead.
		// Handshake failures and broken clients are routine at a front
		// door: debug level, not the node's warnings.
		ErrorLog: slog.NewLogLogger(g.o.Log.Handler(), slog.LevelDebug),
	}
	if l.proto == HTTPS {
		f.tlsConf = &tls.Config{GetCertificate: g.certs.get, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
		// With this set, Serve speaks h2 on the TLS connections handed to it.
		f.slow.TLSConfig = f.tlsConf
	}
	go func() { _ = f.slow.Serve(f.handoff) }()
	if l.proto == HTTP && !g.o.NoFastPath && !g.o.NoEventLoop {
		if f.loops, err = startLoops(f); err != nil {
			g.o.Log.Warn("ingress event loop unavailable, serving connections on goroutines", "port", l.port, "err", err)
		}
	}
	if f.loops == nil {
		f.wg.Add(1)
		go f.accept()
	}
	l.close = f.shutdown
	return nil
}

func (f *front) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if f.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		src := peerAddr(c.RemoteAddr())
		if !f.adm.admit(src) {
			_ = c.Close()
			continue
		}
		f.wg.Add(1)
		go f.serveConn(&guardConn{Conn: c, a: f.adm, src: src, timeout: f.g.o.Limits.WriteTimeout})
	}
}

func (f *front) serveConn(raw net.Conn) {
	defer f.wg.Done()
	c := raw
	if f.tlsConf != nil {
		tc := tls.Server(raw, f.tlsConf)
		_ = raw.SetDeadline(time.Now().Add(f.g.o.Limits.HeaderTimeout))
		if err := tc.Handshake(); err != nil {
			f.g.o.Log.Debug("ingress tls handshake", "remote", raw.RemoteAddr().String(), "err", err)
			_ = raw.Close()
			return
		}
		_ = raw.SetDeadline(time.Time{})
		if f.g.o.NoFastPath || tc.ConnectionState().NegotiatedProtocol == "h2" {
			probeIdle(raw)
			f.g.handoffs.Add(1)
			f.handoff.push(tc)
			return
		}
		c = tc
	} else if f.g.o.NoFastPath {
		probeIdle(raw)
		f.g.handoffs.Add(1)
		f.handoff.push(c)
		return
	}
	cc := &clientConn{f: f, c: c}
	if host, _, err := net.SplitHostPort(raw.RemoteAddr().String()); err == nil {
		cc.ip = host
		cc.trusted = f.g.trusted.trusts(host)
	}
	f.track(cc)
}

// serveClient serves a connection an event loop handed over.
func (f *front) serveClient(cc *clientConn) {
	defer f.wg.Done()
	f.track(cc)
}

// track serves cc on this goroutine, known to shutdown meanwhile.
func (f *front) track(cc *clientConn) {
	c := cc.c
	f.mu.Lock()
	// A response an event loop started is finished even while closing.
	if f.closing.Load() && cc.resume == nil {
		f.mu.Unlock()
		_ = c.Close()
		return
	}
	f.conns[cc] = struct{}{}
	f.mu.Unlock()
	cc.serve()
	f.mu.Lock()
	delete(f.conns, cc)
	f.mu.Unlock()
}

// shutdown stops accepting, closes idle connections, and waits for the
// requests in flight (the fast path's and net/http's) until ctx ends.
func (f *front) shutdown(ctx context.Context) error {
	f.closing.Store(true)
	err := f.ln.Close()
	if f.loops != nil {
		f.loops.nudge()
		f.loops.unlistened(ctx)
	}
	f.mu.Lock()
	for cc := range f.conns {
		if cc.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = cc.c.Close()
		}
	}
	f.mu.Unlock()
	slowErr := make(chan error, 1)
	go func() { slowErr <- f.slow.Shutdown(ctx) }()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if f.loops != nil {
			f.loops.abort.Store(true)
			f.loops.nudge()
		}
		f.mu.Lock()
		for cc := range f.conns {
			_ = cc.c.Close()
		}
		f.mu.Unlock()
	}
	return errors.Join(err, <-slowErr)
}

const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// clientConn is one client connection on the fast path.
type clientConn struct {
	f       *front
	c       net.Conn
	ip      string
	trusted bool // ip is a trusted proxy
	state   atomic.Int32

	br    *bufio.Reader
	bw    *bufio.Writer
	req   reqHead
	out   []byte // request head (and body) sent upstream
	body  []byte
	rhead []byte // response head as read
	rout  []byte // response head as sent
	// status is the final status of the response exchange last copied.
	status int

	deadline time.Time // the read deadline last set
	// resume, when set, finishes the exchange an event loop started before
	// the connection's next request is read; it returns whether the
	// connection stays open.
	resume func() bool
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

func (cc *clientConn) serve() {
	cc.br = readerPool.Get().(*bufio.Reader)
	cc.br.Reset(cc.c)
	cc.bw = writerPool.Get().(*bufio.Writer)
	cc.bw.Reset(cc.c)
	handedOff := false
	lim := cc.f.g.o.Limits
	// Until its first request a connection has the head's allowance.
	cc.deadline = time.Now().Add(lim.HeaderTimeout)
	_ = cc.c.SetReadDeadline(cc.deadline)
	first := true
	defer func() {
		cc.bw.Reset(nil)
		writerPool.Put(cc.bw)
		if !handedOff {
			cc.br.Reset(nil)
			readerPool.Put(cc.br)
			_ = cc.c.Close()
		}
	}()
	if cc.resume != nil {
		ok := cc.resume()
		cc.resume = nil
		if !ok {
			return
		}
		first = false
		cc.deadline = time.Now().Add(lim.IdleTimeout)
		_ = cc.c.SetReadDeadline(cc.deadline)
	}
	for {
		// Idle first, then the check: shutdown sets closing before it closes
		// idle connections, so one of the two always sees the other.
		cc.state.Store(stateIdle)
		if cc.f.closing.Load() {
			return
		}
		// Moving a deadline costs a timer update; at thousands of requests
		// a second it is only moved when it is a second out of date.
		if now := time.Now(); !first && cc.deadline.Sub(now) < lim.IdleTimeout-slack(lim.IdleTimeout) {
			cc.deadline = now.Add(lim.IdleTimeout)
			_ = cc.c.SetReadDeadline(cc.deadline)
		}
		first = false
		if _, err := cc.br.Peek(1); err != nil {
			return
		}
		if !cc.state.CompareAndSwap(stateIdle, stateActive) {
			return // shutdown closed it while idle
		}
		head, err := peekRequestHead(cc.br, func() {
			// The head arrives in pieces: it gets HeaderTimeout, not the
			// idle allowance (slow-header clients).
			cc.deadline = time.Now().Add(lim.HeaderTimeout)
			_ = cc.c.SetReadDeadline(cc.deadline)
		})
		if err == nil {
			err = parseRequestHead(head, &cc.req)
		}
		if errors.Is(err, errDecline) {
			handedOff = true
			cc.handOff()
			return
		}
		if err != nil {
			return
		}
		if !cc.forward(head) {
			return
		}
	}
}

// handOff gives the connection, with what it has buffered, to net/http.
func (cc *clientConn) handOff() {
	_ = cc.c.SetReadDeadline(time.Time{})
	probeIdle(cc.c)
	cc.f.mu.Lock()
	delete(cc.f.conns, cc)
	cc.f.mu.Unlock()
	cc.f.g.handoffs.Add(1)
	cc.f.handoff.push(&bufferedConn{Conn: cc.c, r: cc.br})
}

// forward sends one request to a replica and its response to the client.
// It returns whether the client connection stays open.
func (cc *clientConn) forward(head []byte) bool {
	rq := &cc.req
	cc.out = appendOutHead(cc.out[:0], head, rq, cc.ip, cc.trusted, cc.f.tlsConf != nil)
	host := normHost(string(rq.host))
	path := string(rq.path)
	// Everything below reads the client again: head is gone after this.
	if _, err := cc.br.Discard(rq.headLen); err != nil {
		return false
	}
	if rq.bodyLen > 0 {
		if cap(cc.body) < int(rq.bodyLen) {
			cc.body = make([]byte, rq.bodyLen)
		}
		cc.body = cc.body[:rq.bodyLen]
		if _, err := io.ReadFull(cc.br, cc.body); err != nil {
			return false
		}
		cc.out = append(cc.out, cc.body...)
	}
	keep := !rq.close && !cc.f.closing.Load()
	rt := cc.f.l.match(host, path)
	if rt == nil {
		return cc.writeError(http.StatusNotFound, "404 no route for "+host+path, keep)
	}
	try := attempts{rt: rt, replayable: rq.replayable()}
	b := try.first()
	if b == nil {
		rt.reqs.failed()
		return cc.writeError(http.StatusServiceUnavailable, "503 no ready replica for this route", keep)
	}
	isHead := string(rq.method) == "HEAD"
	stale := 0
	for b != nil {
		u, reused, err := b.upstream(cc.f.g.o.DialTimeout, cc.f.g.o.UpstreamIdle, try.replayable)
		if err != nil {
			// Nothing was sent, and the body is buffered: any request may
			// try another replica.
			b = try.failed(cc.f.g, false, err)
			continue
		}
		b.acquire()
		keepUp, wrote, err := cc.exchange(u, isHead, &keep)
		b.release()
		if err == nil {
			cc.answered(rt, b, u, keepUp)
			return keep
		}
		u.close()
		if errors.Is(err, errClientGone) {
			rt.reqs.failed()
			cc.f.g.o.Log.Debug("ingress client left before the replica answered", "replica", b.ID)
			return false
		}
		if wrote {
			// The client has part of a response: only closing tells it.
			rt.reqs.failed()
			cc.f.g.o.Log.Debug("ingress response cut short", "replica", b.ID, "err", err)
			return false
		}
		if reused && stale < staleRetries && try.replayable {
			// Most likely the replica closed an idle pooled connection:
			// try it again on a new one before calling it failed (the
			// net/http Transport does the same on its own).
			stale++
			b.closeIdle()
			continue
		}
		b = try.failed(cc.f.g, true, err)
	}
	rt.reqs.failed()
	return cc.writeError(http.StatusBadGateway, "502 bad gateway", keep)
}

// answered records a response b gave in full and keeps u for the next
// request if the replica does.
func (cc *clientConn) answered(rt *route, b *backend, u *upConn, keepUp bool) {
	rt.reqs.status(cc.status)
	b.succeeded()
	if keepUp {
		b.putIdle(u)
	} else {
		u.close()
	}
}

// finishExchange answers the request an event loop sent to b on u and
// handed over with the response (its head read so far in u's reader). It
// returns whether the client connection stays open.
func (cc *clientConn) finishExchange(rt *route, b *backend, u *upConn, isHead, keep bool) bool {
	keepUp, wrote, err := cc.respond(u, isHead, &keep)
	b.release()
	if err == nil {
		cc.answered(rt, b, u, keepUp)
		return keep
	}
	u.close()
	rt.reqs.failed()
	cc.f.g.o.Log.Debug("ingress response from the event loop failed", "replica", b.ID, "err", err)
	if wrote {
		return false
	}
	return cc.writeError(http.StatusBadGateway, "502 bad gateway", keep)
}

// exchange writes the request to u and copies the response to the client.
// wrote says whether any of the response reached the client (then a
// failure cannot be retried or answered with an error).
func (cc *clientConn) exchange(u *upConn, isHead bool, keep *bool) (keepUp, wrote bool, err error) {
	if _, err := u.c.Write(cc.out); err != nil {
		return false, false, err
	}
	if err := cc.awaitReplica(u); err != nil {
		return false, false, err
	}
	return cc.respond(u, isHead, keep)
}

// respond copies the response u starts with to the client.
func (cc *clientConn) respond(u *upConn, isHead bool, keep *bool) (keepUp, wrote bool, err error) {
	var h respHead
	for {
		cc.rhead, err = readResponseHead(u.br, cc.rhead)
		if err != nil {
			if errors.Is(err, io.EOF) && len(cc.rhead) == 0 {
				err = io.ErrUnexpectedEOF
			}
			return false, wrote, err
		}
		cc.rout, err = parseResponseHead(cc.rout[:0], cc.rhead, &h)
		if err != nil {
			return false, wrote, err
		}
		if h.status == http.StatusSwitchingProtocols {
			return false, wrote, errBadResponse // never asked for
		}
		if h.status >= 200 {
			cc.status = h.status
			break
		}
		// Interim responses (103 Early Hints) pass through as they come.
		cc.rout = append(cc.rout, "\r\n"...)
		wrote = true
		if _, err := cc.bw.Write(cc.rout); err != nil {
			return false, wrote, err
		}
		if err := cc.bw.Flush(); err != nil {
			return false, wrote, err
		}
	}
	noBody := h.noBody(isHead)
	closeDelimited := !noBody && !h.chunked && h.length < 0
	if closeDelimited {
		*keep = false
	}
	if !*keep {
		cc.rout = append(cc.rout, "Connection: close\r\n"...)
	}
	cc.rout = append(cc.rout, "\r\n"...)
	wrote = true
	if _, err := cc.bw.Write(cc.rout); err != nil {
		return false, wrote, err
	}
	bc := bodyCopy{dst: cc.bw, src: u.br, dstConn: cc.c, srcConn: u.c}
	switch {
	case noBody:
	case h.chunked:
		err = bc.chunked()
	case h.length >= 0:
		err = bc.copyN(h.length)
	default:
		err = bc.copyN(-1)
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		return false, wrote, err
	}
	if err := cc.bw.Flush(); err != nil {
		return false, wrote, err
	}
	return !h.close && !closeDelimited, wrote, nil
}

// bodyCopy moves a response body from a replica to the client.
type bodyCopy struct {
	dst *bufio.Writer
	src *bufio.Reader
	// The connections under dst and src: large bodies are copied between
	// them through one large buffer once dst and src are drained. Nil
	// disables that.
	dstConn, srcConn net.Conn
}

// flushIfDrained sends what dst holds when src has nothing buffered: the
// next read may wait for the replica, and the client should not wait too.
func (bc *bodyCopy) flushIfDrained() error {
	if bc.src.Buffered() == 0 && bc.dst.Buffered() > 0 {
		return bc.dst.Flush()
	}
	return nil
}

// bulkMin is the remaining length above which a body bypasses the buffers.
const bulkMin = 64 << 10

// slowAnswer is how long a replica may take to start answering before the
// fast path also watches the client for hanging up.
const slowAnswer = time.Second

var errClientGone = errors.New("client closed the connection while the replica was answering")

// awaitReplica returns once the replica starts answering. If that takes
// longer than slowAnswer, a watcher reads the client meanwhile: when the
// client hangs up, the replica connection is closed, so the replica sees
// the request cancelled (as net/http's path cancels it) instead of working
// on for nobody, and a long poll does not hold a connection.
func (cc *clientConn) awaitReplica(u *upConn) error {
	_ = u.c.SetReadDeadline(time.Now().Add(slowAnswer))
	_, err := u.br.Peek(1)
	_ = u.c.SetReadDeadline(time.Time{})
	if !isTimeout(err) {
		return err
	}
	// A long wait: a client that vanishes without a word is found by the
	// kernel's probes, as on any connection net/http keeps.
	probeIdle(cc.c)
	var gone atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Bytes that arrive (a pipelined request) stay buffered for later;
		// only an end of stream or a reset means the client left.
		_, err := cc.br.Peek(1)
		if err != nil && !isTimeout(err) {
			gone.Store(true)
			_ = u.c.Close()
		}
	}()
	_, err = u.br.Peek(1)
	// Stop the watcher: a read deadline in the past wakes it with a
	// timeout, which it ignores; the next request sets a fresh deadline.
	_ = cc.c.SetReadDeadline(time.Unix(1, 0))
	<-done
	cc.deadline = time.Time{}
	_ = cc.c.SetReadDeadline(time.Time{})
	if gone.Load() {
		return errClientGone
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// copyN copies n bytes (all, when n < 0) from src to dst, flushing dst
// whenever src has nothing buffered, so a streamed response reaches the
// client as it is produced rather than when a buffer fills.
func (bc *bodyCopy) copyN(n int64) error {
	dst, src := bc.dst, bc.src
	for n != 0 {
		if err := bc.flushIfDrained(); err != nil {
			return err
		}
		if src.Buffered() == 0 && bc.dstConn != nil && (n < 0 || n > bulkMin) {
			return bc.bulk(n)
		}
		want := src.Buffered()
		if want == 0 {
			want = 1
		}
		if n > 0 && int64(want) > n {
			want = int(n)
		}
		p, err := src.Peek(want)
		if len(p) > 0 {
			if _, werr := dst.Write(p); werr != nil {
				return werr
			}
			_, _ = src.Discard(len(p))
			if n > 0 {
				n -= int64(len(p))
			}
		}
		if err != nil {
			if n < 0 && errors.Is(err, io.EOF) {
				return io.EOF
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

var bulkBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// bulk copies the rest of a body connection to connection through a large
// buffer. (Kernel splicing between the two TCP sockets measured slower on
// loopback.) Without a length it ends at EOF, reported as io.EOF like copyN.
func (bc *bodyCopy) bulk(n int64) error {
	buf := bulkBufs.Get().(*[]byte)
	defer bulkBufs.Put(buf)
	// The wrappers hide ReadFrom/WriteTo, which would splice.
	dst := struct{ io.Writer }{bc.dstConn}
	var src io.Reader = struct{ io.Reader }{bc.srcConn}
	if n >= 0 {
		src = io.LimitReader(src, n)
	}
	got, err := io.CopyBuffer(dst, src, *buf)
	switch {
	case err != nil:
		return err
	case n < 0:
		return io.EOF
	case got < n:
		return io.ErrUnexpectedEOF
	}
	return nil
}

// chunked passes a chunked body through unchanged, reading its framing
// to know where it ends. It reads the framing as strictly as net/http's
// client does (CRLF line ends, plain hex sizes, valid trailer fields, a
// bound on framing overhead), so a body framed one way for the ingress
// cannot be framed another way for the client.
func (bc *bodyCopy) chunked() error {
	dst, src := bc.dst, bc.src
	var excess int64 // framing bytes beyond a fair share, as net/http counts them
	for {
		if err := bc.flushIfDrained(); err != nil {
			return err
		}
		line, err := bc.framingLine()
		if err != nil {
			return err
		}
		size, err := chunkSize(line)
		if err != nil {
			return err
		}
		excess += int64(len(line)) - 16 - 2*size
		if excess = max(excess, 0); excess > 16<<10 {
			return errBadChunk
		}
		if _, err := dst.Write(line); err != nil {
			return err
		}
		if size == 0 {
			return bc.trailer()
		}
		if err := bc.copyN(size); err != nil {
			return err
		}
		crlf, err := src.Peek(2)
		if err != nil || string(crlf) != "\r\n" {
			if err == nil || errors.Is(err, io.EOF) {
				err = errBadChunk
			}
			return err
		}
		if _, err := dst.Write(crlf); err != nil {
			return err
		}
		_, _ = src.Discard(2)
	}
}

// framingLine reads one line of chunk framing (a size line or a trailer
// field). The body ending inside it is unexpected; a line longer than src's
// buffer is not framing net/http's client would accept.
func (bc *bodyCopy) framingLine() ([]byte, error) {
	line, err := bc.src.ReadSlice('\n')
	switch {
	case err == nil:
		return line, nil
	case errors.Is(err, io.EOF):
		return nil, io.ErrUnexpectedEOF
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errBadChunk
	}
	return nil, err
}

// maxTrailer bounds the trailer section (net/http's client reads at most
// its 4 KiB buffer).
const maxTrailer = 4 << 10

// trailer passes on the trailer fields after the last chunk and the blank
// line that ends the body.
func (bc *bodyCopy) trailer() error {
	total := 0
	for {
		line, err := bc.framingLine()
		if err != nil {
			return err
		}
		// CRLF line ends only: net/http's client looks for a CRLF CRLF.
		if total += len(line); total > maxTrailer || len(line) < 2 || line[len(line)-2] != '\r' {
			return errBadChunk
		}
		l := line[:len(line)-2]
		if len(l) > 0 && !validField(l) {
			return errBadChunk
		}
		if _, err := bc.dst.Write(line); err != nil {
			return err
		}
		if len(l) == 0 {
			return nil
		}
	}
}

var errBadChunk = errors.New("malformed chunked body from replica")

// chunkSize reads a chunk-size line: hex digits, optional trailing
// whitespace and extensions, CRLF.
func chunkSize(line []byte) (int64, error) {
	n := len(line)
	if n < 2 || line[n-2] != '\r' || bytes.IndexByte(line[:n-2], '\r') >= 0 || n-2 >= 4096 {
		return 0, errBadChunk // bare LF, stray CR, or too long
	}
	s := line[:n-2]
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	if i := bytes.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	if len(s) == 0 || len(s) > 15 {
		return 0, errBadChunk
	}
	var v int64
	for _, c := range s {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, errBadChunk
		}
		v = v<<4 | int64(c)
	}
	return v, nil
}

// writeError answers the client as http.Error does.
func (cc *clientConn) writeError(code int, msg string, keep bool) bool {
	b := cc.rout[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(msg)+1), 10)
	if !keep {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	if string(cc.req.method) != "HEAD" {
		b = append(b, msg...)
		b = append(b, '\n')
	}
	cc.rout = b
	if _, err := cc.bw.Write(b); err != nil {
		return false
	}
	return cc.bw.Flush() == nil && keep
}

// upConn is a connection to a replica.
type upConn struct {
	c        net.Conn
	br       *bufio.Reader
	lastUsed time.Time
}

func (u *upConn) close() {
	_ = u.c.Close()
	if u.br != nil {
		u.br.Reset(nil)
		readerPool.Put(u.br)
		u.br = nil
	}
}

// upstream returns a pooled connection to b or dials one. Requests that
// must not be sent twice only take connections used within freshFor.
func (b *backend) upstream(dialTimeout, idleFor time.Duration, replayable bool) (*upConn, bool, error) {
	now := time.Now()
	b.poolMu.Lock()
	for len(b.idleConns) > 0 {
		u := b.idleConns[len(b.idleConns)-1]
		b.idleConns = b.idleConns[:len(b.idleConns)-1]
		age := now.Sub(u.lastUsed)
		if age > idleFor || (!replayable && age > freshFor) {
			b.poolMu.Unlock()
			u.close()
			b.poolMu.Lock()
			continue
		}
		b.poolMu.Unlock()
		return u, true, nil
	}
	b.poolMu.Unlock()
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	c, err := d.Dial("tcp", b.Addr)
	if err != nil {
		return nil, false, err
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(c)
	return &upConn{c: c, br: br}, false, nil
}

// putIdle keeps u for the next request unless b is going away.
func (b *backend) putIdle(u *upConn) {
	u.lastUsed = time.Now()
	b.poolMu.Lock()
	if b.draining.Load() || b.retired.Load() || len(b.idleConns) >= maxIdlePerBackend {
		b.poolMu.Unlock()
		u.close()
		return
	}
	b.idleConns = append(b.idleConns, u)
	b.poolMu.Unlock()
}

// closeIdleOlder closes b's pooled connections unused for d or longer (all
// of them when d is 0).
func (b *backend) closeIdleOlder(d time.Duration) {
	now := time.Now()
	var old []*upConn
	b.poolMu.Lock()
	keep := b.idleConns[:0]
	for _, u := range b.idleConns {
		if now.Sub(u.lastUsed) >= d {
			old = append(old, u)
		} else {
			keep = append(keep, u)
		}
	}
	clear(b.idleConns[len(keep):])
	b.idleConns = keep
	b.poolMu.Unlock()
	for _, u := range old {
		u.close()
	}
}

// closeIdle closes b's pooled connections.
func (b *backend) closeIdle() { b.closeIdleOlder(0) }

// retire is for a backend no route uses any more: its pool closes and takes
// no connection back.
func (b *backend) retire() {
	b.retired.Store(true)
	b.closeIdle()
}

// probeIdle turns TCP keep-alive on (net.Listen's defaults) for a client
// connection that may now stay quiet for long: one handed to net/http
// (websockets, h2, long polls there) or waiting on a slow replica.
func probeIdle(c net.Conn) {
	for {
		switch v := c.(type) {
		case *guardConn:
			c = v.Conn
		case *bufferedConn:
			c = v.Conn
		case *prefixConn:
			c = v.Conn
		case *tls.Conn:
			c = v.NetConn()
		case *net.TCPConn:
			_ = v.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
			return
		default:
			return
		}
	}
}

// bufferedConn is a client connection handed to net/http with bytes the
// fast path already read (the request it declined) still in r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// connQueue is the net.Listener the net/http server accepts handed-off
// connections from.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		_ = c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
