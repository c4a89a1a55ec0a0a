package ingress

// The plain-HTTP event loop. Serving each connection on its own goroutine
// costs a scheduler hand-off every time the goroutine becomes runnable (the
// request arrives, the replica answers): the idle P's thread is woken to
// steal it. On a 2-core node that was the ingress's remaining distance to
// HAProxy and nginx, which wait for all their sockets in one epoll_wait
// per thread. So a plain http port is served by one loop per P, each with
// its own epoll instance, accepting from the shared listener (EPOLLEXCLUSIVE)
// and doing the common case itself, without goroutines: a request without
// a body that may be replayed, routed to a replica over a pooled connection
// of the loop's own, answered with a Content-Length (or no) body.
//
// Everything else leaves the loop for the goroutine fast path in h1.go,
// which keeps the connection from then on: heads it declines, requests
// with bodies or that must not be sent twice, no route or no ready replica
// (its error pages), a failed dial or a replica that fails before its
// answer (its retries, with the request, still buffered, replayed),
// chunked or close-delimited or interim responses (the head read so far
// goes with the replica connection). One implementation of each of those
// rules; the loop only has to know when to let go.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// evInCap is a client's read buffer: the goroutine path's head limit
	// (its bufio.Reader size), so a head the loop cannot hold is one it
	// would decline too.
	evInCap = 8 << 10
	// evHeadCap is what the loop holds of a response head before it hands
	// the response over.
	evHeadCap = 16 << 10
)

// evLoops is a front's loops and what stops them.
type evLoops struct {
	loops []*evLoop
	abort atomic.Bool // shutdown's deadline passed: close everything
	// mu keeps a loop's eventfd open while nudge writes to it: a loop that
	// ends closes its own.
	mu sync.Mutex
	// listening counts the loops still holding the listening socket open:
	// shutdown waits for them, so the port is free when it returns (a
	// listener on it again, or another process's, can bind it).
	listening sync.WaitGroup
}

type evLoop struct {
	f    *front
	ls   *evLoops
	ep   int
	lfd  int // this loop's duplicate of the listener, -1 once closed
	wake int // eventfd: shutdown's nudge

	conns  []*evConn // by fd
	ups    []*evUp   // by fd
	nconns int
	pool   map[*backend][]*evUp

	evs  []unix.EpollEvent
	rbuf []byte
	// free keeps closed connections' structs and buffers for new ones: at
	// thousands of connections a second, allocating their 8 KiB buffers
	// was the collector's work.
	free []*evConn
	now  time.Time
	// next is the earliest deadline of anything this loop holds.
	next         time.Time
	acceptPaused time.Time // accept failed (out of descriptors): retry after
}

// evConn is a client connection in a loop.
type evConn struct {
	fd      int
	src     netip.Addr
	ip      string
	trusted bool
	events  uint32

	in  []byte // read, not yet answered; cap evInCap
	out []byte // response bytes the client has not taken yet

	rq       reqHead
	fwd      []byte // the request as sent to the replica (sent again on a stale connection)
	reqLen   int    // bytes of in the request in flight takes
	inflight bool
	up       *evUp
	rt       *route
	b        *backend
	isHead   bool
	keep     bool
	stale    int
	status   int
	rout     []byte
	sentAt   time.Time

	deadline   time.Time // read: header or idle allowance; zero while in flight
	header     bool      // deadline is the header allowance
	writeSince time.Time // out pending since (or last progress); zero when none
	nodelay    bool      // TCP_NODELAY is set
	wrote      bool      // something was written to the client
	eof        bool      // the client half-closed while its request was in flight
	stalled    bool
}

// evUp is a loop's connection to a replica.
type evUp struct {
	fd         int
	b          *backend
	c          *evConn // the request it serves; nil while pooled
	events     uint32
	connecting bool
	dialed     time.Time
	reused     bool
	got        bool // bytes of this response arrived
	hbuf       []byte
	headDone   bool
	remain     int64
	keepUp     bool
	lastUsed   time.Time
}

// startLoops serves f's listener with one loop per P.
func startLoops(f *front) (*evLoops, error) {
	tl, ok := f.ln.(*net.TCPListener)
	if !ok {
		return nil, errors.New("event loop: not a TCP listener")
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	ls := &evLoops{}
	fail := func(err error) (*evLoops, error) {
		for _, l := range ls.loops {
			l.closeFDs()
		}
		return nil, err
	}
	// One P is left to the rest of the process. Then while every loop
	// waits in epoll_wait a P is idle, and the runtime does not take the
	// loops' Ps away (and hand them back) around each wait: measured, one
	// loop on two Ps used 0.7-0.8x the CPU per request of two loops.
	for range max(1, runtime.GOMAXPROCS(0)-1) {
		l := &evLoop{f: f, ls: ls, lfd: -1, wake: -1, ep: -1, pool: map[*backend][]*evUp{},
			evs: make([]unix.EpollEvent, 128), rbuf: make([]byte, 64<<10)}
		ls.loops = append(ls.loops, l)
		// The loop's own descriptor of the listening socket: closing the
		// net.Listener (shutdown) then cannot pull it from under a loop
		// that is accepting.
		var derr error
		if err := rc.Control(func(fd uintptr) { l.lfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
			return fail(err)
		}
		if derr != nil {
			l.lfd = -1
			return fail(derr)
		}
		ls.listening.Add(1)
		if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
			return fail(err)
		}
		if l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
			return fail(err)
		}
		if err := l.watchListener(); err != nil {
			return fail(err)
		}
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.wake)}); err != nil {
			return fail(err)
		}
	}
	for _, l := range ls.loops {
		f.wg.Add(1)
		go l.run()
	}
	return ls, nil
}

// watchListener adds the listener; EPOLLEXCLUSIVE wakes one loop per
// connection instead of all of them.
func (l *evLoop) watchListener() error {
	return unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.lfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(l.lfd)})
}

// nudge wakes every loop (shutdown started or must end now).
func (ls *evLoops) nudge() {
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, l := range ls.loops {
		if l.wake >= 0 {
			_, _ = unix.Write(l.wake, one)
		}
	}
}

func (l *evLoop) closeFDs() {
	l.unlisten()
	l.ls.mu.Lock()
	defer l.ls.mu.Unlock()
	for _, fd := range []int{l.wake, l.ep} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	l.wake, l.ep = -1, -1
}

// unlisten closes the loop's descriptor of the listening socket.
func (l *evLoop) unlisten() {
	if l.lfd < 0 {
		return
	}
	_ = unix.Close(l.lfd)
	l.lfd = -1
	l.ls.listening.Done()
}

// unlistened waits until no loop holds the listening socket, or ctx ends.
func (ls *evLoops) unlistened(ctx context.Context) {
	done := make(chan struct{})
	go func() { ls.listening.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (l *evLoop) run() {
	defer l.f.wg.Done()
	defer l.closeFDs()
	for {
		// Try without blocking first: under load something is ready, and a
		// blocking call that waits has the runtime hand this goroutine's P
		// to another thread and take one back after.
		n, err := unix.EpollWait(l.ep, l.evs, 0)
		if n == 0 && err == nil {
			n, err = unix.EpollWait(l.ep, l.evs, l.waitMillis())
		}
		l.now = time.Now()
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.f.g.o.Log.Warn("ingress event loop", "err", err)
			l.closeAll()
			return
		}
		for i := range n {
			l.event(int(l.evs[i].Fd), l.evs[i].Events)
		}
		if !l.next.IsZero() && !l.now.Before(l.next) {
			l.sweep()
		}
		if l.f.closing.Load() && l.drain() {
			return
		}
	}
}

func (l *evLoop) waitMillis() int {
	if l.f.closing.Load() {
		return 50
	}
	if l.next.IsZero() {
		return -1
	}
	ms := time.Until(l.next).Milliseconds() + 1
	return int(min(max(ms, 1), 60_000))
}

// arm makes sure the loop wakes by t.
func (l *evLoop) arm(t time.Time) {
	if l.next.IsZero() || t.Before(l.next) {
		l.next = t
	}
}

func (l *evLoop) event(fd int, ev uint32) {
	switch {
	case fd == l.lfd:
		l.accept()
	case fd == l.wake:
		var b [8]byte
		_, _ = unix.Read(l.wake, b[:])
	case fd < len(l.conns) && l.conns[fd] != nil:
		c := l.conns[fd]
		if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
			l.flush(c)
		}
		if l.conns[fd] != c {
			return
		}
		if ev&unix.EPOLLIN != 0 {
			l.readClient(c)
		} else if ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			l.clientGone(c)
		}
	case fd < len(l.ups) && l.ups[fd] != nil:
		l.upEvent(l.ups[fd], ev)
	}
}

// accept takes one connection per wake, as nginx without multi_accept:
// the listener is level-triggered, so a backlog is reported again on the
// next wait beside the requests already in, and accepting until EAGAIN
// would cost a call that finds nothing on every wake.
func (l *evLoop) accept() {
	// syscall's, not x/sys/unix's: that one asks the socket's protocol
	// (a getsockopt) on every accept to tell L2TP addresses apart.
	nfd, sa, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
			return
		}
		// Out of descriptors and the like: stop watching the listener
		// for a moment and keep serving (EPOLLEXCLUSIVE cannot be
		// modified, only removed and added again).
		_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lfd, nil)
		l.acceptPaused = l.now.Add(10 * time.Millisecond)
		l.arm(l.acceptPaused)
		return
	}
	src := sockaddrAddr(sa)
	if l.f.closing.Load() || !l.f.adm.admit(src) {
		_ = unix.Close(nfd)
		return
	}
	c := l.newConn()
	c.fd, c.src, c.ip = nfd, src, src.String()
	c.trusted = l.f.g.trusted.trusts(c.ip)
	if err := l.watch(nfd, &c.events, unix.EPOLLIN, true); err != nil {
		_ = unix.Close(nfd)
		l.f.adm.leave(src)
		return
	}
	for nfd >= len(l.conns) {
		l.conns = append(l.conns, make([]*evConn, len(l.conns)+64)...)
	}
	l.conns[nfd] = c
	l.nconns++
	// Until its first request a connection has the head's allowance.
	l.setDeadline(c, l.f.g.o.Limits.HeaderTimeout, true)
	// The listener defers accept until the first bytes: they are here.
	l.readClient(c)
}

func sockaddrAddr(sa syscall.Sockaddr) netip.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrFrom4(a.Addr)
	case *syscall.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap()
	}
	return netip.Addr{}
}

// watch sets the events fd is watched for (add: first time).
func (l *evLoop) watch(fd int, cur *uint32, events uint32, add bool) error {
	if !add && *cur == events {
		return nil
	}
	op := unix.EPOLL_CTL_MOD
	if add {
		op = unix.EPOLL_CTL_ADD
	}
	*cur = events
	return unix.EpollCtl(l.ep, op, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
}

func (l *evLoop) setDeadline(c *evConn, d time.Duration, header bool) {
	c.deadline, c.header = l.now.Add(d), header
	l.arm(c.deadline)
}

func (l *evLoop) readClient(c *evConn) {
	if len(c.in) == cap(c.in) {
		if !c.inflight && len(c.out) == 0 {
			l.migrate(c) // a head this large: the goroutine path declines it
			return
		}
		// Pipelined requests wait in the kernel until this one is done.
		_ = l.watch(c.fd, &c.events, c.events&^unix.EPOLLIN, false)
		return
	}
	n, err := unix.Read(c.fd, c.in[len(c.in):cap(c.in)])
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	if err != nil || n <= 0 {
		if err == nil && c.inflight {
			// A half-close after the request: the answer still goes out
			// (as on the goroutine path, which only watches a client after
			// slowAnswer); a client gone for good shows as an error.
			c.eof = true
			_ = l.watch(c.fd, &c.events, c.events&^unix.EPOLLIN, false)
			l.arm(c.sentAt.Add(slowAnswer))
			return
		}
		l.clientGone(c)
		return
	}
	c.in = c.in[:len(c.in)+n]
	if !c.inflight && len(c.out) == 0 {
		l.nextRequest(c)
	}
}

var crlf2 = []byte("\r\n\r\n")

// nextRequest starts the request at the front of c.in, if it is whole.
func (l *evLoop) nextRequest(c *evConn) {
	if l.f.closing.Load() {
		l.closeConn(c)
		return
	}
	if len(c.in) == 0 {
		return
	}
	end := bytes.Index(c.in, crlf2)
	if end < 0 {
		if bytes.Contains(c.in, []byte("\n\n")) || len(c.in) == cap(c.in) {
			l.migrate(c)
			return
		}
		if !c.header {
			// The head arrives in pieces: it gets HeaderTimeout, not the
			// idle allowance (slow-header clients).
			l.setDeadline(c, l.f.g.o.Limits.HeaderTimeout, true)
		}
		return
	}
	head := c.in[:end+4]
	if bytes.Contains(head, []byte("\n\n")) || parseRequestHead(head, &c.rq) != nil ||
		c.rq.bodyLen > 0 || !c.rq.replayable() {
		l.migrate(c)
		return
	}
	rt := l.f.l.match(normHost(string(c.rq.host)), string(c.rq.path))
	if rt == nil {
		l.migrate(c)
		return
	}
	try := attempts{rt: rt, replayable: true}
	b := try.first()
	if b == nil {
		l.migrate(c)
		return
	}
	c.fwd = appendOutHead(c.fwd[:0], head, &c.rq, c.ip, c.trusted, false)
	c.reqLen = len(head)
	c.keep = !c.rq.close
	c.isHead = string(c.rq.method) == "HEAD"
	c.rt, c.b, c.stale = rt, b, 0
	c.inflight, c.sentAt = true, l.now
	c.deadline, c.header = time.Time{}, false
	b.acquire()
	l.send(c)
}

// send gets c a replica connection and writes its request.
func (l *evLoop) send(c *evConn) {
	u := l.upstream(c.b)
	if u == nil {
		// The goroutine path dials again, counts the failure and tries
		// another replica.
		c.b.release()
		l.migrate(c)
		return
	}
	u.c, c.up = c, u
	if !u.connecting {
		l.writeRequest(u)
	}
}

func (l *evLoop) writeRequest(u *evUp) {
	n, err := unix.Write(u.fd, u.c.fwd)
	if err != nil || n < len(u.c.fwd) {
		l.upFailed(u)
	}
}

// upstream returns a pooled connection to b, or starts dialing one (nil:
// the dial failed at once).
func (l *evLoop) upstream(b *backend) *evUp {
	p := l.pool[b]
	for len(p) > 0 {
		u := p[len(p)-1]
		p = p[:len(p)-1]
		if l.ups[u.fd] != u {
			continue // closed while pooled
		}
		if l.now.Sub(u.lastUsed) > l.f.g.o.UpstreamIdle {
			l.closeUp(u)
			continue
		}
		l.pool[b] = p
		u.reused = true
		return u
	}
	l.pool[b] = p
	ap, err := netip.ParseAddrPort(b.Addr)
	if err != nil {
		return nil // a name: net.Dial resolves it
	}
	var sa unix.Sockaddr
	af := unix.AF_INET
	if a := ap.Addr().Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Addr: a.As4(), Port: int(ap.Port())}
	} else {
		af = unix.AF_INET6
		sa = &unix.SockaddrInet6{Addr: a.As16(), Port: int(ap.Port())}
	}
	fd, err := unix.Socket(af, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	// What net.Dialer{KeepAlive: 30s} sets: a replica host that vanishes
	// mid-answer is found by the probes.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 30)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15)
	u := &evUp{fd: fd, b: b, dialed: l.now, hbuf: make([]byte, 0, evHeadCap)}
	events := uint32(unix.EPOLLIN)
	switch err := unix.Connect(fd, sa); {
	case err == nil:
	case errors.Is(err, unix.EINPROGRESS):
		u.connecting, events = true, unix.EPOLLOUT
		l.arm(l.now.Add(l.f.g.o.DialTimeout))
	default:
		_ = unix.Close(fd)
		return nil
	}
	if err := l.watch(fd, &u.events, events, true); err != nil {
		_ = unix.Close(fd)
		return nil
	}
	for fd >= len(l.ups) {
		l.ups = append(l.ups, make([]*evUp, len(l.ups)+64)...)
	}
	l.ups[fd] = u
	return u
}

func (l *evLoop) upEvent(u *evUp, ev uint32) {
	if u.connecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		soerr, err := unix.GetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil || soerr != 0 {
			l.upFailed(u)
			return
		}
		u.connecting = false
		_ = l.watch(u.fd, &u.events, unix.EPOLLIN, false)
		if u.c != nil {
			l.writeRequest(u)
		}
		return
	}
	if u.c == nil {
		// A pooled connection has nothing to say: the replica closed it.
		l.closeUp(u)
		return
	}
	if ev&unix.EPOLLIN == 0 {
		// A reset, perhaps while paused for a slow client.
		if u.headDone {
			l.responseCut(u)
		} else {
			l.upFailed(u)
		}
		return
	}
	l.readResponse(u)
}

// upFailed: u failed before any of its answer reached the client.
func (l *evLoop) upFailed(u *evUp) {
	c := u.c
	got, reused := u.got, u.reused
	l.closeUp(u)
	if c == nil {
		return
	}
	c.up = nil
	if reused && !got && c.stale < staleRetries {
		// Most likely the replica closed an idle pooled connection: again
		// on a new one (the goroutine path does the same).
		c.stale++
		l.dropPool(c.b)
		l.send(c)
		return
	}
	c.b.release()
	l.migrate(c)
}

func (l *evLoop) readResponse(u *evUp) {
	c := u.c
	if u.headDone {
		n, err := unix.Read(u.fd, l.rbuf[:min(int64(len(l.rbuf)), u.remain)])
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return
		}
		if err != nil || n <= 0 {
			l.responseCut(u)
			return
		}
		u.remain -= int64(n)
		if !l.writeClient(c, l.rbuf[:n]) {
			return
		}
		if u.remain == 0 {
			l.responseDone(u)
		}
		return
	}
	n, err := unix.Read(u.fd, u.hbuf[len(u.hbuf):cap(u.hbuf)])
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	if err != nil || n <= 0 {
		l.upFailed(u)
		return
	}
	u.got = true
	u.hbuf = u.hbuf[:len(u.hbuf)+n]
	end := bytes.Index(u.hbuf, crlf2)
	if end < 0 {
		if len(u.hbuf) == cap(u.hbuf) || bytes.Contains(u.hbuf, []byte("\n\n")) {
			l.migrateResponse(u)
		}
		return
	}
	head := u.hbuf[:end+4]
	var h respHead
	if !bytes.HasPrefix(head, []byte("HTTP/1.")) || bytes.Contains(head, []byte("\n\n")) {
		l.migrateResponse(u) // stray blank lines, bare LFs: the goroutine path's reader
		return
	}
	rout, err := parseResponseHead(c.rout[:0], head, &h)
	c.rout = rout
	noBody := h.noBody(c.isHead)
	// Large bodies too: copied on their own goroutine through bodyCopy's
	// big buffer, they use both cores, where the loops would copy them
	// beside every other connection's requests.
	if err != nil || h.status < 200 || h.status == http.StatusSwitchingProtocols ||
		(!noBody && (h.chunked || h.length < 0 || h.length > bulkMin)) {
		l.migrateResponse(u)
		return
	}
	if l.f.closing.Load() {
		c.keep = false
	}
	if !c.keep {
		c.rout = append(c.rout, "Connection: close\r\n"...)
	}
	c.rout = append(c.rout, "\r\n"...)
	c.status = h.status
	u.headDone, u.keepUp = true, !h.close
	if !noBody {
		u.remain = h.length
	}
	body := u.hbuf[end+4:]
	if int64(len(body)) > u.remain {
		// More than the framing says: the connection cannot be reused.
		body, u.keepUp = body[:u.remain], false
	}
	u.remain -= int64(len(body))
	// The request is answered from here on: never sent again.
	c.in = c.in[:copy(c.in, c.in[c.reqLen:])]
	c.reqLen = 0
	if c.events&unix.EPOLLIN == 0 && !c.eof {
		_ = l.watch(c.fd, &c.events, c.events|unix.EPOLLIN, false)
	}
	c.rout = append(c.rout, body...)
	u.hbuf = u.hbuf[:0]
	if !l.writeClient(c, c.rout) {
		return
	}
	if u.remain == 0 {
		l.responseDone(u)
	}
}

// writeClient writes p, keeping what the client does not take yet (and
// pausing the replica until it does). false: the client is gone.
func (l *evLoop) writeClient(c *evConn, p []byte) bool {
	if len(c.out) > 0 {
		c.out = append(c.out, p...)
		return true
	}
	if c.wrote && !c.nodelay {
		l.noDelay(c)
	}
	c.wrote = true
	n, err := unix.Write(c.fd, p)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		l.clientGone(c)
		return false
	}
	n = max(n, 0)
	if n == len(p) {
		return true
	}
	c.out = append(c.out[:0], p[n:]...)
	l.f.g.loopPartialWrites.Add(1)
	c.writeSince = l.now
	l.arm(c.writeSince.Add(l.f.g.o.Limits.WriteTimeout))
	_ = l.watch(c.fd, &c.events, c.events|unix.EPOLLOUT, false)
	if u := c.up; u != nil {
		_ = l.watch(u.fd, &u.events, 0, false)
	}
	return true
}

// noDelay turns Nagle's algorithm off once a second write follows the
// first (the rest of a body, the next response): it would hold a small
// write until the client acknowledged the one before. A connection that
// gets one response in one write never needs it: one setsockopt less per
// new connection, as nginx only sets tcp_nodelay on keep-alive.
func (l *evLoop) noDelay(c *evConn) {
	c.nodelay = true
	_ = unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

func (l *evLoop) flush(c *evConn) {
	if !c.nodelay {
		l.noDelay(c)
	}
	n, err := unix.Write(c.fd, c.out)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		l.clientGone(c)
		return
	}
	if n > 0 {
		c.out = c.out[:copy(c.out, c.out[n:])]
		c.writeSince = l.now
		l.arm(c.writeSince.Add(l.f.g.o.Limits.WriteTimeout))
	}
	if len(c.out) > 0 {
		return
	}
	c.writeSince = time.Time{}
	_ = l.watch(c.fd, &c.events, c.events&^unix.EPOLLOUT, false)
	if u := c.up; u != nil {
		_ = l.watch(u.fd, &u.events, unix.EPOLLIN, false)
		return
	}
	l.answered(c)
}

func (l *evLoop) responseDone(u *evUp) {
	c := u.c
	c.b.release()
	c.rt.reqs.status(c.status)
	c.b.succeeded()
	c.inflight, c.up, u.c = false, nil, nil
	if u.keepUp && !c.b.draining.Load() && !c.b.retired.Load() && len(l.pool[c.b]) < maxIdlePerBackend {
		u.headDone, u.got, u.reused, u.remain, u.lastUsed = false, false, false, 0, l.now
		if u.events != unix.EPOLLIN {
			_ = l.watch(u.fd, &u.events, unix.EPOLLIN, false)
		}
		l.pool[c.b] = append(l.pool[c.b], u)
		l.arm(l.now.Add(l.f.g.o.UpstreamIdle))
	} else {
		l.closeUp(u)
	}
	if len(c.out) == 0 {
		l.answered(c)
	}
}

// answered: c's response is out; close it or wait for its next request.
func (l *evLoop) answered(c *evConn) {
	if !c.keep || c.eof || l.f.closing.Load() {
		l.closeConn(c)
		return
	}
	l.setDeadline(c, l.f.g.o.Limits.IdleTimeout, false)
	if len(c.in) > 0 {
		l.nextRequest(c)
	}
}

// responseCut: the replica failed after the client got part of the answer;
// only closing tells the client.
func (l *evLoop) responseCut(u *evUp) {
	c := u.c
	c.rt.reqs.failed()
	c.b.release()
	c.up = nil
	l.closeUp(u)
	l.closeConn(c)
}

// clientGone closes c, and its replica connection if a request is in
// flight (the replica sees the request cancelled).
func (l *evLoop) clientGone(c *evConn) {
	if c.inflight {
		c.rt.reqs.failed()
		c.b.release()
		if c.up != nil {
			l.closeUp(c.up)
			c.up = nil
		}
		c.inflight = false
	}
	l.closeConn(c)
}

func (l *evLoop) closeConn(c *evConn) {
	if c.inflight {
		l.clientGone(c)
		return
	}
	if c.stalled {
		// Drop what the kernel still holds for a client that stopped
		// reading (discardUnsent).
		_ = unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	_ = unix.Close(c.fd)
	l.conns[c.fd] = nil
	l.nconns--
	l.f.adm.leave(c.src)
	l.recycle(c)
}

const (
	maxFreeConns = 256
	maxKeptOut   = 64 << 10
)

func (l *evLoop) newConn() *evConn {
	if n := len(l.free); n > 0 {
		c := l.free[n-1]
		l.free[n-1] = nil
		l.free = l.free[:n-1]
		return c
	}
	return &evConn{in: make([]byte, 0, evInCap)}
}

func (l *evLoop) recycle(c *evConn) {
	if len(l.free) >= maxFreeConns {
		return
	}
	out := c.out[:0]
	if cap(out) > maxKeptOut {
		out = nil
	}
	*c = evConn{in: c.in[:0], out: out, fwd: c.fwd[:0], rout: c.rout[:0]}
	l.free = append(l.free, c)
}

func (l *evLoop) closeUp(u *evUp) {
	_ = unix.Close(u.fd)
	if l.ups[u.fd] == u {
		l.ups[u.fd] = nil
	}
}

func (l *evLoop) dropPool(b *backend) {
	for _, u := range l.pool[b] {
		if l.ups[u.fd] == u {
			l.closeUp(u)
		}
	}
	delete(l.pool, b)
}

// sweep runs the deadlines that passed and arms the next.
func (l *evLoop) sweep() {
	now := l.now
	l.next = time.Time{}
	lim := l.f.g.o.Limits
	if !l.acceptPaused.IsZero() {
		if !now.Before(l.acceptPaused) && l.lfd >= 0 {
			l.acceptPaused = time.Time{}
			_ = l.watchListener()
		} else {
			l.arm(l.acceptPaused)
		}
	}
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		switch {
		case !c.writeSince.IsZero() && !now.Before(c.writeSince.Add(lim.WriteTimeout)):
			c.stalled = true
			l.clientGone(c)
			continue
		case !c.deadline.IsZero() && !now.Before(c.deadline):
			l.closeConn(c)
			continue
		case c.eof && c.inflight && !now.Before(c.sentAt.Add(slowAnswer)):
			l.clientGone(c)
			continue
		}
		if !c.writeSince.IsZero() {
			l.arm(c.writeSince.Add(lim.WriteTimeout))
		}
		if !c.deadline.IsZero() {
			l.arm(c.deadline)
		}
		if c.eof && c.inflight {
			l.arm(c.sentAt.Add(slowAnswer))
		}
	}
	for _, u := range l.ups {
		switch {
		case u == nil:
		case u.connecting && !now.Before(u.dialed.Add(l.f.g.o.DialTimeout)):
			l.upFailed(u)
		case u.connecting:
			l.arm(u.dialed.Add(l.f.g.o.DialTimeout))
		}
	}
	for b, p := range l.pool {
		keep := p[:0]
		for _, u := range p {
			switch {
			case l.ups[u.fd] != u:
			case now.Sub(u.lastUsed) >= l.f.g.o.UpstreamIdle || b.retired.Load() || b.draining.Load():
				l.closeUp(u)
			default:
				keep = append(keep, u)
				l.arm(u.lastUsed.Add(l.f.g.o.UpstreamIdle))
			}
		}
		clear(p[len(keep):])
		if len(keep) == 0 {
			delete(l.pool, b)
		} else {
			l.pool[b] = keep
		}
	}
}

// drain runs while the front shuts down: no more accepts, idle connections
// closed, the rest once answered. true: the loop is done.
func (l *evLoop) drain() bool {
	l.unlisten()
	if l.ls.abort.Load() {
		l.closeAll()
		return true
	}
	for _, c := range l.conns {
		if c != nil && !c.inflight && len(c.out) == 0 {
			l.closeConn(c)
		}
	}
	if l.nconns > 0 {
		return false
	}
	l.closeAll()
	return true
}

func (l *evLoop) closeAll() {
	for _, c := range l.conns {
		if c != nil {
			l.clientGone(c)
		}
	}
	for _, u := range l.ups {
		if u != nil {
			l.closeUp(u)
		}
	}
	clear(l.pool)
}

// fileConn moves fd out of the loop into a net.Conn of the runtime's.
func (l *evLoop) fileConn(fd int) (net.Conn, error) {
	// The registration belongs to the open file, which the duplicate
	// FileConn makes shares: it must go before the descriptor does.
	_ = unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, fd, nil)
	f := os.NewFile(uintptr(fd), "ingress-"+strconv.Itoa(fd))
	nc, err := net.FileConn(f)
	_ = f.Close()
	return nc, err
}

// release takes c out of the loop without closing the client.
func (l *evLoop) release(c *evConn) (*clientConn, bool) {
	l.f.g.loopHandovers.Add(1)
	l.conns[c.fd] = nil
	l.nconns--
	nc, err := l.fileConn(c.fd)
	if err != nil {
		l.f.adm.leave(c.src)
		l.f.g.o.Log.Debug("ingress event loop hand-over", "err", err)
		return nil, false
	}
	var pending []byte
	if len(c.in) > c.reqLen {
		pending = bytes.Clone(c.in[c.reqLen:])
	}
	gc := &guardConn{Conn: &prefixConn{Conn: nc, pending: pending}, a: l.f.adm, src: c.src, timeout: l.f.g.o.Limits.WriteTimeout}
	return &clientConn{f: l.f, c: gc, ip: c.ip, trusted: c.trusted}, true
}

// migrate gives c, its unanswered request still buffered, to the
// goroutine fast path.
func (l *evLoop) migrate(c *evConn) {
	c.inflight, c.reqLen = false, 0
	if cc, ok := l.release(c); ok {
		l.f.wg.Add(1)
		go l.f.serveClient(cc)
	}
}

// migrateResponse gives c and its replica connection, the response head
// read so far in u.hbuf, to the goroutine fast path, which answers the
// request in flight and keeps the connection.
func (l *evLoop) migrateResponse(u *evUp) {
	c := u.c
	l.ups[u.fd] = nil
	unc, uerr := l.fileConn(u.fd)
	cc, ok := l.release(c) // the request was sent: c.in past it goes along
	if uerr != nil || !ok {
		c.rt.reqs.failed()
		c.b.release()
		if uerr == nil {
			_ = unc.Close()
		}
		if ok {
			_ = cc.c.Close()
		}
		return
	}
	up := &upConn{c: &prefixConn{Conn: unc, pending: bytes.Clone(u.hbuf)}, br: readerPool.Get().(*bufio.Reader)}
	up.br.Reset(up.c)
	rt, b, isHead, keep := c.rt, c.b, c.isHead, c.keep && !l.f.closing.Load()
	cc.resume = func() bool { return cc.finishExchange(rt, b, up, isHead, keep) }
	l.f.wg.Add(1)
	go l.f.serveClient(cc)
}

// prefixConn reads pending before the connection: bytes the loop had
// read when it handed the connection over.
type prefixConn struct {
	net.Conn
	pending []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
