package nameserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// forwarder relays queries for names outside the cluster to the node's
// resolvers, a bounded number at a time.
type forwarder struct {
	upstreams []string // host:port
	timeout   time.Duration
	slots     chan struct{}
	udp, tcp  *dns.Client

	perSource int
	mu        sync.Mutex
	bySource  map[netip.Addr]int // forwards in flight
}

func newForwarder(upstreams []string, timeout time.Duration, max, perSource int) *forwarder {
	return &forwarder{
		upstreams: upstreams, timeout: timeout, slots: make(chan struct{}, max),
		udp:       &dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize},
		tcp:       &dns.Client{Net: "tcp"},
		perSource: perSource, bySource: map[netip.Addr]int{},
	}
}

// take reserves a forward for src: one of the node's slots and one of
// src's, so a replica whose queries hang cannot hold them all.
func (f *forwarder) take(src netip.Addr) (release func(), ok bool) {
	f.mu.Lock()
	if f.bySource[src] >= f.perSource {
		f.mu.Unlock()
		return nil, false
	}
	f.bySource[src]++
	f.mu.Unlock()
	untake := func() {
		f.mu.Lock()
		if f.bySource[src]--; f.bySource[src] <= 0 {
			delete(f.bySource, src)
		}
		f.mu.Unlock()
	}
	select {
	case f.slots <- struct{}{}:
		return func() { <-f.slots; untake() }, true
	default:
		untake()
		return nil, false
	}
}

// forward answers r from the first upstream that answers, over the
// transport the client used (a truncated UDP answer is passed on, so the
// client retries over TCP, as it would with the upstream itself).
func (s *Server) forward(w dns.ResponseWriter, r *dns.Msg, src netip.Addr) {
	f := s.fwd
	fail := func(counter interface{ Add(uint64) uint64 }) {
		counter.Add(1)
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		m.RecursionAvailable = true
		_ = w.WriteMsg(m)
	}
	if len(f.upstreams) == 0 {
		fail(&s.failed)
		return
	}
	release, ok := f.take(src)
	if !ok {
		fail(&s.refused)
		return
	}
	defer release()
	c := f.udp
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		c = f.tcp
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	for _, up := range f.upstreams {
		resp, _, err := c.ExchangeContext(ctx, r, up)
		if err != nil || resp == nil {
			if ctx.Err() != nil {
				break
			}
			continue
		}
		resp.Id = r.Id
		s.forwarded.Add(1)
		s.write(w, r, resp)
		return
	}
	fail(&s.failed)
}

// SystemUpstreams are the name servers of the resolver config at path
// (usually /etc/resolv.conf) as host:port, loopback ones left out (a stub
// such as systemd-resolved's 127.0.0.53 only relays to its own upstreams).
// When that leaves none, the stub's upstreams in
// /run/systemd/resolve/resolv.conf are taken, and failing those the
// loopback ones: the server runs in the node's own network, where they
// answer.
func SystemUpstreams(path string) []string {
	all := readNameservers(path)
	var out []string
	for _, a := range all {
		if !a.IsLoopback() {
			out = append(out, hostPort(a))
		}
	}
	if len(out) > 0 || path != "/etc/resolv.conf" {
		if len(out) == 0 {
			for _, a := range all {
				out = append(out, hostPort(a))
			}
		}
		return out
	}
	for _, a := range readNameservers("/run/systemd/resolve/resolv.conf") {
		if !a.IsLoopback() {
			out = append(out, hostPort(a))
		}
	}
	if len(out) == 0 {
		for _, a := range all {
			out = append(out, hostPort(a))
		}
	}
	return out
}

func readNameservers(path string) []netip.Addr {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, line := range strings.Split(string(src), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			// A zone (fe80::1%eth0) is kept: link-local servers need it.
			if a, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

func hostPort(a netip.Addr) string { return netip.AddrPortFrom(a, 53).String() }

// upstreamAddrs checks upstreams given as host or host:port and adds the
// default port.
func upstreamAddrs(ups []string) ([]string, error) {
	out := make([]string, 0, len(ups))
	for _, u := range ups {
		if a, err := netip.ParseAddr(u); err == nil {
			out = append(out, hostPort(a))
			continue
		}
		if ap, err := netip.ParseAddrPort(u); err == nil {
			out = append(out, ap.String())
			continue
		}
		return nil, fmt.Errorf("nameserver: upstream %q is not an IP address or IP:port", u)
	}
	return out, nil
}
