// Package nameserver is the node's DNS server for its replicas: it answers
// the cluster's service names with the ready replicas' addresses (A, AAAA)
// and endpoint ports (SRV), from a table the node replaces whenever
// readiness changes, and forwards every other name to the node's own
// resolvers. Names live under a search domain (DefaultDomain):
//
//	SERVICE.DEPLOYMENT.zlayer.internal          A/AAAA of the ready replicas
//	ID.SERVICE.DEPLOYMENT.zlayer.internal       one replica (the SRV targets)
//	_ENDPOINT._tcp.SERVICE.DEPLOYMENT.zlayer.internal  SRV (udp endpoints: _udp)
//
// and, outside the domain, SERVICE (in the asking replica's deployment,
// known by its source address) and SERVICE.DEPLOYMENT. The protocol is
// github.com/miekg/dns's.
package nameserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/netutil"
	"golang.org/x/sys/unix"
)

// Defaults of Options.
const (
	DefaultDomain         = "zlayer.internal"
	DefaultTTL            = time.Second
	DefaultForwardTimeout = 2 * time.Second
	DefaultMaxForwards    = 256
	DefaultSourceForwards = 32
	DefaultSourceRate     = 2000 // queries per second per source address
	DefaultSourceBurst    = 4000
	DefaultMaxTCPConns    = 256
)

// Options configure a Server; zero fields take the defaults.
type Options struct {
	// Domain is the zone of the cluster's names (default zlayer.internal).
	Domain string
	// TTL of every answer, negative ones included (default 1s): answers
	// follow readiness, so caches must not keep them long.
	TTL time.Duration
	// Upstreams are the resolvers other names go to, as host or host:port
	// (default: the node's, from /etc/resolv.conf).
	Upstreams []string
	// ForwardTimeout bounds one forwarded query over all upstreams.
	ForwardTimeout time.Duration
	// MaxForwards bounds the forwarded queries in flight; over it a query
	// gets SERVFAIL at once rather than queueing.
	MaxForwards int
	// SourceForwards bounds one source address's forwards in flight.
	SourceForwards int
	// SourceRate and SourceBurst bound each source address's queries (a
	// token bucket); over it a query gets REFUSED.
	SourceRate, SourceBurst int
	// MaxTCPConns bounds the open TCP connections.
	MaxTCPConns int
	Log         *slog.Logger
}

// Stats count the server's answers since it started.
type Stats struct {
	Answered  uint64 // names of the cluster answered with records
	NoData    uint64 // names of the cluster without records of the type asked
	NXDomain  uint64 // names under the domain that do not exist
	Forwarded uint64 // answers relayed from an upstream
	Failed    uint64 // forwards with no upstream answer (SERVFAIL)
	Refused   uint64 // over a source's rate or a forward limit
}

// Server is one node's DNS server.
type Server struct {
	o     Options
	zone  atomic.Pointer[zone]
	fwd   *forwarder
	limit *sourceLimit
	rot   atomic.Uint32

	answered, nodata, nxdomain, forwarded, failed, refused atomic.Uint64

	mu      sync.Mutex
	servers []*dns.Server
	addrs   []net.Addr
}

// New makes a server with no names yet.
func New(o Options) (*Server, error) {
	if o.Domain == "" {
		o.Domain = DefaultDomain
	}
	if !ValidDomain(o.Domain) {
		return nil, fmt.Errorf("nameserver: domain %q is not a DNS name", o.Domain)
	}
	o.Domain = dns.CanonicalName(o.Domain)
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.ForwardTimeout <= 0 {
		o.ForwardTimeout = DefaultForwardTimeout
	}
	if o.MaxForwards <= 0 {
		o.MaxForwards = DefaultMaxForwards
	}
	if o.SourceForwards <= 0 {
		o.SourceForwards = DefaultSourceForwards
	}
	if o.SourceRate <= 0 {
		o.SourceRate = DefaultSourceRate
	}
	if o.SourceBurst <= 0 {
		o.SourceBurst = max(DefaultSourceBurst, o.SourceRate)
	}
	if o.MaxTCPConns <= 0 {
		o.MaxTCPConns = DefaultMaxTCPConns
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Upstreams == nil {
		o.Upstreams = SystemUpstreams("/etc/resolv.conf")
	}
	ups, err := upstreamAddrs(o.Upstreams)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, fwd: newForwarder(ups, o.ForwardTimeout, o.MaxForwards, o.SourceForwards), limit: newSourceLimit(o.SourceRate, o.SourceBurst)}
	s.zone.Store(buildZone(o.Domain, nil))
	return s, nil
}

// ValidDomain says whether d can be the zone's name: a DNS name of labels
// of letters, digits and dashes (e.g. zlayer.internal, cluster.example.).
func ValidDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if !validLabel(l) {
			return false
		}
	}
	return true
}

// Domain is the zone's name without the final dot.
func (s *Server) Domain() string { return strings.TrimSuffix(s.o.Domain, ".") }

// SetServices replaces the names the server answers.
func (s *Server) SetServices(services []Service) {
	s.zone.Store(buildZone(s.o.Domain, services))
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Answered: s.answered.Load(), NoData: s.nodata.Load(), NXDomain: s.nxdomain.Load(),
		Forwarded: s.forwarded.Load(), Failed: s.failed.Load(), Refused: s.refused.Load(),
	}
}

// Listen serves UDP and TCP on addr (host:port) until Close. The sockets
// are bound with IP_FREEBIND: the node's gateway address only appears once
// the first replica is attached to the bridge, and queries are answered
// from then on. UDP is read from one socket per CPU (SO_REUSEPORT, the
// kernel spreading the sources over them): one reader is a bottleneck.
func (s *Server) Listen(addr string) error {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
		})
		return errors.Join(err, serr)
	}}
	var pcs []net.PacketConn
	closeAll := func() {
		for _, pc := range pcs {
			pc.Close()
		}
	}
	for i := range max(1, runtime.GOMAXPROCS(0)) {
		// The same port for all (an addr with port 0 got a random one).
		at := addr
		if i > 0 {
			at = pcs[0].LocalAddr().String()
		}
		pc, err := lc.ListenPacket(context.Background(), "udp", at)
		if err != nil {
			closeAll()
			return fmt.Errorf("nameserver: listen udp %s: %w", at, err)
		}
		pcs = append(pcs, pc)
	}
	tcpAddr := pcs[0].LocalAddr().String()
	ln, err := lc.Listen(context.Background(), "tcp", tcpAddr)
	if err != nil {
		closeAll()
		return fmt.Errorf("nameserver: listen tcp %s: %w", tcpAddr, err)
	}
	var servers []*dns.Server
	for _, pc := range pcs {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: s, UDPSize: dns.MinMsgSize})
	}
	servers = append(servers, &dns.Server{Listener: netutil.LimitListener(ln, s.o.MaxTCPConns), Handler: s,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxTCPQueries: 128,
		IdleTimeout: func() time.Duration { return 8 * time.Second }})
	s.mu.Lock()
	s.servers = append(s.servers, servers...)
	s.addrs = append(s.addrs, pcs[0].LocalAddr())
	s.mu.Unlock()
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.o.Log.Warn("nameserver stopped", "addr", tcpAddr, "err", err)
			}
		}()
		<-started
	}
	return nil
}

// Addrs are the UDP addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Close stops listening.
func (s *Server) Close() error {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Shutdown())
	}
	return errors.Join(errs...)
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	src := sourceAddr(w.RemoteAddr())
	m := new(dns.Msg)
	if !s.limit.allow(src) {
		s.refused.Add(1)
		m.SetRcode(r, dns.RcodeRefused)
		_ = w.WriteMsg(m)
		return
	}
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		m.SetRcode(r, dns.RcodeNotImplemented)
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	z := s.zone.Load()
	qname := dns.CanonicalName(q.Name)
	_, e, inZone := z.lookup(qname, src)
	if e == nil && !inZone {
		s.forward(w, r, src)
		return
	}
	ttl := uint32(s.o.TTL / time.Second)
	if ttl == 0 {
		ttl = 1
	}
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	if e == nil {
		m.Rcode = dns.RcodeNameError
		s.nxdomain.Add(1)
	} else {
		z.answer(m, q, e, ttl, int(s.rot.Load()))
		switch len(m.Answer) {
		case 0:
			s.nodata.Add(1)
		case 1:
			s.answered.Add(1)
		default:
			// Only answers with a choice move the rotation on: a resolver
			// asks A and AAAA together, and the empty AAAA would otherwise
			// undo every second step.
			s.rot.Add(1)
			s.answered.Add(1)
		}
	}
	if len(m.Answer) == 0 && inZone {
		m.Ns = append(m.Ns, z.soa(z.domain, ttl))
	}
	if o := r.IsEdns0(); o != nil {
		// An answer past 512 bytes needs the OPT record that allows it.
		m.SetEdns0(min(max(o.UDPSize(), dns.MinMsgSize), dns.DefaultMsgSize), false)
	}
	s.write(w, r, m)
}

// write sends m, truncated to what the client can take over UDP.
func (s *Server) write(w dns.ResponseWriter, r, m *dns.Msg) {
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = min(max(size, int(o.UDPSize())), dns.DefaultMsgSize)
		}
		m.Truncate(size)
	} else {
		m.Truncate(dns.MaxMsgSize)
	}
	_ = w.WriteMsg(m)
}

func sourceAddr(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	return ip.Unmap()
}
