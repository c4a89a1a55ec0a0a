package ingress

import (
	"testing"

	"github.com/zlayer/zlayer/noderuntime/spec"
)

func TestRoutesFromSpec(t *testing.T) {
	d, err := spec.Parse("s.yaml", []byte(`version: v1
deployment: shop
services:
  web:
    image: busybox
    network_mode: bridge
    endpoints:
      - {name: http, port: 80, target_port: 8080, host: "*.shop.test", path: /app, expose: public}
      - {name: admin, port: 9000}
  hostport:
    image: busybox
    network_mode: host
    endpoints:
      - {name: http, port: 8081, expose: public}
  hostproxied:
    image: busybox
    network_mode: host
    endpoints:
      - {name: tls, protocol: https, port: 443, target_port: 8443, expose: public}
`))
	if err != nil {
		t.Fatal(err)
	}
	rs := Routes(d, []Replica{
		{ID: "w1", Service: "web", Addr: "10.210.0.2", Ready: true},
		{ID: "w2", Service: "web", Addr: "10.210.0.3", Ready: false},
		{ID: "w3", Service: "web", Addr: "", Ready: true},
		{ID: "h1", Service: "hostproxied", Addr: "127.0.0.1", Ready: true},
	})
	if len(rs) != 2 {
		t.Fatalf("routes %+v: want web's public endpoint and hostproxied (host-network port owned by the replica is skipped; internal ones too)", rs)
	}
	w := rs[0]
	if w.Service != "web" || w.Port != 80 || w.Host != "*.shop.test" || w.Path != "/app" || w.Protocol != HTTP ||
		len(w.Backends) != 1 || w.Backends[0] != (Backend{ID: "w1", Addr: "10.210.0.2:8080"}) {
		t.Fatalf("web route %+v", w)
	}
	h := rs[1]
	if h.Service != "hostproxied" || h.Protocol != HTTPS || h.Port != 443 || len(h.Backends) != 1 || h.Backends[0].Addr != "127.0.0.1:8443" {
		t.Fatalf("host-network route %+v", h)
	}
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"", "x", true}, {"a.test", "a.test", true}, {"a.test", "b.test", false},
		{"*.a.test", "x.a.test", true}, {"*.a.test", "x.y.a.test", true}, {"*.a.test", "a.test", false}, {"*.a.test", "xa.test", false},
	} {
		if got := hostMatch(c.pattern, c.host); got != c.want {
			t.Errorf("hostMatch(%q, %q) = %v", c.pattern, c.host, got)
		}
	}
	for _, c := range []struct {
		prefix, path string
		want         bool
	}{
		{"", "/x", true}, {"/api", "/api", true}, {"/api", "/api/x", true}, {"/api", "/apix", false}, {"/api/", "/api/x", true}, {"/api/", "/api", false},
	} {
		if got := pathMatch(c.prefix, c.path); got != c.want {
			t.Errorf("pathMatch(%q, %q) = %v", c.prefix, c.path, got)
		}
	}
}
