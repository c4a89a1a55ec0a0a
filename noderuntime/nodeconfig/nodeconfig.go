// Package nodeconfig reads the node config file (`zlayer serve --config`)
// once, through the shared YAML reader, into one typed value whose sections
// go to the code they configure: registries to the image puller, network to
// the bridge, ingress to the ingress.
//
//	registries:              # k3s registries.yaml shape; mirrors: and
//	  mirrors:               # configs: may also be written at the top level
//	    docker.io: {endpoint: ["http://registry.lan:5000"]}
//	  configs:
//	    registry.lan:5000: {plain_http: true, tls: {insecure_skip_verify: false}, auth: {username: u, password: p}}
//	network: {...}           # see network.NetworkSection
//	ingress: {...}           # see network.IngressSection
//
// Aliases and merge keys work as in every ZLayer YAML file and are bounded
// the same way; every problem is reported at once, with file:line:col.
package nodeconfig

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zlayer/zlayer/internal/yamldoc"
	"github.com/zlayer/zlayer/noderuntime/nameserver"
	"github.com/zlayer/zlayer/noderuntime/network"
	"github.com/zlayer/zlayer/noderuntime/registry"
)

// Config is the node config file.
type Config struct {
	Registries registry.Registries
	Network    network.NetworkSection
	Ingress    network.IngressSection
}

// document is the document's shape: the registry settings may sit at the top
// level (as in k3s's registries.yaml) or under registries:.
type document struct {
	Registries registry.Registries            `yaml:"registries" nullable:"true" doc:"Registry mirrors and per-registry settings (as in k3s's registries.yaml)."`
	Mirrors    map[string]registry.Mirror     `yaml:"mirrors" nullable:"true" doc:"Mirrors by registry host, as under registries: (k3s's top-level form)."`
	Configs    map[string]registry.HostConfig `yaml:"configs" nullable:"true" doc:"Settings by registry host, as under registries: (k3s's top-level form)."`
	Network    network.NetworkSection         `yaml:"network" nullable:"true" doc:"Bridge networking of the node's replicas."`
	Ingress    network.IngressSection         `yaml:"ingress" nullable:"true" doc:"The ingress: public ports of the services' endpoints."`
}

// Load reads the node config at path. An empty path, an empty file or one
// holding only comments is the defaults.
func Load(path string) (*Config, error) {
	if path == "" {
		return defaults(), nil
	}
	data, err := yamldoc.ReadFile(path, 0)
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	return Parse(path, data)
}

// Parse reads data (named file in errors) as a node config.
func Parse(file string, data []byte) (*Config, error) {
	c := defaults()
	root, err := yamldoc.Parse(file, data, yamldoc.Limits{})
	if errors.Is(err, yamldoc.ErrEmpty) || (err == nil && isNull(root)) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	r := &reader{file: file}
	r.keys(root, top)
	if err := r.result(); err != nil {
		return nil, err
	}
	var f document
	if err := yamldoc.Decode(file, root, &f); err != nil {
		return nil, err
	}
	for _, m := range []map[string]registry.Mirror{f.Mirrors, f.Registries.Mirrors} {
		for k, v := range m {
			c.Registries.Mirrors[k] = v
		}
	}
	for _, m := range []map[string]registry.HostConfig{f.Configs, f.Registries.Configs} {
		for k, v := range m {
			c.Registries.Configs[k] = v
		}
	}
	c.Network, c.Ingress = f.Network, f.Ingress
	r.registries(root)
	r.network(yamldoc.Get(root, "network"), &c.Network)
	r.ingress(yamldoc.Get(root, "ingress"), &c.Ingress)
	if err := r.result(); err != nil {
		return nil, err
	}
	return c, nil
}

func defaults() *Config {
	return &Config{Registries: registry.Registries{Mirrors: map[string]registry.Mirror{}, Configs: map[string]registry.HostConfig{}}}
}

// shape lists the keys a mapping may hold; entries describes the values of
// a mapping whose keys are names (registry hosts), items the elements of a
// list.
type shape struct {
	name    string
	keys    map[string]*shape
	entries *shape
	items   *shape
	order   []string
}

func mapping(name string, keys ...any) *shape {
	s := &shape{name: name, keys: map[string]*shape{}}
	for i := 0; i < len(keys); i++ {
		k := keys[i].(string)
		var sub *shape
		if i+1 < len(keys) {
			if v, ok := keys[i+1].(*shape); ok {
				sub = v
				i++
			}
		}
		s.keys[k] = sub
		s.order = append(s.order, k)
	}
	return s
}

var (
	hostConfig = mapping("configs", "auth", mapping("auth", "username", "password"),
		"tls", mapping("tls", "insecure_skip_verify"), "plain_http")
	mirrors    = &shape{name: "mirrors", entries: mapping("mirrors", "endpoint")}
	configs    = &shape{name: "configs", entries: hostConfig}
	registries = mapping("registries", "mirrors", mirrors, "configs", configs)
	top        = mapping("", "registries", registries, "mirrors", mirrors, "configs", configs,
		"network", mapping("network", "disabled", "default_mode", "bridge", "subnet", "mtu", "plugin_dirs", "netns_dir",
			"dns", mapping("dns", "disabled", "domain", "upstreams"),
			"cluster", mapping("cluster", "mode", "wireguard_port")),
		"ingress", mapping("ingress", "listen", "disabled", "certs", &shape{items: mapping("certs", "hosts", "cert", "key")},
			"trusted_proxies", "fast_path", "prefer_local", "max_conns", "max_conns_per_source",
			"header_timeout", "idle_timeout", "write_timeout", "tcp_idle_timeout", "udp_idle_timeout",
			"udp_max_sessions", "udp_max_sessions_per_source"))
)

type reader struct {
	file string
	errs []error
}

func (r *reader) add(n *yaml.Node, format string, args ...any) {
	r.errs = append(r.errs, &yamldoc.Error{File: r.file, Pos: yamldoc.PosOf(n), Msg: fmt.Sprintf(format, args...)})
}

// result is every problem found, in document order.
func (r *reader) result() error {
	slices.SortStableFunc(r.errs, func(a, b error) int {
		pa, pb := a.(*yamldoc.Error).Pos, b.(*yamldoc.Error).Pos //nolint:errorlint // r.errs holds only the *yamldoc.Error this reader made, never wrapped
		if pa.Line != pb.Line {
			return pa.Line - pb.Line
		}
		return pa.Column - pb.Column
	})
	err := errors.Join(r.errs...)
	r.errs = nil
	return err
}

// keys refuses keys s does not know, and values that are not mappings where
// s wants one (null stands for an empty section).
func (r *reader) keys(n *yaml.Node, s *shape) {
	if s == nil || isNull(n) {
		return
	}
	if s.items != nil {
		if n.Kind == yaml.SequenceNode {
			for _, e := range n.Content {
				r.keys(e, s.items)
			}
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		what := s.name
		if what == "" {
			what = "the node config"
		}
		r.add(n, "%s must be a mapping", what)
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if s.entries != nil {
			r.keys(v, s.entries)
			continue
		}
		sub, ok := s.keys[k.Value]
		if !ok {
			label := ""
			if s.name != "" {
				label = s.name + ": "
			}
			r.add(k, "%sunknown key %q (allowed: %s)", label, k.Value, strings.Join(s.order, ", "))
			continue
		}
		r.keys(v, sub)
	}
}

// registries checks mirror endpoints, wherever the mirrors are written.
func (r *reader) registries(root *yaml.Node) {
	for _, m := range []*yaml.Node{yamldoc.Get(root, "mirrors"), yamldoc.Get(yamldoc.Get(root, "registries"), "mirrors")} {
		if m == nil || m.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			host, eps := m.Content[i].Value, yamldoc.Get(m.Content[i+1], "endpoint")
			if eps == nil {
				continue
			}
			list := eps.Content
			if eps.Kind == yaml.ScalarNode {
				list = []*yaml.Node{eps}
			}
			for _, e := range list {
				if u, err := url.Parse(e.Value); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
					r.add(e, "mirrors.%s: endpoint %q must be an http:// or https:// URL", host, e.Value)
				}
			}
		}
	}
}

func (r *reader) network(sec *yaml.Node, n *network.NetworkSection) {
	switch n.DefaultMode {
	case "", network.ModeBridge, network.ModeHost:
	default:
		r.add(valueOr(sec, "default_mode"), "network.default_mode: %q is not bridge or host", n.DefaultMode)
	}
	cl := valueOr(sec, "cluster")
	switch n.Cluster.Mode {
	case "", network.ModeHostGW, network.ModeWireGuard:
	default:
		r.add(valueOr(cl, "mode"), "network.cluster.mode: %q is not host-gw or wireguard", n.Cluster.Mode)
	}
	if p := n.Cluster.WireGuardPort; p < 0 || p > 65535 {
		r.add(valueOr(cl, "wireguard_port"), "network.cluster.wireguard_port: %d is not a UDP port (0 or absent: %d)", p, network.DefaultWireGuardPort)
	}
	dns := yamldoc.Get(sec, "dns")
	if d := n.DNS.Domain; d != "" {
		if !nameserver.ValidDomain(d) {
			r.add(valueOr(dns, "domain"), "network.dns.domain: %q is not a DNS name", d)
		}
	}
	items := yamldoc.Get(dns, "upstreams")
	for k, u := range n.DNS.Upstreams {
		at := valueOr(dns, "upstreams")
		if items != nil && k < len(items.Content) {
			at = items.Content[k]
		}
		if _, err := netip.ParseAddr(u); err != nil {
			if _, err := netip.ParseAddrPort(u); err != nil {
				r.add(at, "network.dns.upstreams: %q is not an IP address or IP:port", u)
			}
		}
	}
}

// ingress checks the listen address, parses trusted_proxies and refuses
// negative limits, each at its value.
func (r *reader) ingress(sec *yaml.Node, i *network.IngressSection) {
	if i.Listen != "" && net.ParseIP(i.Listen) == nil {
		r.add(valueOr(sec, "listen"), "ingress.listen: %q is not an IP address", i.Listen)
	}
	items := yamldoc.Get(sec, "trusted_proxies")
	for k, s := range i.TrustedProxies {
		at := valueOr(sec, "trusted_proxies")
		if items != nil && k < len(items.Content) {
			at = items.Content[k]
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				r.add(at, "ingress.trusted_proxies: %q is not an address or CIDR", s)
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		i.TrustedPrefixes = append(i.TrustedPrefixes, p.Masked())
	}
	for key, v := range map[string]int{"max_conns": i.MaxConns, "max_conns_per_source": i.MaxConnsPerSource,
		"udp_max_sessions": i.UDPMaxSessions, "udp_max_sessions_per_source": i.UDPMaxSessionsPerSource} {
		if v < 0 {
			r.add(valueOr(sec, key), "ingress.%s: %d is negative (0 or absent: the default)", key, v)
		}
	}
	for key, v := range map[string]time.Duration{"header_timeout": i.HeaderTimeout, "idle_timeout": i.IdleTimeout,
		"write_timeout": i.WriteTimeout, "tcp_idle_timeout": i.TCPIdleTimeout, "udp_idle_timeout": i.UDPIdleTimeout} {
		if v < 0 || (v > 0 && v < 10*time.Millisecond) {
			r.add(valueOr(sec, key), "ingress.%s: %v is below 10ms (0 or absent: the default)", key, v)
		}
	}
}

// valueOr is the value of key in sec, or sec itself when absent (a value
// can only be wrong if written, so this is a fallback for safety).
func valueOr(sec *yaml.Node, key string) *yaml.Node {
	if v := yamldoc.Get(sec, key); v != nil {
		return v
	}
	return sec
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}
