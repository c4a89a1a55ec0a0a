package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure an Ingress.
type Options struct {
	// ListenHost is the address listeners bind (empty: all addresses).
	ListenHost string
	// DataDir keeps the self-signed certificates (DataDir/ingress/tls).
	DataDir string
	// Certs are the node's certificates, chosen by SNI.
	Certs []Cert
	// FailTimeout is how long a backend that refused a connection is
	// skipped (doubling on consecutive failures, up to 10x). Default 1s.
	FailTimeout time.Duration
	// DialTimeout bounds connecting to a backend. Default 2s.
	DialTimeout time.Duration
	// Limits bound connections, sessions and the time clients may take.
	Limits Limits
	// UpstreamIdle closes keep-alive connections to replicas unused this
	// long. Default 90s.
	UpstreamIdle time.Duration
	// TrustedProxies are the peers whose X-Forwarded-* headers are kept
	// and appended to; every other client's are replaced.
	TrustedProxies []netip.Prefix
	// NoFastPath sends every HTTP connection through net/http.
	NoFastPath bool
	// NoEventLoop serves plain http connections on the fast path's
	// goroutines instead of the event loops.
	NoEventLoop bool
	// PreferLocal sends a route's requests to the replicas on this node
	// while at least one of them is healthy, to the other nodes' only when
	// none is (in a cluster; a single node has no remote backends).
	PreferLocal bool
	Log         *slog.Logger
}

// Ingress serves the routes given to Update.
type Ingress struct {
	o     Options
	certs *certStore
	proxy *proxy
	// trusted is Options.TrustedProxies.
	trusted trustedSet

	mu        sync.Mutex
	listeners map[int]*listener
	backends  map[string]*backend // by id + "|" + addr
	cursors   map[string]*atomic.Uint64
	reqCounts map[string]*requestCounts // by route key, like cursors
	closed    bool

	// handoffs counts connections the HTTP/1.1 fast path gave to net/http.
	handoffs atomic.Int64
	// loopHandovers counts connections the event loops gave to the
	// goroutine fast path.
	loopHandovers atomic.Int64
	// loopPartialWrites counts client writes the loops had to finish later
	// (the client's socket was full).
	loopPartialWrites atomic.Int64
	// The counters Stats reports.
	refusedConns, droppedUDP, openConns, openUDP atomic.Int64

	stopReaper chan struct{}
}

// listener is one port: its protocol and the routes it serves, swapped
// atomically so requests never see a half-updated table.
type listener struct {
	port   int
	proto  string
	routes atomic.Pointer[[]*route]
	close  func(ctx context.Context) error
	addr   net.Addr
}

// setDeferAccept has the kernel hold a new connection until its first
// bytes arrive (HTTP and TLS clients speak first), so accept hands over a
// connection whose request is already readable: no read that finds
// nothing, no park and wake of its goroutine before the first request. A
// connection that sends nothing is passed on after a second, when the
// header timeout starts; until then it costs the node no goroutine.
func setDeferAccept(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("TCP_DEFER_ACCEPT: %w", serr)
	}
	return nil
}

// listenTCP listens for l on addr and records the address it got (a port
// of 0 picks one). keepAlive is net.ListenConfig's for the connections it
// accepts: 0 the kernel's probes at Go's defaults, negative none.
// deferAccept is for protocols whose clients speak first (setDeferAccept).
func (l *listener) listenTCP(addr string, keepAlive time.Duration, deferAccept bool) (net.Listener, error) {
	lc := &net.ListenConfig{KeepAlive: keepAlive}
	if deferAccept {
		lc.Control = setDeferAccept
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	l.addr = ln.Addr()
	return ln, nil
}

// New makes an ingress with no listeners.
func New(o Options) (*Ingress, error) {
	if o.FailTimeout == 0 {
		o.FailTimeout = time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	o.Limits = o.Limits.withDefaults()
	if o.UpstreamIdle == 0 {
		o.UpstreamIdle = 90 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cs, err := newCertStore(o.DataDir, o.Certs)
	if err != nil {
		return nil, err
	}
	g := &Ingress{o: o, certs: cs, listeners: map[int]*listener{}, backends: map[string]*backend{}, cursors: map[string]*atomic.Uint64{}, reqCounts: map[string]*requestCounts{}}
	g.trusted = trustedSet(o.TrustedProxies)
	g.proxy = newProxy(g)
	g.stopReaper = make(chan struct{})
	go g.reapIdle()
	return g, nil
}

// reapIdle closes replica connections idle longer than UpstreamIdle, so a
// quiet node does not hold them (and the replicas' sockets) forever.
func (g *Ingress) reapIdle() {
	tick := time.NewTicker(max(g.o.UpstreamIdle/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-g.stopReaper:
			return
		case <-tick.C:
		}
		g.mu.Lock()
		bs := make([]*backend, 0, len(g.backends))
		for _, b := range g.backends {
			bs = append(bs, b)
		}
		g.mu.Unlock()
		for _, b := range bs {
			b.closeIdleOlder(g.o.UpstreamIdle)
		}
	}
}

// Update replaces the route table: listeners open for new ports and close
// for ports no route uses any more (in-flight requests finish). Routes that
// cannot be served (bad values, a port another protocol holds, a port that
// cannot be bound) are reported together; the rest still apply.
func (g *Ingress) Update(routes []Route) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errors.New("ingress closed")
	}
	var errs []error
	byPort := map[int][]*route{}
	proto := map[int]string{}
	used := map[string]*backend{}
	cursors := map[string]*atomic.Uint64{}
	reqCounts := map[string]*requestCounts{}
	sorted := append([]Route(nil), routes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].key() < sorted[j].key() })
	for _, r := range sorted {
		if err := validate(r); err != nil {
			errs = append(errs, err)
			continue
		}
		if p, ok := proto[r.Port]; ok && !compatible(p, r.Protocol) {
			errs = append(errs, fmt.Errorf("route %s: port %d already serves %s", r.key(), r.Port, p))
			continue
		}
		if (r.Protocol == TCP || r.Protocol == UDP) && len(byPort[r.Port]) > 0 {
			errs = append(errs, fmt.Errorf("route %s: port %d already forwards %s for %s", r.key(), r.Port, r.Protocol, byPort[r.Port][0].key()))
			continue
		}
		proto[r.Port] = r.Protocol
		cur := g.cursors[r.key()]
		if cur == nil {
			cur = new(atomic.Uint64)
		}
		cursors[r.key()] = cur
		reqs := g.reqCounts[r.key()]
		if reqs == nil {
			reqs = new(requestCounts)
		}
		reqCounts[r.key()] = reqs
		rt := &route{Route: r, next: cur, reqs: reqs}
		for _, b := range r.Backends {
			k := b.ID + "|" + b.Addr
			be := g.backends[k]
			if be == nil {
				be = &backend{Backend: b}
			}
			used[k] = be
			rt.backends = append(rt.backends, be)
		}
		if g.o.PreferLocal {
			rt.local = localOf(rt.backends)
		}
		byPort[r.Port] = append(byPort[r.Port], rt)
	}
	for k, b := range g.backends {
		if used[k] == nil {
			b.retire()
		}
	}
	g.backends = used
	g.cursors = cursors
	g.reqCounts = reqCounts

	for port, l := range g.listeners {
		if rs, ok := byPort[port]; !ok || l.proto != proto[port] {
			go g.shutdown(l)
			delete(g.listeners, port)
			_ = rs
		}
	}
	for port, rs := range byPort {
		sortRoutes(rs)
		l := g.listeners[port]
		if l == nil {
			var err error
			l, err = g.listen(port, proto[port])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			g.listeners[port] = l
		}
		l.routes.Store(&rs)
	}
	return errors.Join(errs...)
}

// localOf is the local backends of a route that has remote ones too (nil
// when all are of one kind: picking among all is the same).
func localOf(bs []*backend) []*backend {
	var local []*backend
	for _, b := range bs {
		if !b.Remote {
			local = append(local, b)
		}
	}
	if len(local) == len(bs) {
		return nil
	}
	return local
}

// compatible says whether two protocols may share a port: http endpoints
// share one server; everything else needs its own port.
func compatible(a, b string) bool { return a == b && (a == HTTP || a == HTTPS) }

func (g *Ingress) listen(port int, proto string) (*listener, error) {
	l := &listener{port: port, proto: proto}
	empty := []*route{}
	l.routes.Store(&empty)
	addr := net.JoinHostPort(g.o.ListenHost, strconv.Itoa(port))
	var err error
	switch proto {
	case HTTP, HTTPS:
		err = g.serveHTTP(l, addr)
	case TCP:
		err = g.serveTCP(l, addr)
	case UDP:
		err = g.serveUDP(l, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("ingress %s on %s: %w", proto, addr, err)
	}
	g.o.Log.Info("ingress listening", "protocol", proto, "addr", l.addr.String())
	return l, nil
}

func (g *Ingress) shutdown(l *listener) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.close(ctx); err != nil {
		g.o.Log.Warn("ingress listener shutdown", "port", l.port, "err", err)
	}
	g.o.Log.Info("ingress stopped listening", "protocol", l.proto, "port", l.port)
}

// SetClusterCerts makes certs the ones https serves besides the node's own
// (Options.Certs), which win a host both name; among certs a later one wins.
// A certificate that does not load is left out and reported by its hosts.
func (g *Ingress) SetClusterCerts(certs []CertPEM) error { return g.certs.setShared(certs) }

// Addr is the address a port's listener is bound to (nil if none).
func (g *Ingress) Addr(port int) net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.listeners[port]; l != nil {
		return l.addr
	}
	return nil
}

// Drain takes replica id out of rotation on every route and waits until
// the requests and connections it is serving have finished (or ctx ends).
// Call it before stopping the replica.
func (g *Ingress) Drain(ctx context.Context, id string) error {
	g.mu.Lock()
	var bs []*backend
	for _, b := range g.backends {
		if b.ID == id {
			b.mu.Lock()
			if b.idle == nil {
				b.idle = make(chan struct{})
			}
			b.mu.Unlock()
			b.draining.Store(true)
			b.closeIdle()
			bs = append(bs, b)
		}
	}
	g.mu.Unlock()
	for _, b := range bs {
		if b.inflight.Load() == 0 {
			continue
		}
		select {
		case <-b.idle:
		case <-ctx.Done():
			return fmt.Errorf("drain %s: %d requests still in flight: %w", id, b.inflight.Load(), ctx.Err())
		}
	}
	return nil
}

// Close stops every listener, letting in-flight requests finish until ctx ends.
func (g *Ingress) Close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		close(g.stopReaper)
	}
	g.closed = true
	ls := g.listeners
	g.listeners = map[int]*listener{}
	bs := g.backends
	g.mu.Unlock()
	var errs []error
	for _, l := range ls {
		if err := l.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	// Keep-alive connections to replicas go last, once nothing uses them.
	for _, b := range bs {
		b.retire()
	}
	return errors.Join(errs...)
}
