// Package network gives each bridge-mode replica its own network namespace,
// attached through CNI (the bridge, host-local, portmap and loopback plugins
// from containernetworking/plugins, driven by libcni) to the node bridge
// zlayer0, with outbound NAT. The namespace is a bind-mounted file created
// when the container is created and kept until the replica is removed, so a
// restarted task keeps its address; Detach releases the address, veth and
// firewall rules.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zlayer/zlayer/noderuntime/discovery"
	"github.com/zlayer/zlayer/noderuntime/spec"
)

// Defaults for the node network.
const (
	DefaultBridge   = "zlayer0"
	DefaultSubnet   = "10.210.0.0/16"
	DefaultNetnsDir = "/run/zlayer/netns"
	networkName     = "zlayer"

	// EnvCNIPath lists plugin folders ahead of the defaults.
	EnvCNIPath = "CNI_PATH"
	ifName     = "eth0"
)

// DefaultPluginDirs are searched for CNI plugins when the config names none.
var DefaultPluginDirs = []string{"/opt/cni/bin", "/usr/libexec/cni", "/usr/lib/cni"}

// Config is the node's bridge network.
type Config struct {
	Bridge string `yaml:"bridge" json:"bridge,omitempty" doc:"Name of the bridge interface (default zlayer0)."`                  // default zlayer0
	Subnet string `yaml:"subnet" json:"subnet,omitempty" doc:"IPv4 subnet replicas get addresses from (default 10.210.0.0/16)."` // default 10.210.0.0/16
	MTU    int    `yaml:"mtu" json:"mtu,omitempty" minimum:"0" doc:"MTU of the bridge and the replicas' interfaces (0: the default)."`
	// PluginDirs are searched for the CNI plugins (default: $CNI_PATH,
	// /opt/cni/bin, /usr/libexec/cni, /usr/lib/cni).
	PluginDirs []string `yaml:"plugin_dirs" json:"plugin_dirs,omitempty" doc:"Folders searched for the CNI plugins (default: $CNI_PATH, /opt/cni/bin, /usr/libexec/cni, /usr/lib/cni)."`
	// NetnsDir holds the namespaces' bind mounts (default /run/zlayer/netns).
	NetnsDir string `yaml:"netns_dir" json:"netns_dir,omitempty" doc:"Folder of the network namespaces' bind mounts (default /run/zlayer/netns)."`
	// DataDir keeps IPAM leases, the CNI cache, attachments and hosts files
	// (under DataDir/network).
	DataDir string `yaml:"-" json:"-"`
}

// Bridge is the bridge network mode. It satisfies the reconciler's
// Network interface.
type Bridge struct {
	cfg   Config
	cni   *libcni.CNIConfig
	main  *libcni.NetworkConfigList
	lo    *libcni.NetworkConfigList
	hosts *discovery.Hosts
	gw    net.IP
	dir   string
	// dnsDomain is set when the node's DNS server answers at the gateway.
	dnsDomain string

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	owner map[string][2]string // container id -> deployment, service (from SpecOpts)
}

// attachment is what Attach leaves on disk for Detach and for a restarted
// node.
type attachment struct {
	ContainerID string `json:"container_id"`
	Netns       string `json:"netns"`
	IP          string `json:"ip"`
	Deployment  string `json:"deployment,omitempty"`
	Service     string `json:"service,omitempty"`
}

// NewBridge checks the config and the plugins and renders the CNI config.
func NewBridge(cfg Config) (*Bridge, error) {
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if cfg.Subnet == "" {
		cfg.Subnet = DefaultSubnet
	}
	if cfg.NetnsDir == "" {
		cfg.NetnsDir = DefaultNetnsDir
	}
	if cfg.DataDir == "" {
		return nil, errors.New("network: a data dir is required")
	}
	if len(cfg.Bridge) > 15 || strings.ContainsAny(cfg.Bridge, "/ \t") {
		return nil, fmt.Errorf("network: bridge name %q is not a valid interface name (at most 15 characters)", cfg.Bridge)
	}
	ip, ipnet, err := net.ParseCIDR(cfg.Subnet)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("network: subnet %q must be an IPv4 CIDR such as %s", cfg.Subnet, DefaultSubnet)
	}
	if ones, _ := ipnet.Mask.Size(); ones > 29 {
		return nil, fmt.Errorf("network: subnet %s is too small (at most /29)", cfg.Subnet)
	}
	gw := make(net.IP, 4)
	copy(gw, ipnet.IP.To4())
	gw[3]++
	if len(cfg.PluginDirs) == 0 {
		// CNI_PATH as the CNI tools read it, then where distributions put
		// the plugins. Not PATH: finding plugins by accident would turn on
		// bridge networking (and host firewall rules) on a node whose
		// operator never installed them for that.
		cfg.PluginDirs = append(filepath.SplitList(os.Getenv(EnvCNIPath)), DefaultPluginDirs...)
	}
	var missing []string
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := findPlugin(p, cfg.PluginDirs); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("network: CNI plugins %s not found in %s (install containernetworking/plugins)",
			strings.Join(missing, ", "), strings.Join(cfg.PluginDirs, ":"))
	}
	dir := filepath.Join(cfg.DataDir, "network")
	for _, d := range []string{"ipam", "cache", "attach", "hosts", "resolv"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	_ = os.Chmod(filepath.Join(dir, "hosts"), 0o755)
	_ = os.Chmod(filepath.Join(dir, "resolv"), 0o755)
	bridge := map[string]any{
		"type": "bridge", "bridge": cfg.Bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
		"ipam": map[string]any{
			"type": "host-local", "dataDir": filepath.Join(dir, "ipam"),
			"ranges": [][]map[string]string{{{"subnet": ipnet.String(), "gateway": gw.String()}}},
			"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
		},
	}
	if cfg.MTU > 0 {
		bridge["mtu"] = cfg.MTU
	}
	mainConf, _ := json.Marshal(map[string]any{
		"cniVersion": "1.0.0", "name": networkName,
		"plugins": []any{bridge, map[string]any{"type": "portmap", "snat": true, "capabilities": map[string]bool{"portMappings": true}}},
	})
	loConf, _ := json.Marshal(map[string]any{
		"cniVersion": "1.0.0", "name": networkName + "-lo",
		"plugins": []any{map[string]any{"type": "loopback"}},
	})
	main, err := libcni.ConfListFromBytes(mainConf)
	if err != nil {
		return nil, err
	}
	lo, err := libcni.ConfListFromBytes(loConf)
	if err != nil {
		return nil, err
	}
	return &Bridge{
		cfg: cfg, main: main, lo: lo, gw: gw, dir: dir,
		cni:   libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(dir, "cache"), nil),
		hosts: discovery.New(filepath.Join(dir, "hosts")),
		locks: map[string]*sync.Mutex{}, owner: map[string][2]string{},
	}, nil
}

func findPlugin(name string, dirs []string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

func (b *Bridge) Name() string { return "bridge" }

// Gateway is the node's address on the bridge: replicas reach host-network
// services there.
func (b *Bridge) Gateway() net.IP { return b.gw }

// Hosts is the discovery file set the bridge mounts into replicas.
func (b *Bridge) Hosts() *discovery.Hosts { return b.hosts }

// NetnsPath is where replica id's network namespace is mounted.
func (b *Bridge) NetnsPath(id string) string { return filepath.Join(b.cfg.NetnsDir, id) }

func (b *Bridge) lock(id string) func() {
	b.mu.Lock()
	m := b.locks[id]
	if m == nil {
		m = &sync.Mutex{}
		b.locks[id] = m
	}
	b.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// SpecOpts give the container its own network namespace (created now, at
// container creation, named after the container), its own hostname, the
// discovery hosts file and a resolv.conf that works from inside.
func (b *Bridge) SpecOpts(d, svc string, s *spec.Service) []oci.SpecOpts {
	return []oci.SpecOpts{func(ctx context.Context, _ oci.Client, c *containers.Container, sp *oci.Spec) error {
		unlock := b.lock(c.ID)
		defer unlock()
		b.mu.Lock()
		b.owner[c.ID] = [2]string{d, svc}
		b.mu.Unlock()
		path := b.NetnsPath(c.ID)
		if err := newNetns(path); err != nil {
			return fmt.Errorf("network namespace for %s: %w", c.ID, err)
		}
		if err := oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})(ctx, nil, c, sp); err != nil {
			return err
		}
		if err := oci.WithHostname(c.ID)(ctx, nil, c, sp); err != nil {
			return err
		}
		if err := b.hosts.Prepare(c.ID, c.ID); err != nil {
			return err
		}
		resolv, err := b.resolvConf(c.ID, d, Resolver{})
		if err != nil {
			return err
		}
		sp.Mounts = append(sp.Mounts,
			specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: b.hosts.Path(c.ID), Options: []string{"rbind", "ro"}},
			specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: resolv, Options: []string{"rbind", "ro"}},
		)
		return nil
	}}
}

func (b *Bridge) attachPath(id string) string { return filepath.Join(b.dir, "attach", id+".json") }

func (b *Bridge) readAttachment(id string) (*attachment, error) {
	raw, err := os.ReadFile(b.attachPath(id))
	if err != nil {
		return nil, err
	}
	var a attachment
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("attachment %s: %w", id, err)
	}
	return &a, nil
}

func (b *Bridge) rt(id, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifName}
}

// Attach connects replica id to the bridge and returns its address. It is
// idempotent: a replica attached before (a restarted task, or a node that
// restarted and adopted it) keeps its address.
func (b *Bridge) Attach(ctx context.Context, id string, pid uint32) (string, error) {
	unlock := b.lock(id)
	defer unlock()
	netns := b.NetnsPath(id)
	if !isNetns(netns) {
		// Not created by SpecOpts (a container from elsewhere): use the
		// task's own namespace.
		if pid == 0 {
			return "", fmt.Errorf("attach %s: no network namespace", id)
		}
		netns = fmt.Sprintf("/proc/%d/ns/net", pid)
	}
	b.mu.Lock()
	owner := b.owner[id]
	b.mu.Unlock()
	if a, err := b.readAttachment(id); err == nil && a.Netns == netns && a.IP != "" {
		if err := b.cni.CheckNetworkList(ctx, b.main, b.rt(id, netns)); err == nil {
			return a.IP, b.hosts.Attach(id, a.Deployment, id, a.IP)
		}
		// Stale (e.g. the node's namespace was reset): attach afresh.
		_ = b.cni.DelNetworkList(ctx, b.main, b.rt(id, netns))
	}
	if _, err := b.cni.AddNetworkList(ctx, b.lo, &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: "lo"}); err != nil {
		return "", fmt.Errorf("attach %s: loopback: %w", id, err)
	}
	res, err := b.cni.AddNetworkList(ctx, b.main, b.rt(id, netns))
	if err != nil {
		// Undo what part of the chain did (veth, lease, rules).
		_ = b.cni.DelNetworkList(context.WithoutCancel(ctx), b.main, b.rt(id, netns))
		return "", fmt.Errorf("attach %s to %s: %w", id, b.cfg.Bridge, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return "", err
	}
	var ip string
	for _, c := range r.IPs {
		if c.Address.IP.To4() != nil {
			ip = c.Address.IP.String()
			break
		}
	}
	if ip == "" {
		_ = b.cni.DelNetworkList(context.WithoutCancel(ctx), b.main, b.rt(id, netns))
		return "", fmt.Errorf("attach %s: CNI returned no IPv4 address", id)
	}
	raw, _ := json.Marshal(attachment{ContainerID: id, Netns: netns, IP: ip, Deployment: owner[0], Service: owner[1]})
	if err := os.WriteFile(b.attachPath(id), raw, 0o600); err != nil {
		return "", err
	}
	return ip, b.hosts.Attach(id, owner[0], id, ip)
}

// Detach releases everything Attach and SpecOpts made for replica id: the
// address lease, the veth, the NAT rules, the namespace and the hosts file.
// Detaching an unknown replica is not an error.
func (b *Bridge) Detach(ctx context.Context, id string) error {
	unlock := b.lock(id)
	defer unlock()
	ctx = context.WithoutCancel(ctx)
	var errs []error
	netns := b.NetnsPath(id)
	a, aerr := b.readAttachment(id)
	if aerr == nil {
		ns := a.Netns
		if !isNetns(ns) {
			// Gone (with its task, or with the node's /run): the plugins
			// still release the lease; dropMasq below undoes the rules.
			ns = ""
		}
		if err := b.cni.DelNetworkList(ctx, b.main, b.rt(id, ns)); err != nil {
			errs = append(errs, fmt.Errorf("detach %s: %w", id, err))
		}
		if ns != "" {
			_ = b.cni.DelNetworkList(ctx, b.lo, &libcni.RuntimeConf{ContainerID: id, NetNS: ns, IfName: "lo"})
		}
	} else if errors.Is(aerr, os.ErrNotExist) {
		// No record of an attachment, but a lease may still be held.
		if slices.Contains(b.leaseHolders(), id) {
			if err := b.cni.DelNetworkList(ctx, b.main, b.rt(id, "")); err != nil {
				errs = append(errs, fmt.Errorf("detach %s: %w", id, err))
			}
		}
	} else {
		errs = append(errs, aerr)
	}
	if !isNetns(netns) {
		// The plugins could not see the namespace to undo its NAT rules.
		if err := dropMasq(networkName, id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeNetns(netns); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		_ = os.Remove(b.attachPath(id))
	}
	if err := b.hosts.Detach(id); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(b.resolvPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	b.mu.Lock()
	delete(b.locks, id)
	delete(b.owner, id)
	b.mu.Unlock()
	return errors.Join(errs...)
}

// Attached lists the replicas with an attachment, a namespace or an
// address lease on this node.
func (b *Bridge) Attached() []string {
	seen := map[string]bool{}
	ents, _ := os.ReadDir(filepath.Join(b.dir, "attach"))
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			seen[id] = true
		}
	}
	ents, _ = os.ReadDir(b.cfg.NetnsDir)
	for _, e := range ents {
		seen[e.Name()] = true
	}
	for _, id := range b.leaseHolders() {
		seen[id] = true
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	return out
}

// Prune detaches replicas that no longer exist (gone while the node was
// away), so their addresses and rules do not leak.
func (b *Bridge) Prune(ctx context.Context, exists func(id string) bool) error {
	var errs []error
	for _, id := range b.Attached() {
		if !exists(id) {
			errs = append(errs, b.Detach(ctx, id))
		}
	}
	return errors.Join(errs...)
}

// Addr is the address of an attached replica ("" if none).
func (b *Bridge) Addr(id string) string {
	if a, err := b.readAttachment(id); err == nil {
		return a.IP
	}
	return ""
}
