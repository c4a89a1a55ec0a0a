package network

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/ipc"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// WireGuardLink is the name of the node's WireGuard interface.
const WireGuardLink = "zlwg0"

// wgMTU leaves room for WireGuard's 60 bytes of IPv4 overhead (80 with
// IPv6) under a 1500-byte path, as wg-quick does.
const wgMTU = 1420

// wgHeadroom is what a node running wireguard-go adds to the process's
// soft memory limit (serve's is 32 MiB, 128 MiB on servers). wireguard-go
// queues up to 1024 packets of 64 KiB (GSO/GRO batches) each way, and a
// bulk transfer keeps ~120 MiB of them live: under the node's own limit the
// collector ran back to back and the tunnel carried 26 MB/s instead of
// ~140 (a 256 MiB bulk read through two namespaces' devices; see
// docs/cluster.md).
const wgHeadroom = 256 << 20

// wgKeepalive keeps the NAT mappings between nodes open, and lets a node
// that restarted learn a peer's changed endpoint without waiting for
// traffic.
const wgKeepalive = 25 * time.Second

// WireGuard is the wireguard cluster network mode: one WireGuard interface
// whose peers are the other nodes (endpoint: their advertise address and
// port, allowed IPs: their subnet), the cluster CIDR routed into it. The
// kernel's WireGuard is used where the kernel has it, otherwise
// wireguard-go over a TUN device in this process; both are configured
// through wgctrl. The firewall rules are host-gw's (clusterRules).
type WireGuard struct {
	CIDR   netip.Prefix // the cluster's
	Subnet netip.Prefix // this node's
	Key    wgtypes.Key  // this node's private key
	Port   int          // UDP port of this node's endpoint (0: DefaultWireGuardPort)
	Link   string       // interface name (default WireGuardLink)
	Log    *slog.Logger

	rules clusterRules
	dev   *wgDevice
}

// wgDevice is an interface that is up.
type wgDevice struct {
	link string
	// ctl is what wgctrl names the device: the link for the kernel's, the
	// UAPI socket's name for wireguard-go's.
	ctl    string
	client *wgctrl.Client
	// wireguard-go only.
	user *device.Device
	uapi net.Listener
	done chan struct{}
	// headroom is what this device added to the soft memory limit.
	headroom int64
}

func (w *WireGuard) link() string {
	if w.Link == "" {
		return WireGuardLink
	}
	return w.Link
}

func (w *WireGuard) port() int {
	if w.Port == 0 {
		return DefaultWireGuardPort
	}
	return w.Port
}

// gateway is this node's bridge gateway (its subnet's first address), also
// given to the WireGuard interface: traffic the node itself sends to other
// nodes' replicas (the ingress, health checks) leaves with an address of
// its subnet, which the peers route back through WireGuard.
func (w *WireGuard) gateway() netip.Addr { return w.Subnet.Masked().Addr().Next() }

// ensure keeps the rules and the interface, without touching peers.
func (w *WireGuard) ensure() error {
	w.rules.CIDR, w.rules.Subnet, w.rules.Mode = w.CIDR, w.Subnet, ModeWireGuard
	if err := w.rules.ensure(); err != nil {
		return err
	}
	return w.up()
}

// Sync makes the interface's peers the given nodes: a peer that left is
// removed, a new or changed one set, one that did not change is left
// alone (its session stays). A peer without a public key, outside the
// cluster CIDR or with this node's subnet is skipped.
func (w *WireGuard) Sync(peers []Peer) error {
	if err := w.ensure(); err != nil {
		return err
	}
	want := map[wgtypes.Key]wgtypes.PeerConfig{}
	var errs []error
	for _, p := range peers {
		s := p.Subnet.Masked()
		if !s.IsValid() || !p.Via.IsValid() || s == w.Subnet.Masked() || !w.CIDR.Contains(s.Addr()) || s.Bits() < w.CIDR.Bits() {
			continue
		}
		if p.PublicKey == "" {
			errs = append(errs, fmt.Errorf("wireguard: node %s published no public key (is it in wireguard mode?)", p.Node))
			continue
		}
		key, err := wgtypes.ParseKey(p.PublicKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("wireguard: node %s's public key: %w", p.Node, err))
			continue
		}
		port := p.Port
		if port == 0 {
			port = DefaultWireGuardPort
		}
		keep := wgKeepalive
		want[key] = wgtypes.PeerConfig{
			PublicKey: key, ReplaceAllowedIPs: true, PersistentKeepaliveInterval: &keep,
			Endpoint:   net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Via.Unmap(), uint16(port))),
			AllowedIPs: []net.IPNet{{IP: s.Addr().AsSlice(), Mask: net.CIDRMask(s.Bits(), 32)}},
		}
	}
	cur, err := w.dev.client.Device(w.dev.ctl)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("wireguard: read %s: %w", w.dev.link, err))...)
	}
	var changes []wgtypes.PeerConfig
	have := map[wgtypes.Key]bool{}
	for _, p := range cur.Peers {
		have[p.PublicKey] = true
		pc, ok := want[p.PublicKey]
		switch {
		case !ok:
			changes = append(changes, wgtypes.PeerConfig{PublicKey: p.PublicKey, Remove: true})
		case !samePeer(p, pc):
			changes = append(changes, pc)
		}
	}
	for k, pc := range want {
		if !have[k] {
			changes = append(changes, pc)
			if w.Log != nil {
				w.Log.Info("wireguard peer", "endpoint", pc.Endpoint.String(), "allowed_ips", pc.AllowedIPs[0].String())
			}
		}
	}
	if len(changes) > 0 {
		if err := w.dev.client.ConfigureDevice(w.dev.ctl, wgtypes.Config{Peers: changes}); err != nil {
			errs = append(errs, fmt.Errorf("wireguard: set the peers of %s: %w", w.dev.link, err))
		}
	}
	return errors.Join(errs...)
}

// samePeer reports whether the device's peer already is what pc sets.
func samePeer(p wgtypes.Peer, pc wgtypes.PeerConfig) bool {
	if p.Endpoint == nil || !p.Endpoint.IP.Equal(pc.Endpoint.IP) || p.Endpoint.Port != pc.Endpoint.Port ||
		p.PersistentKeepaliveInterval != *pc.PersistentKeepaliveInterval || len(p.AllowedIPs) != len(pc.AllowedIPs) {
		return false
	}
	for i := range p.AllowedIPs {
		if p.AllowedIPs[i].String() != pc.AllowedIPs[i].String() {
			return false
		}
	}
	return true
}

// up makes the interface, once: the kernel's WireGuard, or wireguard-go's
// when the kernel has none; then the node's key and port, the gateway
// address and the route of the cluster CIDR into it.
func (w *WireGuard) up() error {
	if w.dev == nil {
		// A kernel interface a crashed run left (a TUN goes with its
		// process), and host-gw routes of a run in the other mode.
		if l, err := netlink.LinkByName(w.link()); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				return fmt.Errorf("wireguard: remove the %s an earlier run left: %w", w.link(), err)
			}
		}
		if have, err := ownRoutes(); err == nil {
			for dst := range have {
				_ = delRoute(dst)
			}
		}
		d, err := openDevice(w.link(), w.Log)
		if err != nil {
			return err
		}
		port := w.port()
		if err := d.client.ConfigureDevice(d.ctl, wgtypes.Config{PrivateKey: &w.Key, ListenPort: &port, ReplacePeers: true}); err != nil {
			d.close()
			return fmt.Errorf("wireguard: set the key and port %d of %s: %w", port, d.link, err)
		}
		w.dev = d
		if w.Log != nil {
			w.Log.Info("wireguard interface", "link", d.link, "port", port, "userspace", d.user != nil, "public_key", w.Key.PublicKey().String())
		}
	}
	l, err := netlink.LinkByName(w.dev.link)
	if err != nil {
		return fmt.Errorf("wireguard: %s: %w", w.dev.link, err)
	}
	gw := w.gateway()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(32, 32)}}
	if err := netlink.AddrReplace(l, addr); err != nil {
		return fmt.Errorf("wireguard: address %s on %s: %w", gw, w.dev.link, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("wireguard: set %s up: %w", w.dev.link, err)
	}
	c := w.CIDR.Masked()
	r := &netlink.Route{
		LinkIndex: l.Attrs().Index, Table: unix.RT_TABLE_MAIN, Protocol: routeProto, Scope: netlink.SCOPE_LINK,
		Dst: &net.IPNet{IP: c.Addr().AsSlice(), Mask: net.CIDRMask(c.Bits(), 32)},
		Src: gw.AsSlice(),
	}
	if err := netlink.RouteReplace(r); err != nil {
		return fmt.Errorf("wireguard: route %s dev %s: %w", c, w.dev.link, err)
	}
	return nil
}

// Remove takes the interface away (its address and route go with it) and
// the firewall rules.
func (w *WireGuard) Remove() error {
	w.rules.set = false
	var errs []error
	if w.dev != nil {
		errs = append(errs, w.dev.close())
		w.dev = nil
	}
	errs = append(errs, RemoveWireGuard(w.link()))
	return errors.Join(errs...)
}

// RemoveWireGuard removes what any WireGuard made in the current network
// namespace: a kernel interface named link (wireguard-go's goes with its
// process) and the firewall rules.
func RemoveWireGuard(link string) error {
	var errs []error
	if l, err := netlink.LinkByName(link); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("wireguard: remove %s: %w", link, err))
		}
	}
	errs = append(errs, dropRules(ModeWireGuard))
	return errors.Join(errs...)
}

// openDevice makes the interface named link and a wgctrl client for it.
func openDevice(link string, log *slog.Logger) (*wgDevice, error) {
	client, err := wgctrl.New()
	if err != nil {
		return nil, fmt.Errorf("wireguard: wgctrl: %w", err)
	}
	la := netlink.NewLinkAttrs()
	la.Name, la.MTU = link, wgMTU
	kerr := netlink.LinkAdd(&netlink.Wireguard{LinkAttrs: la})
	if kerr == nil {
		return &wgDevice{link: link, ctl: link, client: client}, nil
	}
	d, err := openUserspace(link, log)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("%w (the kernel's WireGuard: %w)", err, kerr)
	}
	d.client = client
	return d, nil
}

// openUserspace runs wireguard-go on a new TUN device named link, with
// its UAPI socket (what wgctrl talks to) in /var/run/wireguard.
func openUserspace(link string, log *slog.Logger) (*wgDevice, error) {
	t, err := tun.CreateTUN(link, wgMTU)
	if err != nil {
		return nil, fmt.Errorf("wireguard: TUN device %s: %w", link, err)
	}
	logger := &device.Logger{Verbosef: device.DiscardLogf, Errorf: device.DiscardLogf}
	if log != nil {
		logger.Errorf = func(format string, args ...any) { log.Warn("wireguard-go: " + fmt.Sprintf(format, args...)) }
	}
	dev := device.NewDevice(t, conn.NewDefaultBind(), logger)
	d := &wgDevice{link: link, ctl: uapiName(link), user: dev, done: make(chan struct{})}
	d.raiseMemoryLimit()
	f, err := ipc.UAPIOpen(d.ctl)
	if err != nil {
		dev.Close()
		d.restoreMemoryLimit()
		return nil, fmt.Errorf("wireguard: UAPI socket %s: %w", d.ctl, err)
	}
	d.uapi, err = ipc.UAPIListen(d.ctl, f)
	f.Close()
	if err != nil {
		dev.Close()
		d.restoreMemoryLimit()
		_ = os.Remove(uapiPath(d.ctl))
		return nil, fmt.Errorf("wireguard: UAPI socket %s: %w", d.ctl, err)
	}
	go func() {
		defer close(d.done)
		for {
			c, err := d.uapi.Accept()
			if err != nil {
				return
			}
			go dev.IpcHandle(c)
		}
	}()
	return d, nil
}

// close stops the device: wireguard-go's takes its TUN interface with it.
func (d *wgDevice) close() error {
	var errs []error
	if d.user != nil {
		// The listener unlinks its socket when closed.
		errs = append(errs, d.uapi.Close())
		<-d.done
		d.user.Close()
		d.restoreMemoryLimit()
	} else if l, err := netlink.LinkByName(d.link); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("wireguard: remove %s: %w", d.link, err))
		}
	}
	if d.client != nil {
		errs = append(errs, d.client.Close())
	}
	return errors.Join(errs...)
}

// raiseMemoryLimit adds wgHeadroom to a soft memory limit that is set (no
// limit, math.MaxInt64, stays none).
func (d *wgDevice) raiseMemoryLimit() {
	if cur := debug.SetMemoryLimit(-1); cur < math.MaxInt64-wgHeadroom {
		debug.SetMemoryLimit(cur + wgHeadroom)
		d.headroom = wgHeadroom
	}
}

// restoreMemoryLimit takes back what raiseMemoryLimit added.
func (d *wgDevice) restoreMemoryLimit() {
	if cur := debug.SetMemoryLimit(-1); d.headroom > 0 && cur > d.headroom {
		debug.SetMemoryLimit(cur - d.headroom)
	}
	d.headroom = 0
}

// uapiName is the UAPI socket's name for link. The socket folder is one
// for all network namespaces sharing the file system (nodes of a test on
// one machine): outside the host's namespace the name carries the
// namespace's inode, so each node's interface has its own.
func uapiName(link string) string {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return link
	}
	// Where PID 1's namespace cannot be read (a sandbox), it may not be
	// this one.
	if init, err := os.Readlink("/proc/1/ns/net"); err == nil && self == init {
		return link
	}
	return link + "-" + strings.Trim(strings.TrimPrefix(self, "net:"), "[]")
}

// uapiPath is where wireguard-go puts the UAPI socket named name.
func uapiPath(name string) string { return "/var/run/wireguard/" + name + ".sock" }

// LoadOrCreateWireGuardKey reads the node's WireGuard private key from path
// (base64, as `wg genkey` writes it), making it on the first call (mode
// 0600): a node keeps its key across restarts, so its peers' config of it
// stays valid.
func LoadOrCreateWireGuardKey(path string) (wgtypes.Key, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := wgtypes.ParseKey(strings.TrimSpace(string(b)))
		if err != nil {
			return wgtypes.Key{}, fmt.Errorf("wireguard key %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return wgtypes.Key{}, fmt.Errorf("wireguard key: %w", err)
	}
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("wireguard key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return wgtypes.Key{}, fmt.Errorf("wireguard key: %w", err)
	}
	// O_EXCL: two starts racing keep one key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateWireGuardKey(path)
		}
		return wgtypes.Key{}, fmt.Errorf("wireguard key: %w", err)
	}
	_, werr := f.WriteString(k.String() + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return wgtypes.Key{}, fmt.Errorf("wireguard key %s: %w", path, werr)
	}
	return k, nil
}
