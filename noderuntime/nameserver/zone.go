package nameserver

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// Service is one service of a deployment as the cluster runs it: its
// endpoint ports and its replicas on every node.
type Service struct {
	Deployment, Name string
	Ports            []Port
	Replicas         []Replica
}

// Port is an endpoint a service's replicas listen on.
type Port struct {
	Name  string // the endpoint's name, the SRV record's _NAME
	Proto string // "tcp" or "udp"
	Port  uint16 // what the replica listens on (the endpoint's target port)
}

// Replica is a replica of a service. Only ready ones with an address are
// answered; all of them tell which deployment a source address asks for.
type Replica struct {
	ID    string
	Addr  netip.Addr
	Ready bool
}

// entry is what a name in the zone holds. A name without records (a
// deployment, or a service nobody is ready for) still exists: it answers
// NODATA, not NXDOMAIN.
type entry struct {
	addrs []netip.Addr
	srvs  []srv
	// answerable is false for names that only exist as parents
	// (DEPLOYMENT.DOMAIN): a bare DEPLOYMENT is forwarded, not answered.
	answerable bool
}

type srv struct {
	target string // fqdn inside the zone
	port   uint16
	addr   netip.Addr
}

// zone is one immutable snapshot of the names the server answers; a new one
// replaces it on every change, so queries never wait for an update.
type zone struct {
	domain  string                // fqdn, lowercase, e.g. "zlayer.internal."
	names   map[string]*entry     // fqdn, lowercase
	sources map[netip.Addr]string // replica address -> its deployment
}

// buildZone makes the snapshot for services under domain.
func buildZone(domain string, services []Service) *zone {
	z := &zone{domain: domain, names: map[string]*entry{domain: {}}, sources: map[netip.Addr]string{}}
	ambiguous := map[netip.Addr]bool{}
	get := func(name string) *entry {
		e := z.names[name]
		if e == nil {
			e = &entry{}
			z.names[name] = e
		}
		return e
	}
	for _, s := range services {
		if !validLabel(s.Deployment) || !validLabel(s.Name) {
			continue
		}
		dep := strings.ToLower(s.Deployment) + "." + domain
		get(dep)
		name := strings.ToLower(s.Name) + "." + dep
		svc := get(name)
		svc.answerable = true
		var ready []Replica
		for _, r := range s.Replicas {
			if r.Addr.IsValid() {
				// A shared address (host-network replicas all stand at the
				// gateway) says nothing about who asks.
				if d, ok := z.sources[r.Addr]; ok && d != s.Deployment {
					ambiguous[r.Addr] = true
				}
				z.sources[r.Addr] = s.Deployment
			}
			if r.Ready && r.Addr.IsValid() {
				ready = append(ready, r)
			}
		}
		sort.Slice(ready, func(i, j int) bool { return ready[i].ID < ready[j].ID })
		for _, r := range ready {
			svc.addrs = append(svc.addrs, r.Addr)
			if validLabel(r.ID) {
				re := get(strings.ToLower(r.ID) + "." + name)
				re.answerable = true
				re.addrs = append(re.addrs, r.Addr)
			}
		}
		for _, p := range s.Ports {
			if !validLabel(p.Name) || (p.Proto != "tcp" && p.Proto != "udp") {
				continue
			}
			e := get("_" + strings.ToLower(p.Name) + "._" + p.Proto + "." + name)
			e.answerable = true
			for _, r := range ready {
				if !validLabel(r.ID) {
					continue
				}
				e.srvs = append(e.srvs, srv{target: strings.ToLower(r.ID) + "." + name, port: p.Port, addr: r.Addr})
			}
		}
	}
	for a := range ambiguous {
		delete(z.sources, a)
	}
	// Parents of every name exist too (RFC 8020: an empty non-terminal is
	// NODATA).
	for name := range z.names {
		for n := name; n != domain && strings.HasSuffix(n, "."+domain); {
			_, rest, _ := strings.Cut(n, ".")
			n = rest
			if _, ok := z.names[n]; !ok {
				z.names[n] = &entry{}
			}
		}
	}
	return z
}

// validLabel says whether s can be one DNS label as the zone writes it.
func validLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// lookup says which zone name qname (lowercase fqdn) stands for, asked from
// src. inZone is true for names under the domain, which are never
// forwarded. Outside it, SERVICE (the asker's deployment) and
// SERVICE.DEPLOYMENT (and the SRV and replica names below them) are
// answered when the cluster has them; any other name is forwarded, so a
// public name is shadowed only by a service of the same name.
func (z *zone) lookup(qname string, src netip.Addr) (name string, e *entry, inZone bool) {
	if qname == z.domain || strings.HasSuffix(qname, "."+z.domain) {
		return qname, z.names[qname], true
	}
	if dep, ok := z.sources[src]; ok {
		n := qname + strings.ToLower(dep) + "." + z.domain
		if e := z.names[n]; e != nil && e.answerable {
			return n, e, false
		}
	}
	n := qname + z.domain
	if e := z.names[n]; e != nil && e.answerable {
		return n, e, false
	}
	return "", nil, false
}

// answer fills m (a reply to a question for qname of type qtype) from e,
// with owner names as asked. rot spreads the load over the replicas: the
// records come rotated by it, for resolvers that take the first.
func (z *zone) answer(m *dns.Msg, q dns.Question, e *entry, ttl uint32, rot int) {
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	addrRR := func(name string, a netip.Addr, t uint16) dns.RR {
		h := hdr(t)
		h.Name = name
		if t == dns.TypeA {
			return &dns.A{Hdr: h, A: a.AsSlice()}
		}
		return &dns.AAAA{Hdr: h, AAAA: a.AsSlice()}
	}
	wantAddr := func(a netip.Addr, t uint16) bool {
		return (t == dns.TypeA && a.Is4()) || (t == dns.TypeAAAA && a.Is6() && !a.Is4In6())
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		for i := range e.addrs {
			a := e.addrs[(i+rot)%len(e.addrs)]
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if (q.Qtype == t || q.Qtype == dns.TypeANY) && wantAddr(a, t) {
					m.Answer = append(m.Answer, addrRR(q.Name, a, t))
				}
			}
		}
	case dns.TypeSRV:
		for i := range e.srvs {
			s := e.srvs[(i+rot)%len(e.srvs)]
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(dns.TypeSRV), Priority: 0, Weight: 10, Port: s.port, Target: s.target})
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if wantAddr(s.addr, t) {
					m.Extra = append(m.Extra, addrRR(s.target, s.addr, t))
				}
			}
		}
	case dns.TypeSOA:
		if strings.EqualFold(q.Name, z.domain) {
			m.Answer = append(m.Answer, z.soa(q.Name, ttl))
		}
	}
}

// soa is the zone's SOA, also the authority of negative answers: its
// minimum (the negative TTL) is the records' TTL, so a name that appears is
// seen as soon as a positive answer would be.
func (z *zone) soa(name string, ttl uint32) dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  "ns." + z.domain, Mbox: "hostmaster." + z.domain,
		Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: ttl,
	}
}
