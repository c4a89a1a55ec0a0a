package network

import (
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/zlayer/zlayer/noderuntime/discovery"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/nameserver"
)

// DNSSection is the `network.dns:` part of the node config: the node's DNS
// server, which bridge replicas use as their resolver.
//
//	network:
//	  dns:
//	    disabled: false
//	    domain: zlayer.internal
//	    upstreams: [10.0.0.2]   # default: the node's, from /etc/resolv.conf
type DNSSection struct {
	Disabled  bool     `yaml:"disabled" doc:"Turn the node's DNS server off: replicas resolve services through their hosts files only."`
	Domain    string   `yaml:"domain" doc:"Search domain of the cluster's names: SERVICE.DEPLOYMENT.DOMAIN (default zlayer.internal)."`
	Upstreams []string `yaml:"upstreams" doc:"Resolvers (IP or IP:port) other names are forwarded to (default: the node's, from /etc/resolv.conf)."`
}

// dnsPort is where replicas look for their resolver.
const dnsPort = 53

// startDNS starts the node's DNS server at the bridge gateway and points
// new replicas' resolv.conf at it. A server that cannot start (port 53
// taken on that address) leaves the replicas on the node's resolvers and
// their hosts files, as before there was one.
func (n *Node) startDNS(sec DNSSection, log *slog.Logger) error {
	s, err := nameserver.New(nameserver.Options{Domain: sec.Domain, Upstreams: sec.Upstreams, Log: log})
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(n.Bridge.Gateway().String(), strconv.Itoa(dnsPort))
	if err := s.Listen(addr); err != nil {
		log.Warn("node DNS server unavailable; replicas resolve services through their hosts files", "err", err)
		return nil
	}
	n.DNS = s
	n.Bridge.UseNameserver(s.Domain())
	log.Info("node DNS server", "addr", addr, "domain", s.Domain())
	return nil
}

// dnsServices is what the DNS server answers: every service of the views
// with its endpoint ports and the replicas discovery lists (addresses as
// bridge replicas reach them).
func dnsServices(views []View, peers []discovery.Peer) []nameserver.Service {
	type key struct{ dep, svc string }
	byKey := map[key]*nameserver.Service{}
	var out []*nameserver.Service
	for _, v := range views {
		if v.Spec == nil {
			continue
		}
		for name, s := range v.Spec.Services {
			ns := &nameserver.Service{Deployment: v.Spec.Deployment, Name: name}
			for _, e := range s.Endpoints {
				proto := "tcp"
				if e.Protocol == "udp" {
					proto = "udp"
				}
				port := e.TargetPort
				if port == 0 {
					port = e.Port
				}
				ns.Ports = append(ns.Ports, nameserver.Port{Name: e.Name, Proto: proto, Port: uint16(port)})
			}
			byKey[key{v.Spec.Deployment, name}] = ns
			out = append(out, ns)
		}
	}
	for _, p := range peers {
		ns := byKey[key{p.Deployment, p.Service}]
		if ns == nil {
			continue
		}
		a, err := netip.ParseAddr(p.IP)
		if err != nil {
			continue
		}
		ns.Replicas = append(ns.Replicas, nameserver.Replica{ID: p.ID, Addr: a, Ready: p.Ready})
	}
	services := make([]nameserver.Service, len(out))
	for i, s := range out {
		services[i] = *s
	}
	return services
}

// dnsMetrics publishes the DNS server's answer counters.
func dnsMetrics(m *metrics.Registry, s *nameserver.Server) {
	m.Help("zlayer_dns_answers_total", "Answers of the node's DNS server by result: answered, nodata, nxdomain (cluster names), forwarded, failed (no upstream answered), refused (over a rate or in-flight limit).")
	m.Gauge(func() []metrics.Sample {
		st := s.Stats()
		sample := func(result string, v uint64) metrics.Sample {
			return metrics.Sample{Name: "zlayer_dns_answers_total", Labels: map[string]string{"result": result}, Value: float64(v)}
		}
		return []metrics.Sample{
			sample("answered", st.Answered), sample("nodata", st.NoData), sample("nxdomain", st.NXDomain),
			sample("forwarded", st.Forwarded), sample("failed", st.Failed), sample("refused", st.Refused),
		}
	})
}
