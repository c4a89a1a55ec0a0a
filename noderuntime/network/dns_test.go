package network

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/nameserver"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestRenderResolv(t *testing.T) {
	host := []byte("# from DHCP\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan corp.example\noptions edns0 trust-ad\n")
	cases := []struct {
		name, gw, domain, dep string
		want                  Resolver
		out                   string
	}{
		{"node DNS", "10.210.0.1", "zlayer.internal", "shop", Resolver{},
			"# Written by the zlayer node; changes are overwritten.\nnameserver 10.210.0.1\nsearch shop.zlayer.internal zlayer.internal lan corp.example\noptions edns0 trust-ad\n"},
		{"no node DNS: the node's minus loopback", "", "", "shop", Resolver{},
			"# Written by the zlayer node; changes are overwritten.\nnameserver 10.0.0.2\nsearch lan corp.example\noptions edns0 trust-ad\n"},
		{"the service's own name servers win", "10.210.0.1", "zlayer.internal", "shop", Resolver{Nameservers: []string{"1.1.1.1", "9.9.9.9"}},
			"# Written by the zlayer node; changes are overwritten.\nnameserver 1.1.1.1\nnameserver 9.9.9.9\nsearch lan corp.example\noptions edns0 trust-ad\n"},
	}
	for _, c := range cases {
		if got := string(renderResolv(host, c.gw, c.domain, c.dep, c.want)); got != c.out {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got, c.out)
		}
	}
	// The node's config already searching the domain does not repeat it.
	got := string(renderResolv([]byte("nameserver 10.0.0.2\ndomain zlayer.internal\n"), "10.210.0.1", "zlayer.internal", "shop", Resolver{}))
	if want := "# Written by the zlayer node; changes are overwritten.\nnameserver 10.210.0.1\nsearch shop.zlayer.internal zlayer.internal\n"; got != want {
		t.Errorf("domain line:\n%s\nwant\n%s", got, want)
	}
}

// TestSyncFeedsDNS: the names the node's DNS server answers follow the
// views Sync gets, the other nodes' replicas included, with the endpoints'
// target ports in SRV.
func TestSyncFeedsDNS(t *testing.T) {
	d, err := spec.Parse("s.yaml", []byte(`version: v1
deployment: shop
services:
  web:
    image: busybox
    network_mode: bridge
    endpoints:
      - {name: http, port: 80, target_port: 8080, expose: public}
      - {name: metrics, protocol: udp, port: 9125}
  db:
    image: busybox
    network_mode: bridge
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := nameserver.New(nameserver.Options{Upstreams: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := s.Addrs()[0].String()
	n := &Node{DNS: s, cluster: &ClusterNet{Node: "n1"}}
	reps := []ingress.Replica{
		{ID: "shop-web-1-aaaaaaaa", Deployment: "shop", Service: "web", Index: 1, Addr: "10.244.1.2", Ready: true},
		{ID: "shop-web-2-aaaaaaaa", Deployment: "shop", Service: "web", Index: 2, Addr: "10.244.2.2", Ready: true, Node: "n2"},
		{ID: "shop-web-3-aaaaaaaa", Deployment: "shop", Service: "web", Index: 3, Addr: "10.244.3.2", Ready: false, Node: "n3"},
	}
	query := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ips := func(r *dns.Msg) []string {
		var out []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		sort.Strings(out)
		return out
	}
	if err := n.Sync([]View{{Spec: d, Replicas: reps}}); err != nil {
		t.Fatal(err)
	}
	if got := ips(query("web.shop.zlayer.internal.", dns.TypeA)); !slices.Equal(got, []string{"10.244.1.2", "10.244.2.2"}) {
		t.Errorf("web: %v", got)
	}
	r := query("_metrics._udp.web.shop.zlayer.internal.", dns.TypeSRV)
	if len(r.Answer) != 2 || r.Answer[0].(*dns.SRV).Port != 9125 {
		t.Errorf("udp SRV: %v", r.Answer)
	}
	r = query("_http._tcp.web.shop.zlayer.internal.", dns.TypeSRV)
	if len(r.Answer) != 2 || r.Answer[0].(*dns.SRV).Port != 8080 {
		t.Errorf("SRV carries the target port: %v", r.Answer)
	}
	if r := query("db.shop.zlayer.internal.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("db with no replicas: %s %v, want NODATA", dns.RcodeToString[r.Rcode], r.Answer)
	}
	// Node 3's replica gets ready, node 2's goes: the next Sync says so.
	reps = []ingress.Replica{reps[0], reps[2]}
	reps[1].Ready = true
	if err := n.Sync([]View{{Spec: d, Replicas: reps}}); err != nil {
		t.Fatal(err)
	}
	if got := ips(query("web.shop.zlayer.internal.", dns.TypeA)); !slices.Equal(got, []string{"10.244.1.2", "10.244.3.2"}) {
		t.Errorf("after readiness moved: %v", got)
	}
	if err := n.Sync(nil); err != nil {
		t.Fatal(err)
	}
	if r := query("web.shop.zlayer.internal.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("deployment gone: %s", dns.RcodeToString[r.Rcode])
	}
}
