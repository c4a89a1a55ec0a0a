package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
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
	} `yaml:"ingress"`
}

var knownKeys = map[string][]string{
	"network": {"disabled", "default_mode", "bridge", "subnet", "mtu", "plugin_dirs", "netns_dir"},
	"ingress": {"listen", "disabled", "certs"},
	"certs":   {"hosts", "cert", "key"},
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
	return c, nil
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
