package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/zlayer/zlayer/noderuntime/discovery"
	"github.com/zlayer/zlayer/noderuntime/ingress"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Network modes.
const (
	ModeBridge = "bridge"
	ModeHost   = "host"
)

// NodeConfig is the networking part of the node config file (`zlayer serve
// --config`):
//
//	network:
//	  disabled: false         # true: host networking only
//	  default_mode: bridge    # or host: what specs without network_mode get
//	  bridge: zlayer0
//	  subnet: 10.210.0.0/16
//	  mtu: 1500
//	  plugin_dirs: [/opt/cni/bin]
//	  netns_dir: /run/zlayer/netns
//	ingress:
//	  listen: 0.0.0.0          # address the public ports bind
//	  disabled: false
//	  certs:
//	    - {hosts: [example.com], cert: /etc/zlayer/example.crt, key: /etc/zlayer/example.key}
//	  trusted_proxies: [10.0.0.0/8, 127.0.0.1]  # peers whose X-Forwarded-* are kept
//	  fast_path: true           # false: every http request through net/http
//	  max_conns: 10000          # per http/https/tcp listener
//	  max_conns_per_source: 256
//	  header_timeout: 30s       # TLS handshake and request head
//	  idle_timeout: 120s        # http keep-alive
//	  write_timeout: 60s        # a client that reads nothing this long is cut off
//	  tcp_idle_timeout: 10m
//	  udp_idle_timeout: 60s
//	  udp_max_sessions: 10000   # per udp listener
//	  udp_max_sessions_per_source: 256
type NodeConfig struct {
	Network struct {
		// Disabled turns bridge networking off: every replica shares the
		// node's network.
		Disabled    bool   `yaml:"disabled"`
		DefaultMode string `yaml:"default_mode"`
		Config      `yaml:",inline"`
	} `yaml:"network"`
	Ingress struct {
		Listen   string         `yaml:"listen"`
		Disabled bool           `yaml:"disabled"`
		Certs    []ingress.Cert `yaml:"certs"`
		// TrustedProxies are addresses or CIDRs; Load parses them into
		// TrustedPrefixes.
		TrustedProxies  []string       `yaml:"trusted_proxies"`
		TrustedPrefixes []netip.Prefix `yaml:"-"`
		FastPath        *bool          `yaml:"fast_path"`

		MaxConns                int           `yaml:"max_conns"`
		MaxConnsPerSource       int           `yaml:"max_conns_per_source"`
		HeaderTimeout           time.Duration `yaml:"header_timeout"`
		IdleTimeout             time.Duration `yaml:"idle_timeout"`
		WriteTimeout            time.Duration `yaml:"write_timeout"`
		TCPIdleTimeout          time.Duration `yaml:"tcp_idle_timeout"`
		UDPIdleTimeout          time.Duration `yaml:"udp_idle_timeout"`
		UDPMaxSessions          int           `yaml:"udp_max_sessions"`
		UDPMaxSessionsPerSource int           `yaml:"udp_max_sessions_per_source"`
	} `yaml:"ingress"`
}

// IngressOptions are the ingress settings of the config (the rest of
// ingress.Options comes from the node).
func (c *NodeConfig) IngressOptions() ingress.Options {
	i := c.Ingress
	return ingress.Options{
		ListenHost:     i.Listen,
		Certs:          i.Certs,
		TrustedProxies: i.TrustedPrefixes,
		NoFastPath:     i.FastPath != nil && !*i.FastPath,
		Limits: ingress.Limits{
			MaxConns: i.MaxConns, MaxConnsPerSource: i.MaxConnsPerSource,
			HeaderTimeout: i.HeaderTimeout, IdleTimeout: i.IdleTimeout, WriteTimeout: i.WriteTimeout,
			TCPIdle: i.TCPIdleTimeout, UDPIdle: i.UDPIdleTimeout,
			MaxUDPSessions: i.UDPMaxSessions, MaxUDPSessionsPerSource: i.UDPMaxSessionsPerSource,
		},
	}
}

var knownKeys = map[string][]string{
	"network": {"disabled", "default_mode", "bridge", "subnet", "mtu", "plugin_dirs", "netns_dir"},
	"ingress": {"listen", "disabled", "certs", "trusted_proxies", "fast_path", "max_conns", "max_conns_per_source",
		"header_timeout", "idle_timeout", "write_timeout", "tcp_idle_timeout", "udp_idle_timeout",
		"udp_max_sessions", "udp_max_sessions_per_source"},
	"certs": {"hosts", "cert", "key"},
}

// LoadNodeConfig reads the network and ingress sections of the node config
// file (other sections belong to other parts of the node). An empty path is
// the defaults. Unknown keys are errors naming file, line and column.
func LoadNodeConfig(path string) (*NodeConfig, error) {
	c := &NodeConfig{}
	if path == "" {
		return c, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		return nil, fmt.Errorf("node config %s: %w", path, err)
	}
	var errs []error
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		top := doc.Content[0]
		for i := 0; i+1 < len(top.Content); i += 2 {
			k, v := top.Content[i], top.Content[i+1]
			if _, ok := knownKeys[k.Value]; ok && k.Value != "certs" {
				errs = append(errs, checkKeys(path, k.Value, v)...)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := doc.Decode(c); err != nil {
		return nil, fmt.Errorf("node config %s: %w", path, err)
	}
	switch c.Network.DefaultMode {
	case "", ModeBridge, ModeHost:
	default:
		return nil, fmt.Errorf("node config %s: network.default_mode: %q is not bridge or host", path, c.Network.DefaultMode)
	}
	if c.Ingress.Listen != "" && net.ParseIP(c.Ingress.Listen) == nil {
		return nil, fmt.Errorf("node config %s: ingress.listen: %q is not an IP address", path, c.Ingress.Listen)
	}
	if err := checkIngress(path, &doc, c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkIngress parses trusted_proxies and refuses negative limits, naming
// the line and column of the value.
func checkIngress(file string, doc *yaml.Node, c *NodeConfig) error {
	sec := sectionNode(doc, "ingress")
	at := func(key string) string {
		if v := valueNode(sec, key); v != nil {
			return fmt.Sprintf("%s:%d:%d", file, v.Line, v.Column)
		}
		return file
	}
	var errs []error
	items := valueNode(sec, "trusted_proxies")
	for i, s := range c.Ingress.TrustedProxies {
		pos := at("trusted_proxies")
		if items != nil && i < len(items.Content) {
			pos = fmt.Sprintf("%s:%d:%d", file, items.Content[i].Line, items.Content[i].Column)
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				errs = append(errs, fmt.Errorf("%s: ingress.trusted_proxies: %q is not an address or CIDR", pos, s))
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.Ingress.TrustedPrefixes = append(c.Ingress.TrustedPrefixes, p.Masked())
	}
	i := c.Ingress
	for key, v := range map[string]int{"max_conns": i.MaxConns, "max_conns_per_source": i.MaxConnsPerSource,
		"udp_max_sessions": i.UDPMaxSessions, "udp_max_sessions_per_source": i.UDPMaxSessionsPerSource} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s: ingress.%s: %d is negative (0 or absent: the default)", at(key), key, v))
		}
	}
	for key, v := range map[string]time.Duration{"header_timeout": i.HeaderTimeout, "idle_timeout": i.IdleTimeout,
		"write_timeout": i.WriteTimeout, "tcp_idle_timeout": i.TCPIdleTimeout, "udp_idle_timeout": i.UDPIdleTimeout} {
		if v < 0 || (v > 0 && v < 10*time.Millisecond) {
			errs = append(errs, fmt.Errorf("%s: ingress.%s: %v is below 10ms (0 or absent: the default)", at(key), key, v))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// sectionNode is the value of a top-level key of the document (nil if absent).
func sectionNode(doc *yaml.Node, key string) *yaml.Node {
	if len(doc.Content) != 1 {
		return nil
	}
	return valueNode(doc.Content[0], key)
}

// valueNode is the value of key in mapping m (nil if absent).
func valueNode(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func checkKeys(file, section string, n *yaml.Node) []error {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return nil
		}
		return []error{fmt.Errorf("%s:%d:%d: %s must be a mapping", file, n.Line, n.Column, section)}
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ok := false
		for _, want := range knownKeys[section] {
			ok = ok || want == k.Value
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d:%d: %s: unknown key %q (allowed: %s)", file, k.Line, k.Column, section, k.Value, strings.Join(knownKeys[section], ", ")))
		}
		if k.Value == "certs" && v.Kind == yaml.SequenceNode {
			for _, item := range v.Content {
				errs = append(errs, checkKeys(file, "certs", item)...)
			}
		}
	}
	return errs
}

// View is a deployment as the node sees it: its spec and its replicas.
type View struct {
	Spec     *spec.Deployment
	Replicas []ingress.Replica
}

// Node ties the node's networking together: it feeds the ingress the ready
// replicas of public endpoints and keeps the discovery hosts files current.
type Node struct {
	Bridge  *Bridge          // nil when bridge networking is off
	Ingress *ingress.Ingress // nil when the ingress is off
	Log     *slog.Logger
	// DefaultMode is what specs without network_mode get on this node.
	DefaultMode string

	lastErr string
}

// Sync applies one view of the node.
func (n *Node) Sync(views []View) error {
	var routes []ingress.Route
	var peers []discovery.Peer
	for _, v := range views {
		if v.Spec == nil {
			continue
		}
		routes = append(routes, ingress.Routes(v.Spec, v.Replicas)...)
		for _, r := range v.Replicas {
			ip := r.Addr
			if s := v.Spec.Services[r.Service]; s != nil && s.NetworkMode == ModeHost && n.Bridge != nil {
				// Host-network replicas listen on the node, which bridge
				// replicas reach at the gateway.
				ip = n.Bridge.Gateway().String()
			}
			peers = append(peers, discovery.Peer{ID: r.ID, Deployment: r.Deployment, Service: r.Service, Index: r.Index, IP: ip, Ready: r.Ready && r.Addr != ""})
		}
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Port < routes[j].Port })
	var errs []error
	if n.Ingress != nil {
		errs = append(errs, n.Ingress.Update(routes))
	}
	if n.Bridge != nil {
		errs = append(errs, n.Bridge.Hosts().SetPeers(peers))
	}
	err := errors.Join(errs...)
	// The same problem every poll is logged once.
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg != n.lastErr && n.Log != nil {
		if err != nil {
			n.Log.Warn("network sync", "err", err)
		} else if n.lastErr != "" {
			n.Log.Info("network sync recovered")
		}
	}
	n.lastErr = msg
	return err
}

// Run syncs every interval (routes follow readiness within that) until ctx
// ends.
func (n *Node) Run(ctx context.Context, interval time.Duration, views func() []View) {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		_ = n.Sync(views())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Drain takes a replica out of the ingress and waits (up to timeout) for its
// in-flight requests: the reconciler calls it before stopping a replica.
func (n *Node) Drain(ctx context.Context, id string, timeout time.Duration) {
	if n.Ingress == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := n.Ingress.Drain(ctx, id); err != nil && n.Log != nil {
		n.Log.Warn("drain", "replica", id, "err", err)
	}
}
