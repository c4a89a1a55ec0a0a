package ingress

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zlayer/zlayer/internal/defaults"
)

// Limits bound what clients can hold on the ingress's listeners, so a flood
// of connections or source ports cannot exhaust the node's memory or
// descriptors. Zero fields take the defaults (DefaultLimits).
type Limits struct {
	// MaxConns caps the connections one http, https or tcp listener holds;
	// MaxConnsPerSource caps those from one client address. Past a cap a
	// new connection is closed at once; the others keep working.
	MaxConns          int
	MaxConnsPerSource int
	// HeaderTimeout bounds the TLS handshake and reading a request head
	// (slow-header clients).
	HeaderTimeout time.Duration
	// IdleTimeout closes an HTTP keep-alive connection with no request.
	IdleTimeout time.Duration
	// WriteTimeout cuts off a client that accepts none of what is sent to
	// it for this long (a client that stops reading its response). It
	// bounds a stall, not a long download.
	WriteTimeout time.Duration
	// TCPIdle closes a tcp endpoint's connection once neither side has
	// sent anything for this long.
	TCPIdle time.Duration
	// UDPIdle ends a udp client's session after this much silence.
	UDPIdle time.Duration
	// MaxUDPSessions caps the sessions (one socket each) one udp listener
	// keeps; MaxUDPSessionsPerSource those of one client address (any
	// port). Datagrams that would open a session past a cap are dropped.
	MaxUDPSessions          int
	MaxUDPSessionsPerSource int
}

// DefaultLimits are the limits of fields left zero.
var DefaultLimits = Limits{
	MaxConns:                10000,
	MaxConnsPerSource:       256,
	HeaderTimeout:           30 * time.Second,
	IdleTimeout:             120 * time.Second,
	WriteTimeout:            60 * time.Second,
	TCPIdle:                 10 * time.Minute,
	UDPIdle:                 60 * time.Second,
	MaxUDPSessions:          10000,
	MaxUDPSessionsPerSource: 256,
}

func (l Limits) withDefaults() Limits { return defaults.Fill(l, DefaultLimits) }

// Stats counts what the limits turned away since the ingress started.
type Stats struct {
	RefusedConns       int64 // http, https and tcp connections closed at accept
	DroppedUDPSessions int64 // datagrams that would have opened a session past a cap
	// Open connections and udp sessions, on every listener.
	Conns, UDPSessions int64
}

// Stats reports the counters of the limits.
func (g *Ingress) Stats() Stats {
	return Stats{RefusedConns: g.refusedConns.Load(), DroppedUDPSessions: g.droppedUDP.Load(),
		Conns: g.openConns.Load(), UDPSessions: g.openUDP.Load()}
}

// admission caps what one listener holds, in total and per source address:
// connections for http, https and tcp, sessions for udp.
type admission struct {
	max, perSource int
	// refused and open are the ingress's counters this listener adds to.
	refused, open *atomic.Int64
	what          string // "connection" or "udp session", for the log
	port          int
	log           *slog.Logger

	mu       sync.Mutex
	total    int
	bySource map[netip.Addr]int
	lastLog  time.Time
	quiet    int64 // refusals since the last log line
}

func newAdmission(max, perSource int, refused, open *atomic.Int64, what string, port int, log *slog.Logger) *admission {
	return &admission{max: max, perSource: perSource, refused: refused, open: open, what: what, port: port, log: log, bySource: map[netip.Addr]int{}}
}

// connAdmission caps l's client connections (http, https, tcp), counted in
// the ingress's connection stats; what names them in the log.
func (g *Ingress) connAdmission(l *listener, what string) *admission {
	lim := g.o.Limits
	return newAdmission(lim.MaxConns, lim.MaxConnsPerSource, &g.refusedConns, &g.openConns, what, l.port, g.o.Log)
}

// udpAdmission caps l's udp sessions, counted in the ingress's udp stats.
func (g *Ingress) udpAdmission(l *listener) *admission {
	lim := g.o.Limits
	return newAdmission(lim.MaxUDPSessions, lim.MaxUDPSessionsPerSource, &g.droppedUDP, &g.openUDP, "udp session", l.port, g.o.Log)
}

// admit takes a place for src, or reports (rate-limited in the log, always
// in the counter) that none is left.
func (a *admission) admit(src netip.Addr) bool {
	a.mu.Lock()
	ok := a.total < a.max && a.bySource[src] < a.perSource
	if ok {
		a.total++
		a.bySource[src]++
		a.mu.Unlock()
		a.open.Add(1)
		return true
	}
	a.quiet++
	now := time.Now()
	var n int64
	if now.Sub(a.lastLog) >= 10*time.Second {
		n, a.quiet, a.lastLog = a.quiet, 0, now
	}
	total, fromSrc := a.total, a.bySource[src]
	a.mu.Unlock()
	a.refused.Add(1)
	if n > 0 {
		a.log.Warn("ingress at its limit: refusing new "+a.what+"s", "port", a.port, "refused", n, "open", total,
			"max", a.max, "source", src.String(), "open_from_source", fromSrc, "max_per_source", a.perSource)
	}
	return false
}

// leave gives src's place back.
func (a *admission) leave(src netip.Addr) {
	a.mu.Lock()
	a.total--
	if a.bySource[src] <= 1 {
		delete(a.bySource, src)
	} else {
		a.bySource[src]--
	}
	a.mu.Unlock()
	a.open.Add(-1)
}

// peerAddr is the address a connection comes from (the zero Addr when it
// has none, which then counts as one source).
func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// slack is how out of date a deadline of d may get before it is moved:
// moving one costs a timer update, too much for every request or write.
func slack(d time.Duration) time.Duration { return min(time.Second, d/8) }

// guardConn is an admitted client connection: Close gives its place back
// (once, whoever closes it: the fast path or net/http), and every Write
// first moves the write deadline WriteTimeout ahead, so a write fails only
// when the client took nothing for that long.
type guardConn struct {
	net.Conn
	a       *admission
	src     netip.Addr
	timeout time.Duration
	// deadline is the write deadline last set (unix nanoseconds); it is
	// moved only once it is slack old.
	deadline atomic.Int64
	closed   atomic.Bool
	stalled  atomic.Bool // a write timed out
}

func (c *guardConn) Write(p []byte) (int, error) {
	now := time.Now()
	if d := c.deadline.Load(); d-now.UnixNano() < int64(c.timeout-slack(c.timeout)) {
		next := now.Add(c.timeout)
		c.deadline.Store(next.UnixNano())
		_ = c.Conn.SetWriteDeadline(next)
	}
	n, err := c.Conn.Write(p)
	if err != nil && isTimeout(err) {
		c.stalled.Store(true)
	}
	return n, err
}

// SetWriteDeadline is kept for net/http, which clears write deadlines it
// set: a zero deadline means "the guard's again".
func (c *guardConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.deadline.Store(0)
		return nil
	}
	c.deadline.Store(t.UnixNano())
	return c.Conn.SetWriteDeadline(t)
}

func (c *guardConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *guardConn) Close() error {
	if c.stalled.Load() {
		discardUnsent(c.Conn)
	}
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.a.leave(c.src)
	}
	return err
}

// discardUnsent makes closing c reset it, dropping what the kernel still
// holds for a client that stopped reading (megabytes per socket, kept for
// minutes otherwise), as nginx's reset_timedout_connection does.
func discardUnsent(c net.Conn) {
	if pc, ok := c.(*prefixConn); ok {
		c = pc.Conn
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// CloseWrite half-closes, for the tcp endpoint's pipe.
func (c *guardConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
